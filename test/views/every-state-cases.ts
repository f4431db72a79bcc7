import type { ModalView } from "@slack/types";
import type { KeyringStatus } from "../../src/engine/engine.js";
import {
  cancelWorkflowModal,
  declareIncidentModal,
  rejectApprovalModal,
  skipStepModal,
} from "../../src/views/modals.js";
import type { StatusData } from "../../src/views/status.js";
import { WORKFLOW_DEFINITIONS } from "../../src/workflows/definitions/index.js";
import type {
  PageSnapshot,
  PlatformCount,
  StepSnapshot,
  StepStatus,
  WorkflowInputs,
  WorkflowSnapshot,
} from "../../src/workflows/types.js";
import { ALL_ENVIRONMENTS, figures, keyring, long, NOW, snapshot, WORKFLOW_ID } from "./fixtures.js";

/**
 * Every workflow definition in every state its steps can reach, with ordinary and with hostile
 * data; every modal; status and App Home data from empty to huge. The views' limit tests and the
 * sandbox's renderer test both go through all of them.
 */

export const LONG_USER = `U${long(40, "A")}`;
const STATUSES: StepStatus[] = ["PENDING", "AWAITING_APPROVAL", "RUNNING", "DONE", "SKIPPED", "FAILED"];

export interface Flavour {
  name: string;
  inputs: WorkflowInputs;
  title?: string;
  number: number;
  people: string;
  text: (n: number) => string;
}

export const FLAVOURS: Flavour[] = [
  {
    name: "ordinary",
    inputs: {
      environments: ["production"],
      severity: "critical",
      summary: "The production key was pasted in a CI log",
      foundBy: "secret scanner",
      subjectUserId: "U0LEAVER",
      lastDay: "2026-12-31",
      timeZone: "Europe/Berlin",
    },
    number: 12,
    people: "U0ALICE",
    text: () => "a short reason",
  },
  {
    name: "hostile",
    inputs: {
      environments: ALL_ENVIRONMENTS,
      severity: "critical",
      summary: long(3000, "<&>"),
      foundBy: long(3000, "&"),
      subjectUserId: LONG_USER,
      lastDay: "2026-12-31",
      timeZone: "Pacific/Chatham",
    },
    title: long(255, "T"),
    number: 987_654_321,
    people: LONG_USER,
    text: (n) => `<!here> <@${LONG_USER}> ${long(n, "&")}`.slice(0, n),
  },
];

export const PLATFORM_SETS: PlatformCount[][] = [
  [],
  [
    { platform: "SHOPIFY", count: 200 },
    { platform: "AMAZON", count: 100 },
  ],
  Array.from({ length: 40 }, (_, i) => ({
    platform: `PLATFORM_${i}_${long(40, "P")}`,
    count: 1_000_000 + i,
  })),
];

const PAGES: PageSnapshot[] = [
  { status: "off", onCall: [] },
  { status: "paging", onCall: [], error: long(3000, "e") },
  { status: "triggered", onCall: Array.from({ length: 5 }, (_, i) => `${LONG_USER}${i}`) },
  { status: "acknowledged", onCall: [LONG_USER], by: long(300, "N"), at: NOW },
  { status: "resolved", onCall: [], by: LONG_USER },
  { status: "failed", onCall: [], error: long(3000, "e") },
];

/** The step as it would be in `status`, with everything that status carries. */
export function put(w: WorkflowSnapshot, s: StepSnapshot, status: StepStatus, f: Flavour): void {
  s.status = status;
  if (status === "DONE" || status === "SKIPPED") {
    s.finishedBy = s.action ? "keyops" : f.people;
    s.finishedAt = NOW;
  }
  if (status === "SKIPPED") s.skipReason = f.text(500);
  if (status === "DONE" && s.requiresApproval) s.approval = { decision: "APPROVED", by: f.people, at: NOW };
  if (status === "DONE" && s.action) {
    s.result = {
      lines: Array.from({ length: 5 }, () => f.text(600)),
      ...(s.action === "rotate"
        ? { rotations: w.inputs.environments.map((e) => figures(e, { rows: 1e9, reencrypted: 1e9 })) }
        : {}),
      ...(s.action === "generate-key"
        ? {
            generated: w.inputs.environments.map((e) => ({
              environment: e,
              version: 99,
              fingerprint: "1a2b3c4d",
            })),
          }
        : {}),
    };
  }
  if (status === "FAILED") {
    s.error = f.text(3000);
    s.result = { lines: [f.text(1000)], failedRows: 123_456_789 };
    if (s.requiresApproval) s.approval = { decision: "REJECTED", by: f.people, at: NOW, reason: f.text(500) };
  }
  if (status === "RUNNING" && s.action === "rotate") {
    w.rotation = {
      environment: "production",
      phase: "reencrypt",
      done: 500_000_000,
      total: 1_000_000_000,
      rowsPerSecond: 55_000,
      etaSeconds: 9_090,
      updatedAt: NOW,
    };
  }
}

export function base(kind: string, f: Flavour, platformCounts: PlatformCount[]): WorkflowSnapshot {
  const w = snapshot(kind, {
    inputs: f.inputs,
    platformCounts,
    number: f.number,
    requestedBy: f.people,
    ...(f.title ? { title: f.title } : {}),
  });
  w.page = { status: "triggered", onCall: [f.people] };
  if (f.name === "hostile") {
    for (const s of w.steps) s.title = `${s.title} ${long(Math.max(0, 254 - s.title.length), "<")}`;
  }
  return w;
}

export function everyState(): { name: string; w: WorkflowSnapshot }[] {
  const states: { name: string; w: WorkflowSnapshot }[] = [];
  const add = (name: string, w: WorkflowSnapshot) => states.push({ name, w });
  for (const definition of WORKFLOW_DEFINITIONS) {
    const platformSets = definition.kind === "key-compromised" ? PLATFORM_SETS : [[]];
    for (const f of FLAVOURS) {
      for (const platforms of platformSets) {
        const label = `${definition.kind} ${f.name} ${platforms.length} platforms`;
        const fresh = base(definition.kind, f, platforms);
        add(`${label} fresh`, fresh);
        // Along the path: the steps before done (every third skipped where it may be), this one in each status.
        fresh.steps.forEach((_, index) => {
          for (const status of STATUSES) {
            const w = structuredClone(fresh);
            w.steps.slice(0, index).forEach((s, i) => {
              put(w, s, i % 3 === 2 && s.skippable !== false ? "SKIPPED" : "DONE", f);
            });
            const current = w.steps[index];
            if (current) put(w, current, status, f);
            add(`${label} step ${index} ${status}`, w);
          }
        });
        for (const status of STATUSES) {
          const all = structuredClone(fresh);
          for (const s of all.steps) put(all, s, status, f);
          add(`${label} all ${status}`, all);
          add(`${label} all ${status} resolved`, {
            ...all,
            status: "RESOLVED",
            closedAt: NOW,
            closedBy: "keyops",
          });
          add(`${label} all ${status} cancelled`, {
            ...all,
            status: "CANCELLED",
            closedAt: new Date(NOW.getTime() + 86_400_000 * 40),
            closedBy: f.people,
            closeReason: f.text(500),
          });
        }
        const assigned = structuredClone(fresh);
        for (const s of assigned.steps) s.assignee = f.people;
        add(`${label} every step assigned`, assigned);
        for (const page of PAGES) {
          add(`${label} page ${page.status}, overdue`, {
            ...fresh,
            page,
            deadlineAt: new Date(NOW.getTime() - 1),
          });
        }
      }
    }
  }
  return states;
}

/** Every modal the bot opens, for ordinary and hostile titles and refs. */
export function everyModal(): ModalView[] {
  const ref = { workflowId: WORKFLOW_ID, stepKey: `revoke-tokens.${long(60, "k")}` };
  return [
    skipStepModal(ref, long(3000, "<"), `C${long(20, "0")}`),
    rejectApprovalModal(ref, long(3000, "&"), "C0SECURITY"),
    cancelWorkflowModal(WORKFLOW_ID, long(3000, "T"), "C0SECURITY"),
    ...ALL_ENVIRONMENTS.map((e) => declareIncidentModal({ defaultEnvironment: e, channelId: "C0SECURITY" })),
    declareIncidentModal({
      defaultEnvironment: "staging",
      environment: "production",
      summary: long(5000),
      channelId: "C0SECURITY",
    }),
  ];
}

/** Status and App Home data: 200 open workflows and 3 keyrings of 50 versions, and nothing at all. */
export function everyStatusData(): StatusData[] {
  const hostile = FLAVOURS[1] as Flavour;
  const workflows = Array.from({ length: 200 }, (_, i) => {
    const w = base("key-compromised", hostile, PLATFORM_SETS[2] ?? []);
    return { ...w, number: i + 1, deadlineAt: new Date(NOW.getTime() - 1) };
  });
  const keyrings: KeyringStatus[] = ALL_ENVIRONMENTS.map((environment) => ({
    ...keyring(environment, 50, 1_000_000_000),
    rowsUnderUnknownVersions: 3,
    runningRun: { id: 7, rowsDone: 10, rowsTotal: 20, startedAt: NOW },
  }));
  const schedules = ALL_ENVIRONMENTS.map((environment) => ({
    environment,
    lastRotatedAt: NOW,
    nextDueAt: NOW,
  }));
  return [
    { workflows, keyrings, schedules },
    { workflows: [], keyrings: [] },
  ];
}
