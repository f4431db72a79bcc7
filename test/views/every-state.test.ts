import { describe, expect, it } from "vitest";
import type { KeyringStatus } from "../../src/engine/engine.js";
import { ENVIRONMENTS } from "../../src/environments.js";
import { renderHelp } from "../../src/views/help.js";
import { blockKitProblems } from "../../src/views/limits.js";
import {
  cancelWorkflowModal,
  declareIncidentModal,
  rejectApprovalModal,
  skipStepModal,
} from "../../src/views/modals.js";
import { renderHome, renderStatus } from "../../src/views/status.js";
import { renderThreadLine } from "../../src/views/thread-line.js";
import { renderWorkflowMessage } from "../../src/views/workflow-message.js";
import { beginWorkflow } from "../../src/workflows/begin.js";
import { WORKFLOW_DEFINITIONS } from "../../src/workflows/definitions/index.js";
import type { AuditAction, PageSnapshot, StepStatus, WorkflowSnapshot } from "../../src/workflows/types.js";

const NOW = new Date("2026-11-28T12:00:00Z");
const LONG = (n: number, char = "x") => char.repeat(n);
const USER = `U${LONG(20, "A")}`;
const WORKFLOW_ID = "3f0b6a0e-8a7e-4bde-9d55-7c0e3a1f9a11";
const PLATFORMS = Array.from({ length: 40 }, (_, i) => ({
  platform: `PLATFORM_${i}_${LONG(40, "P")}`,
  count: 1_000_000 + i,
}));
const STEP_STATUSES: StepStatus[] = ["PENDING", "AWAITING_APPROVAL", "RUNNING", "DONE", "SKIPPED", "FAILED"];
const PAGES: PageSnapshot[] = [
  { status: "off", onCall: [] },
  { status: "paging", onCall: [] },
  { status: "triggered", onCall: Array.from({ length: 5 }, (_, i) => `${USER}${i}`) },
  { status: "acknowledged", onCall: [USER], by: LONG(300, "N"), at: NOW },
  { status: "resolved", onCall: [] },
  { status: "failed", onCall: [], error: LONG(2000, "e") },
];

function fresh(kind: string, platforms = PLATFORMS): WorkflowSnapshot {
  const definition = WORKFLOW_DEFINITIONS.find((d) => d.kind === kind);
  if (!definition) throw new Error(kind);
  const { workflow } = beginWorkflow(
    definition,
    {
      id: WORKFLOW_ID,
      inputs: {
        environments: [...ENVIRONMENTS],
        severity: "critical",
        summary: LONG(3000, "<&>"),
        foundBy: LONG(2000),
        subjectUserId: USER,
        lastDay: "2026-12-31",
        timeZone: "Pacific/Chatham",
      },
      platformCounts: platforms,
      requestedBy: USER,
      channelId: "C0SECURITY",
      page: { status: "off", onCall: [] },
    },
    NOW,
  );
  return { ...workflow, number: 987_654, title: LONG(255, "T") };
}

function withStep(w: WorkflowSnapshot, index: number, status: StepStatus): WorkflowSnapshot {
  const copy = structuredClone(w);
  const step = copy.steps[index];
  if (!step) return copy;
  step.status = status;
  step.assignee = USER;
  if (status === "DONE" || status === "SKIPPED") {
    step.finishedBy = USER;
    step.finishedAt = NOW;
  }
  if (status === "SKIPPED") step.skipReason = LONG(500, "r");
  if (status === "FAILED") {
    step.error = LONG(3000, "f");
    step.result = { lines: [LONG(1000)], failedRows: 123_456_789 };
    if (step.requiresApproval) step.approval = { decision: "REJECTED", by: USER, at: NOW, reason: LONG(500) };
  }
  if (status === "DONE" && step.requiresApproval) step.approval = { decision: "APPROVED", by: USER, at: NOW };
  if (status === "DONE") {
    step.result = {
      lines: Array.from({ length: 5 }, () => LONG(600)),
      rotations: ENVIRONMENTS.map((environment) => ({
        environment,
        runId: 1,
        toVersion: 99,
        toFingerprint: "1a2b3c4d",
        rows: 10_000_000,
        reencrypted: 10_000_000,
        failed: 0,
        rowsPerSecond: 55_000,
        durationMs: 3_600_000,
        digestUnchanged: true,
        digestAfter: LONG(64, "d"),
      })),
    };
  }
  if (status === "RUNNING") {
    copy.rotation = {
      environment: "production",
      phase: "reencrypt",
      done: 5_000_000,
      total: 10_000_000,
      rowsPerSecond: 55_000,
      etaSeconds: 90,
      updatedAt: NOW,
    };
  }
  return copy;
}

/** Every workflow in every state its steps can be in, one step at a time and all at once. */
function everyState(): { name: string; w: WorkflowSnapshot }[] {
  const states: { name: string; w: WorkflowSnapshot }[] = [];
  for (const definition of WORKFLOW_DEFINITIONS) {
    for (const platforms of [[], PLATFORMS.slice(0, 2), PLATFORMS]) {
      const base = fresh(definition.kind, platforms);
      states.push({ name: `${definition.kind} fresh (${platforms.length} platforms)`, w: base });
      base.steps.forEach((_, index) => {
        for (const status of STEP_STATUSES) {
          states.push({
            name: `${definition.kind} step ${index} ${status}`,
            w: withStep(base, index, status),
          });
        }
      });
      for (const status of STEP_STATUSES) {
        let all = base;
        base.steps.forEach((_, index) => {
          all = withStep(all, index, status);
        });
        states.push({ name: `${definition.kind} all ${status}`, w: all });
        states.push({
          name: `${definition.kind} all ${status}, resolved`,
          w: { ...all, status: "RESOLVED", closedAt: NOW, closedBy: "keyops" },
        });
        states.push({
          name: `${definition.kind} all ${status}, cancelled`,
          w: { ...all, status: "CANCELLED", closedAt: NOW, closedBy: USER, closeReason: LONG(500, "c") },
        });
      }
      for (const page of PAGES) {
        states.push({
          name: `${definition.kind} page ${page.status}`,
          w: { ...base, page, deadlineAt: new Date(NOW.getTime() - 1) },
        });
      }
    }
  }
  return states;
}

describe("Block Kit limits hold for everything the bot can post", () => {
  const states = everyState();

  it(`every workflow message (${states.length} states)`, () => {
    for (const { name, w } of states) {
      const message = renderWorkflowMessage(w, NOW);
      expect(blockKitProblems(message, "message"), name).toEqual([]);
    }
  });

  it("no step is ever dropped from the message, even when buttons must be withheld", () => {
    for (const { name, w } of states) {
      const text = JSON.stringify(renderWorkflowMessage(w, NOW).blocks);
      for (const step of w.steps) expect(text, `${name}: ${step.key}`).toContain(step.title.slice(0, 40));
    }
  });

  it("an open step whose turn has come keeps its buttons while the message has room", () => {
    const w = fresh("key-rotate", []);
    const blocks = renderWorkflowMessage(w, NOW).blocks as { block_id?: string }[];
    const withButtons = blocks
      .filter((b) => b.block_id?.startsWith("step|"))
      .map((b) => b.block_id?.split("|")[2]);
    expect(withButtons).toEqual(["backup-database", "generate-key", "store-backup"]);
  });

  it("every thread line", () => {
    const actions: AuditAction[] = [
      "workflow.started",
      "workflow.resolved",
      "workflow.cancelled",
      "step.done",
      "step.skipped",
      "step.assigned",
      "step.started",
      "step.succeeded",
      "step.failed",
      "step.retried",
      "approval.requested",
      "approval.approved",
      "approval.rejected",
      "permission.refused",
      "page.triggered",
      "page.failed",
      "page.acknowledged",
      "page.escalated",
      "page.reassigned",
      "page.resolved",
      "deadline.reminder",
      "access.granted",
      "access.revoked",
    ];
    for (const action of actions) {
      const line = renderThreadLine(
        {
          sequence: 1,
          at: NOW,
          actor: USER,
          action,
          stepKey: "s",
          detail: {
            assignee: USER,
            user: USER,
            environment: "production",
            attempted: "approve",
            reason: LONG(5000),
            error: LONG(5000),
            summary: LONG(5000),
            due: NOW.toISOString(),
          },
        },
        LONG(255),
      );
      expect(line.length, action).toBeLessThanOrEqual(3000);
      expect(line, action).not.toContain("undefined");
    }
  });

  it("every modal", () => {
    const ref = { workflowId: WORKFLOW_ID, stepKey: `revoke-tokens.${LONG(60, "k")}` };
    const modals = [
      skipStepModal(ref, LONG(255), "C0SECURITY"),
      rejectApprovalModal(ref, LONG(255), "C0SECURITY"),
      cancelWorkflowModal(WORKFLOW_ID, LONG(255), "C0SECURITY"),
      ...ENVIRONMENTS.map((e) => declareIncidentModal({ defaultEnvironment: e, channelId: "C0SECURITY" })),
    ];
    for (const modal of modals) expect(blockKitProblems(modal, "modal"), modal.callback_id).toEqual([]);
  });

  it("help, status and the App Home with 200 open workflows and 50 versions per environment", () => {
    const workflows = Array.from({ length: 200 }, () => fresh("key-compromised"));
    const keyrings: KeyringStatus[] = ENVIRONMENTS.map((environment) => ({
      environment,
      target: "PlatformIntegration.credentials",
      activeVersion: 50,
      versions: Array.from({ length: 50 }, (_, i) => ({
        version: i + 1,
        state: i === 49 ? "ACTIVE" : "DECRYPT_ONLY",
        fingerprint: "1a2b3c4d",
        legacy: i === 0,
        createdAt: NOW,
        activatedAt: NOW,
        deactivatedAt: null,
        retiredAt: null,
        compromisedAt: null,
        environment,
        rows: 1_000_000,
      })),
      rowsUnderUnknownVersions: 3,
      runningRun: { id: 7, rowsDone: 10, rowsTotal: 20, startedAt: NOW },
    }));
    const data = {
      workflows,
      keyrings,
      schedules: [{ environment: "production", lastRotatedAt: NOW, nextDueAt: NOW }],
    };
    expect(blockKitProblems({ blocks: renderHelp() }, "message")).toEqual([]);
    expect(blockKitProblems({ blocks: renderStatus(data, NOW) }, "message")).toEqual([]);
    expect(blockKitProblems(renderHome(data, NOW), "home")).toEqual([]);
  });

  it("the checker itself catches each kind of violation", () => {
    const problems = blockKitProblems(
      {
        text: "x",
        blocks: [
          ...Array.from({ length: 50 }, () => ({ type: "divider" })),
          { type: "header", text: { type: "plain_text", text: LONG(151) } },
          { type: "section", block_id: "a", text: { type: "mrkdwn", text: LONG(3001) } },
          {
            type: "actions",
            block_id: "a",
            elements: [
              {
                type: "button",
                action_id: LONG(256),
                text: { type: "plain_text", text: LONG(76) },
                value: "v",
              },
            ],
          },
        ],
      },
      "message",
    );
    expect(problems).toEqual([
      "53 blocks (max 50)",
      "block 50 (header) text: 151 chars (max 150)",
      "block 51 (section) text: 3001 chars (max 3000)",
      "block 52 (actions): duplicate block_id a",
      "block 52 (actions) element 0 action_id: 256 chars (max 255)",
      "block 52 (actions) element 0 text: 76 chars (max 75)",
    ]);
  });
});
