import type { ModalView } from "@slack/types";
import type { ClientInstanceInfo } from "../../src/engine/client-registry.js";
import type { KeyringStatus } from "../../src/engine/engine.js";
import { renderAccessList } from "../../src/views/access.js";
import { renderApprovalRequest } from "../../src/views/approval-request.js";
import { renderHelp } from "../../src/views/help.js";
import {
  cancelWorkflowModal,
  declareIncidentModal,
  rejectApprovalModal,
  skipStepModal,
} from "../../src/views/modals.js";
import { noticeModal } from "../../src/views/notice.js";
import { renderPostmortem } from "../../src/views/postmortem.js";
import { renderRecentAccess } from "../../src/views/recent-access.js";
import { renderHome, renderStatus, type ScheduledView, type StatusData } from "../../src/views/status.js";
import { renderPlainLine, renderThreadLine } from "../../src/views/thread-line.js";
import { renderWorkflowMessage } from "../../src/views/workflow-message.js";
import { DRILL_MARK } from "../../src/workflows/begin.js";
import { WORKFLOW_DEFINITIONS } from "../../src/workflows/definitions/index.js";
import { offerToStart } from "../../src/workflows/step-actions.js";
import type {
  AuditAction,
  PageSnapshot,
  PlatformCount,
  StepSnapshot,
  StepStatus,
  TimelineEvent,
  WorkflowInputs,
  WorkflowOffer,
  WorkflowSnapshot,
} from "../../src/workflows/types.js";
import {
  ALL_ENVIRONMENTS,
  definition,
  figures,
  keyring,
  long,
  NOW,
  snapshot,
  WORKFLOW_ID,
} from "./fixtures.js";

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

/** A rehearsal (`/key-compromised drill …`) of the ordinary case, for the definitions that allow one. */
export const DRILL_FLAVOUR: Flavour = {
  ...(FLAVOURS[0] as Flavour),
  name: "drill",
  inputs: { ...(FLAVOURS[0] as Flavour).inputs, drill: true },
};

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
      ...(s.startsWorkflow ? { offers: offersOf(w, s.startsWorkflow) } : {}),
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

/**
 * What a step with `startsWorkflow` offers when it is done, as the schedule review builds it
 * (step-actions.ts reviewRotationSchedule): every environment of the workflow due, one button each.
 */
function offersOf(w: WorkflowSnapshot, kind: string): WorkflowOffer[] {
  const starts = definition(kind);
  return w.inputs.environments.map((environment) => offerToStart(w, starts, environment));
}

export function base(kind: string, f: Flavour, platformCounts: PlatformCount[]): WorkflowSnapshot {
  const w = snapshot(kind, {
    inputs: f.inputs,
    platformCounts,
    number: f.number,
    requestedBy: f.people,
    ...(f.title ? { title: f.title } : {}),
    // As beginWorkflow titles a drill.
    ...(f.inputs.drill ? { title: `${DRILL_MARK} ${definition(kind).title(f.inputs)}` } : {}),
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
    for (const f of definition.allowsDrill ? [...FLAVOURS, DRILL_FLAVOUR] : FLAVOURS) {
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

/** Every modal the bot opens, for ordinary and hostile titles and refs, with the builder of each. */
function modalCases(): { builder: Builder; view: ModalView }[] {
  const ref = { workflowId: WORKFLOW_ID, stepKey: `revoke-tokens.${long(60, "k")}` };
  const by = (builder: Builder, view: ModalView) => ({ builder, view });
  return [
    by(skipStepModal, skipStepModal(ref, long(3000, "<"), `C${long(20, "0")}`)),
    by(rejectApprovalModal, rejectApprovalModal(ref, long(3000, "&"), "C0SECURITY")),
    by(cancelWorkflowModal, cancelWorkflowModal(WORKFLOW_ID, long(3000, "T"), "C0SECURITY")),
    ...ALL_ENVIRONMENTS.map((e) =>
      by(declareIncidentModal, declareIncidentModal({ defaultEnvironment: e, channelId: "C0SECURITY" })),
    ),
    by(
      declareIncidentModal,
      declareIncidentModal({
        defaultEnvironment: "staging",
        environment: "production",
        summary: long(5000),
        channelId: "C0SECURITY",
      }),
    ),
    // A refused form's notice (request-guard.ts), short and past its limit.
    by(noticeModal, noticeModal("Only a configured approver can do that.")),
    by(noticeModal, noticeModal(`<!here> ${long(5000, "&")}`)),
  ];
}

/** Every modal the bot opens, for ordinary and hostile titles and refs. */
export function everyModal(): ModalView[] {
  return modalCases().map((c) => c.view);
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
  // 40 instances an environment (more than either surface lists): live, silent and stopped, ones
  // holding no key and writing nothing, ones reporting failures and problems, with hostile names.
  const clients: ClientInstanceInfo[] = ALL_ENVIRONMENTS.flatMap((environment) =>
    Array.from({ length: 40 }, (_, i) => ({
      instanceId: `${environment}-${i}-${long(200, "<")}`,
      environment,
      service: long(200, "&"),
      source: i % 2 === 0 ? ("env" as const) : ("keyring" as const),
      hostname: long(200, "h"),
      versions:
        i % 5 === 0 ? [] : Array.from({ length: 50 }, (_, v) => ({ version: v + 1, fingerprint: `fp${v}` })),
      encryptsVersion: i % 5 === 0 ? null : 50,
      problems: i % 3 === 0 ? [long(3000, "<&>"), "another"] : [],
      startedAt: NOW,
      lastSeenAt: new Date(NOW.getTime() - i * 3_600_000),
      stoppedAt: i % 7 === 6 ? NOW : null,
      live: i % 4 !== 3 && i % 7 !== 6,
      failuresLastHour: i % 3 === 0 ? 1_000_000_000 : 0,
    })),
  );
  const full = { workflows, keyrings, schedules, clients };
  return [
    // Each latest run a scheduled workflow can have: none yet, open and overdue, resolved, cancelled.
    ...everyScheduled().map((scheduled) => ({ ...full, scheduled })),
    { workflows: [], keyrings: [] },
    { workflows: [], keyrings: [], clients: [], scheduled: [] },
  ];
}

/** The "Quarterly maintenance" lines: every scheduled definition, as status-data.ts builds them. */
function everyScheduled(): ScheduledView[][] {
  const hostile = FLAVOURS[1] as Flavour;
  const latest = (kind: string): (WorkflowSnapshot | undefined)[] => {
    const open = base(kind, hostile, []);
    return [
      undefined,
      { ...open, deadlineAt: new Date(NOW.getTime() - 1) },
      { ...open, status: "RESOLVED", closedAt: NOW, closedBy: "keyops" },
      { ...open, status: "CANCELLED", closedAt: NOW, closedBy: LONG_USER, closeReason: long(500) },
    ];
  };
  const scheduledKinds = WORKFLOW_DEFINITIONS.filter((d) => d.schedule);
  return [0, 1, 2, 3].map((variant) =>
    scheduledKinds.map((d) => {
      const w = latest(d.kind)[variant];
      return {
        name: d.name,
        command: d.command,
        ...(w ? { latest: w } : {}),
        ...(d.schedule?.quarterly ? { nextStartAt: NOW } : {}),
      };
    }),
  );
}

/** Every action the audit log records (the thread has a line for each). */
export const AUDIT_ACTIONS = Object.keys({
  "workflow.started": true,
  "workflow.resolved": true,
  "workflow.cancelled": true,
  "step.done": true,
  "step.skipped": true,
  "step.assigned": true,
  "step.started": true,
  "step.succeeded": true,
  "step.failed": true,
  "step.retried": true,
  "step.taken-over": true,
  "approval.requested": true,
  "approval.approved": true,
  "approval.rejected": true,
  "permission.refused": true,
  "page.triggered": true,
  "page.failed": true,
  "page.acknowledged": true,
  "page.escalated": true,
  "page.reassigned": true,
  "page.resolved": true,
  "page.unacknowledged": true,
  "deadline.reminder": true,
  "deadline.missed": true,
  "schedule.due": true,
  "access.granted": true,
  "access.revoked": true,
  "key.exported": true,
  "key.imported": true,
  "key.destroyed": true,
} satisfies Record<AuditAction, true>) as AuditAction[];

/** One event of every action, by a person, by KeyOps and by PagerDuty, with hostile details; and as a drill's. */
export function everyEvent(): TimelineEvent[] {
  return AUDIT_ACTIONS.flatMap((action) =>
    [LONG_USER, "keyops", "pagerduty"].flatMap((actor) =>
      [false, true].map((drill) => ({
        sequence: 1,
        at: NOW,
        actor,
        action,
        stepKey: "s",
        detail: {
          assignee: LONG_USER,
          user: LONG_USER,
          environment: "production",
          environments: "development,staging,production",
          attempted: "approve",
          reason: long(5000, "<"),
          error: long(5000, "&"),
          summary: long(5000),
          due: NOW.toISOString(),
          by: long(500, "B"),
          from: long(5000, "f"),
          silentSeconds: 12,
          to: long(5000, "t"),
          onCall: Array.from({ length: 50 }, () => LONG_USER).join(" "),
          ...(drill ? { drill: true } : {}),
        },
      })),
    ),
  );
}

// biome-ignore lint/suspicious/noExplicitAny: any builder, whatever it takes
export type Builder = (...args: any[]) => unknown;

/**
 * Everything the bot sends, each with the src/views builder that made it: a message (text and
 * blocks: chat.postMessage, chat.update, ephemerals), a modal, the App Home, a text-only message
 * (thread lines, the approval request, /keyops access, the audit's rows) or a file's content
 * (the post-mortem and its plain lines).
 */
export interface Surface {
  name: string;
  builder: Builder;
  kind: "message" | "modal" | "home" | "file";
  view: unknown;
}

export function everySurface(): Surface[] {
  const surfaces: Surface[] = [];
  const add = (name: string, builder: Builder, kind: Surface["kind"], view: unknown) =>
    surfaces.push({ name, builder, kind, view });
  const states = everyState();
  for (const { name, w } of states)
    add(name, renderWorkflowMessage, "message", renderWorkflowMessage(w, NOW));
  for (const { builder, view } of modalCases())
    add(view.callback_id ?? view.title.text, builder, "modal", view);
  everyStatusData().forEach((data, i) => {
    add(`status ${i}`, renderStatus, "message", { blocks: renderStatus(data, NOW) });
    add(`home ${i}`, renderHome, "home", renderHome(data, NOW));
  });
  add("help", renderHelp, "message", { blocks: renderHelp() });
  const events = everyEvent();
  for (const e of events) {
    const name = `${e.action} by ${e.actor.slice(0, 10)}${e.detail.drill ? " (drill)" : ""}`;
    add(name, renderThreadLine, "message", { text: renderThreadLine(e, long(255)) });
    add(name, renderPlainLine, "file", renderPlainLine(e, long(255)));
  }
  const approvers = [
    { users: [], groups: [] },
    { users: ["U0APPROVER"], groups: ["S0SECURITY"] },
    {
      users: Array.from({ length: 50 }, () => LONG_USER),
      groups: Array.from({ length: 50 }, () => LONG_USER),
    },
  ];
  for (const { name, w } of states.filter((s) => s.name.endsWith(" fresh")))
    for (const a of approvers)
      add(name, renderApprovalRequest, "message", { text: renderApprovalRequest(w, a) });
  const grant = (i: number) => ({
    slackUserId: i === 0 ? "U0ALICE" : LONG_USER,
    environment: ALL_ENVIRONMENTS[i % ALL_ENVIRONMENTS.length] ?? "production",
    grantedBy: LONG_USER,
    grantedAt: NOW,
  });
  for (const count of [0, 1, 500])
    add(`${count} grants`, renderAccessList, "message", {
      text: renderAccessList(Array.from({ length: count }, (_, i) => grant(i))),
    });
  const row = (i: number) => ({
    id: `${i}${long(60, "<")}`,
    platform: "SHOPIFY",
    displayName: long(200, "&"),
    updatedAt: NOW,
  });
  for (const count of [0, 30])
    add(`${count} accessed rows`, renderRecentAccess, "message", {
      text: renderRecentAccess(
        long(1000, "<"),
        Array.from({ length: count }, (_, i) => row(i)),
      ),
    });
  // The post-mortem of every closed state (a drill's says how long each response took).
  const closed = states.filter((s) => s.w.status !== "OPEN" && !s.name.includes("40 platforms"));
  for (const { name, w } of closed)
    add(name, renderPostmortem, "file", renderPostmortem(w, events, { s: long(255) }));
  return surfaces;
}
