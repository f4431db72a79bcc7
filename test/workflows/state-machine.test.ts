import { describe, expect, it } from "vitest";
import { RefusedError } from "../../src/errors.js";
import { offersNow, refusal } from "../../src/workflows/authority.js";
import { beginWorkflow } from "../../src/workflows/begin.js";
import { definitionOf, WORKFLOW_DEFINITIONS } from "../../src/workflows/definitions/index.js";
import {
  PermissionRefusedError,
  type Permissions,
  transition,
  type WorkflowCommand,
} from "../../src/workflows/state-machine.js";
import type { WorkflowDefinition, WorkflowInputs, WorkflowSnapshot } from "../../src/workflows/types.js";

const REQUESTER = "U0REQUEST";
const APPROVER = "U0APPROVE";
const OTHER = "U0OTHER";
const NOW = new Date("2026-11-28T12:00:00Z");

function begin(kind: string, inputs: Partial<WorkflowInputs> = {}) {
  return beginWorkflow(
    definitionOf(kind),
    {
      id: "wf-1",
      inputs: { environments: ["production"], ...inputs },
      platformCounts: [
        { platform: "SHOPIFY", count: 8 },
        { platform: "AMAZON", count: 4 },
      ],
      requestedBy: REQUESTER,
      channelId: "C0SEC",
      page: { status: "off", onCall: [] },
    },
    NOW,
  );
}

function apply(
  w: WorkflowSnapshot,
  command: WorkflowCommand,
  permissions: Permissions = { isApprover: false },
) {
  return transition(w, command, permissions, NOW);
}

const status = (w: WorkflowSnapshot, key: string) => w.steps.find((s) => s.key === key)?.status;

describe("beginning a workflow", () => {
  it("key-compromised: the guide's checklist with one revoke sub-step per platform", () => {
    const { workflow, audit } = begin("key-compromised");
    expect(workflow.steps.map((s) => s.key)).toEqual([
      "assess-scope",
      "generate-key",
      "approve-rotation",
      "rotate",
      "audit-access",
      "revoke-tokens",
      "revoke-tokens.shopify",
      "revoke-tokens.amazon",
      "notify-users",
      "document",
    ]);
    expect(workflow.steps.find((s) => s.key === "revoke-tokens.shopify")?.title).toBe(
      "Shopify: 8 integrations",
    );
    expect(workflow.steps.every((s) => s.status === "PENDING")).toBe(true);
    expect(audit.map((a) => a.action)).toEqual(["workflow.started"]);
  });

  it("offboard: approval is requested at once (nothing comes before it) and a deadline is set", () => {
    const { workflow, audit, effects } = begin("offboard", {
      environments: ["development", "staging"],
      subjectUserId: "U0LEAVER",
    });
    expect(status(workflow, "approval")).toBe("AWAITING_APPROVAL");
    expect(audit.map((a) => a.action)).toEqual(["workflow.started", "approval.requested"]);
    expect(effects).toEqual([{ type: "request-approval", stepKey: "approval" }]);
    expect(workflow.deadlineAt?.toISOString()).toBe("2026-11-29T12:00:00.000Z");
  });

  it("offboard: the deadline is 24 hours after a last day still ahead, in the manager's zone", () => {
    const { workflow } = begin("offboard", {
      environments: ["staging"],
      subjectUserId: "U0LEAVER",
      lastDay: "2026-12-04",
      timeZone: "Europe/Berlin",
    });
    // End of 4 December in Berlin (UTC+1) is 22:59:59.999 UTC; plus 24 hours.
    expect(workflow.deadlineAt?.toISOString()).toBe("2026-12-05T22:59:59.999Z");
  });

  it("every definition has unique step keys, and every need names an earlier step", () => {
    for (const definition of WORKFLOW_DEFINITIONS) {
      const steps = definition.steps({
        inputs: { environments: ["production"], subjectUserId: "U1" },
        platformCounts: [{ platform: "SHOPIFY", count: 1 }],
      });
      const keys = steps.map((s) => s.key);
      expect(new Set(keys).size, definition.kind).toBe(keys.length);
      steps.forEach((step, index) => {
        for (const need of step.needs ?? [])
          expect(keys.slice(0, index), `${definition.kind}/${step.key}`).toContain(need);
      });
    }
  });
});

describe("moving a key rotation", () => {
  it("runs generate, waits for approval, starts the rotation itself, then verify, and resolves", () => {
    let w = begin("key-rotate").workflow;
    w = apply(w, { type: "complete", stepKey: "backup-database", actor: REQUESTER }).workflow;

    let t = apply(w, { type: "run", stepKey: "generate-key", actor: REQUESTER });
    expect(t.effects).toEqual([{ type: "run-step", stepKey: "generate-key", action: "generate-key" }]);
    t = apply(t.workflow, { type: "step-succeeded", stepKey: "generate-key", result: { lines: ["v2"] } });
    expect(status(t.workflow, "approval")).toBe("AWAITING_APPROVAL");
    expect(t.effects).toEqual([{ type: "request-approval", stepKey: "approval" }]);

    t = apply(t.workflow, { type: "approve", stepKey: "approval", actor: APPROVER }, { isApprover: true });
    expect(status(t.workflow, "reencrypt")).toBe("RUNNING");
    expect(t.effects).toEqual([{ type: "run-step", stepKey: "reencrypt", action: "rotate" }]);
    expect(t.audit.map((a) => a.action)).toEqual(["approval.approved", "step.started"]);

    t = apply(t.workflow, { type: "step-succeeded", stepKey: "reencrypt", result: { lines: ["200 rows"] } });
    expect(status(t.workflow, "verify")).toBe("RUNNING");
    t = apply(t.workflow, { type: "step-succeeded", stepKey: "verify", result: { lines: ["ok"] } });
    // The old version retires by itself once verify is done (the guide's "remove V1 key support").
    expect(status(t.workflow, "retire-previous")).toBe("RUNNING");
    expect(t.effects).toEqual([{ type: "run-step", stepKey: "retire-previous", action: "retire-previous" }]);
    t = apply(t.workflow, {
      type: "step-succeeded",
      stepKey: "retire-previous",
      result: { lines: ["v1 retired"] },
    });
    t = apply(t.workflow, {
      type: "skip",
      stepKey: "store-backup",
      actor: REQUESTER,
      reason: "stored by ops",
    });
    t = apply(t.workflow, { type: "run", stepKey: "record-schedule", actor: REQUESTER });
    t = apply(t.workflow, {
      type: "step-succeeded",
      stepKey: "record-schedule",
      result: { lines: ["next"] },
    });
    expect(t.workflow.status).toBe("RESOLVED");
    expect(t.audit.map((a) => a.action)).toEqual(["step.succeeded", "workflow.resolved"]);
    expect(t.effects).toEqual([{ type: "close-page" }]);
  });

  it("refuses approval by the requester, by a non-approver, and before the key exists", () => {
    let w = begin("key-rotate").workflow;
    expect(() =>
      apply(w, { type: "approve", stepKey: "approval", actor: APPROVER }, { isApprover: true }),
    ).toThrow(/waits for \*Generate the new key\*/);
    w = apply(w, { type: "run", stepKey: "generate-key", actor: REQUESTER }).workflow;
    w = apply(w, { type: "step-succeeded", stepKey: "generate-key", result: { lines: [] } }).workflow;
    expect(() =>
      apply(w, { type: "approve", stepKey: "approval", actor: REQUESTER }, { isApprover: true }),
    ).toThrow(PermissionRefusedError);
    expect(() => apply(w, { type: "approve", stepKey: "approval", actor: OTHER })).toThrow(
      /only a configured approver/,
    );
  });

  it("a rejection asks for a reason, leaves the rotation waiting, and a later approval still counts", () => {
    let w = begin("offboard", { environments: ["staging"], subjectUserId: "U0LEAVER" }).workflow;
    expect(() =>
      apply(w, { type: "reject", stepKey: "approval", actor: APPROVER, reason: " " }, { isApprover: true }),
    ).toThrow(/give a reason/);
    w = apply(
      w,
      { type: "reject", stepKey: "approval", actor: APPROVER, reason: "wait for Monday" },
      { isApprover: true },
    ).workflow;
    expect(status(w, "approval")).toBe("FAILED");
    expect(status(w, "rotate")).toBe("PENDING");
    const approved = apply(
      w,
      { type: "approve", stepKey: "approval", actor: APPROVER },
      { isApprover: true },
    );
    expect(status(approved.workflow, "rotate")).toBe("RUNNING");
  });

  it("a second approval, a done step done again and anything on a closed workflow are refused", () => {
    let w = begin("offboard", { environments: ["staging"], subjectUserId: "U0LEAVER" }).workflow;
    w = apply(w, { type: "approve", stepKey: "approval", actor: APPROVER }, { isApprover: true }).workflow;
    expect(() =>
      apply(w, { type: "approve", stepKey: "approval", actor: APPROVER }, { isApprover: true }),
    ).toThrow(/already done/);
    w = apply(w, { type: "complete", stepKey: "remove-hosting", actor: OTHER }).workflow;
    expect(() => apply(w, { type: "complete", stepKey: "remove-hosting", actor: OTHER })).toThrow(
      /already done/,
    );
    expect(() => apply(w, { type: "cancel", actor: REQUESTER, reason: "wrong person" })).toThrow(
      /rotation is running/,
    );
    w = apply(w, { type: "step-failed", stepKey: "rotate", error: "boom" }).workflow;
    w = apply(w, { type: "cancel", actor: REQUESTER, reason: "wrong person" }).workflow;
    expect(w.status).toBe("CANCELLED");
    expect(() => apply(w, { type: "complete", stepKey: "remove-vaults", actor: OTHER })).toThrow(
      /already cancelled/,
    );
  });

  it("an assigned step is finished only by its assignee; a failed step can be retried", () => {
    let w = begin("key-compromised").workflow;
    w = apply(w, { type: "assign", stepKey: "assess-scope", actor: REQUESTER, assignee: OTHER }).workflow;
    expect(() => apply(w, { type: "complete", stepKey: "assess-scope", actor: REQUESTER })).toThrow(
      PermissionRefusedError,
    );
    w = apply(w, { type: "complete", stepKey: "assess-scope", actor: OTHER }).workflow;
    w = apply(w, { type: "run", stepKey: "audit-access", actor: OTHER }).workflow;
    w = apply(w, { type: "step-failed", stepKey: "audit-access", error: "db down" }).workflow;
    expect(status(w, "audit-access")).toBe("FAILED");
    const retried = apply(w, { type: "retry", stepKey: "audit-access", actor: OTHER });
    expect(status(retried.workflow, "audit-access")).toBe("RUNNING");
    expect(retried.audit.map((a) => a.action)).toEqual(["step.retried"]);
    expect(() => apply(w, { type: "skip", stepKey: "rotate", actor: OTHER, reason: "later" })).toThrow(
      RefusedError,
    );
  });

  it("does not change its input", () => {
    const w = begin("key-rotate").workflow;
    const copy = structuredClone(w);
    apply(w, { type: "complete", stepKey: "backup-database", actor: REQUESTER });
    expect(w).toEqual(copy);
  });
});

describe("either path: a step's `unless` makes it unnecessary once another is done", () => {
  const EITHER: WorkflowDefinition = {
    kind: "test-either",
    command: "/test-either",
    name: "Either",
    title: () => "either",
    parseCommand: () => ({ inputs: { environments: ["production"] } }),
    pageSeverity: () => "info",
    steps: () => [
      { key: "look", title: "Look for it" },
      { key: "found", title: "Found it", unless: ["gone"] },
      {
        key: "gone",
        title: "Confirm it is gone",
        requiresApproval: true,
        needs: ["look"],
        unless: ["found"],
      },
      {
        key: "replace",
        title: "Replace it",
        action: "generate-key",
        automatic: true,
        needs: ["gone"],
        unless: ["found"],
      },
    ],
  };
  const start = () =>
    beginWorkflow(
      EITHER,
      {
        id: "wf-either",
        inputs: { environments: ["production"] },
        platformCounts: [],
        requestedBy: REQUESTER,
        channelId: "C0SEC",
        page: { status: "off", onCall: [] },
      },
      NOW,
    ).workflow;

  it("found first: the other branch is skipped by itself (its approval too) and the workflow resolves", () => {
    let w = start();
    w = apply(w, { type: "complete", stepKey: "look", actor: REQUESTER }).workflow;
    expect(status(w, "gone")).toBe("AWAITING_APPROVAL");
    const t = apply(w, { type: "complete", stepKey: "found", actor: REQUESTER });
    expect(t.workflow.steps.map((s) => [s.key, s.status])).toEqual([
      ["look", "DONE"],
      ["found", "DONE"],
      ["gone", "SKIPPED"],
      ["replace", "SKIPPED"],
    ]);
    expect(t.workflow.steps.find((s) => s.key === "gone")).toMatchObject({
      finishedBy: "keyops",
      skipReason: "not needed: Found it is done",
    });
    expect(t.audit.map((a) => [a.action, a.stepKey ?? null])).toEqual([
      ["step.done", "found"],
      ["step.skipped", "gone"],
      ["step.skipped", "replace"],
      ["workflow.resolved", null],
    ]);
    expect(t.workflow.status).toBe("RESOLVED");
    expect(t.effects.some((e) => e.type === "run-step")).toBe(false);
  });

  it("not found: the approval skips the found branch (failed or pending) and starts the rest", () => {
    let w = start();
    w = apply(w, { type: "complete", stepKey: "look", actor: REQUESTER }).workflow;
    expect(() =>
      apply(w, { type: "approve", stepKey: "gone", actor: REQUESTER }, { isApprover: true }),
    ).toThrow(/two-person rule/);
    const t = apply(w, { type: "approve", stepKey: "gone", actor: APPROVER }, { isApprover: true });
    expect(status(t.workflow, "found")).toBe("SKIPPED");
    expect(status(t.workflow, "replace")).toBe("RUNNING");
    expect(t.effects).toContainEqual({ type: "run-step", stepKey: "replace", action: "generate-key" });
    expect(() => apply(t.workflow, { type: "complete", stepKey: "found", actor: REQUESTER })).toThrow(
      /already skipped/,
    );
  });

  it("a running step is never skipped under it", () => {
    const running: WorkflowDefinition = {
      ...EITHER,
      steps: () => [
        { key: "a", title: "A", action: "verify", runLabel: "Run" },
        { key: "b", title: "B", unless: ["c"] },
        { key: "c", title: "C", unless: ["a"] },
      ],
    };
    let w = beginWorkflow(
      running,
      {
        id: "wf-running",
        inputs: { environments: ["production"] },
        platformCounts: [],
        requestedBy: REQUESTER,
        channelId: "C0SEC",
        page: { status: "off", onCall: [] },
      },
      NOW,
    ).workflow;
    w = apply(w, { type: "run", stepKey: "a", actor: REQUESTER }).workflow;
    w = apply(w, { type: "complete", stepKey: "c", actor: REQUESTER }).workflow;
    expect(status(w, "a")).toBe("RUNNING");
    expect(status(w, "b")).toBe("SKIPPED");
  });

  it("/key-lost: every `unless` names a step of its own definition", () => {
    for (const definition of WORKFLOW_DEFINITIONS) {
      const steps = definition.steps({
        inputs: { environments: ["production"], keyVersion: 1 },
        platformCounts: [{ platform: "SHOPIFY", count: 2 }],
      });
      const keys = steps.map((s) => s.key);
      for (const step of steps)
        for (const key of step.unless ?? []) expect(keys, `${definition.kind}/${step.key}`).toContain(key);
    }
    const lost = begin("key-lost", { keyVersion: 3 }).workflow;
    expect(lost.title).toBe("Production key v3 lost");
    expect(lost.steps.map((s) => s.key)).toEqual([
      "check-password-manager",
      "check-secure-notes",
      "check-backup-files",
      "key-recovered",
      "confirm-unrecoverable",
      "count-rows",
      "mark-lost",
      "record-reauth",
      "generate-key",
      "activate-key",
      "notify.shopify",
      "notify.amazon",
    ]);
    expect(lost.steps.find((s) => s.key === "notify.shopify")?.title).toBe(
      "Notify Shopify users to reconnect: 8 integrations",
    );
  });

  it("any running automated step shows progress (an activation waiting at the hand-over gate), cleared when it ends", () => {
    let w = begin("key-lost", { keyVersion: 1 }).workflow;
    const progress: WorkflowCommand = {
      type: "progress",
      rotation: {
        stepKey: "activate-key",
        environment: "production",
        phase: "handover",
        done: 1,
        total: 2,
        rowsPerSecond: 0,
        etaSeconds: null,
        note: "api: 1 of 2 instances can read v2",
        updatedAt: NOW,
      },
    };
    expect(apply(w, progress).workflow).toBe(w);
    for (const key of ["check-password-manager", "check-secure-notes", "check-backup-files"])
      w = apply(w, { type: "complete", stepKey: key, actor: REQUESTER }).workflow;
    w = apply(
      w,
      { type: "approve", stepKey: "confirm-unrecoverable", actor: APPROVER },
      { isApprover: true },
    ).workflow;
    for (const key of ["count-rows", "mark-lost", "record-reauth", "generate-key"]) {
      expect(status(w, key)).toBe("RUNNING");
      w = apply(w, { type: "step-succeeded", stepKey: key, result: { lines: [] } }).workflow;
    }
    expect(status(w, "activate-key")).toBe("RUNNING");
    // Progress naming no step is a rotation's: not this workflow's.
    const unnamed = {
      ...progress,
      rotation: { ...progress.rotation, stepKey: undefined },
    } as WorkflowCommand;
    expect(apply(w, unnamed).workflow).toBe(w);
    w = apply(w, progress).workflow;
    expect(w.rotation?.note).toBe("api: 1 of 2 instances can read v2");
    w = apply(w, { type: "step-succeeded", stepKey: "activate-key", result: { lines: [] } }).workflow;
    expect(w.rotation).toBeUndefined();
    expect(w.steps.filter((s) => s.status === "PENDING").map((s) => s.key)).toEqual([
      "notify.shopify",
      "notify.amazon",
    ]);
  });
});

describe("quarterly maintenance: automated checks at once, an offered start, the overdue rules", () => {
  const begun = () =>
    begin("quarterly-maintenance", {
      environments: ["production", "staging"],
      period: "2027-Q1",
      dueAt: "2026-12-31T23:00:00.000Z",
    });

  it("starts its three checks by itself; its deadline is when it fell due; two steps are by hand", () => {
    const { workflow, effects } = begun();
    expect(workflow.deadlineAt?.toISOString()).toBe("2026-12-31T23:00:00.000Z");
    expect(workflow.deadlineLabel).toBe("Due");
    expect(effects).toEqual([
      { type: "run-step", stepKey: "review-schedule", action: "review-rotation-schedule" },
      { type: "run-step", stepKey: "audit-access", action: "audit-key-access" },
      { type: "run-step", stepKey: "check-failures", action: "check-decryption-failures" },
    ]);
    expect(workflow.steps.filter((s) => s.status === "PENDING").map((s) => s.key)).toEqual([
      "update-backup",
      "review-procedure",
    ]);
    const definition = definitionOf("quarterly-maintenance");
    expect(definition.openKey?.(workflow.inputs)).toBe("2027-Q1");
    expect(definition.openKey?.({ ...workflow.inputs, drill: true })).toBeUndefined();
    expect(definition.remindersMs).toEqual([7 * 86_400_000]);
    expect(definition.overdue).toEqual({ severity: "warning", pageAfterMs: 14 * 86_400_000 });
  });

  it("an offer is startable while the workflow is open and the step offers it; never after the end", () => {
    const offers = [
      {
        kind: "key-rotate",
        label: "Start /key-rotate production",
        inputs: { environments: ["production" as const] },
      },
    ];
    const reviewed = apply(begun().workflow, {
      type: "step-succeeded",
      stepKey: "review-schedule",
      result: { lines: ["production: due now"], offers },
    }).workflow;
    const step = reviewed.steps.find((s) => s.key === "review-schedule");
    expect(step?.status).toBe("DONE");
    expect(offersNow(reviewed, step as never)).toEqual(offers);
    expect(
      refusal(reviewed, { verb: "start-offered", actor: OTHER, stepKey: "review-schedule" }, false),
    ).toBeNull();
    expect(
      refusal(reviewed, { verb: "start-offered", actor: OTHER, stepKey: "audit-access" }, false)?.message,
    ).toBe("*Audit who has key access* offers nothing to start");
    const cancelled = apply(reviewed, {
      type: "cancel",
      actor: REQUESTER,
      reason: "not this quarter",
    }).workflow;
    expect(offersNow(cancelled, cancelled.steps[0] as never)).toEqual([]);
    expect(
      refusal(cancelled, { verb: "start-offered", actor: REQUESTER, stepKey: "review-schedule" }, false)
        ?.message,
    ).toMatch(/is already cancelled/);
  });
});

describe("/key-destroy: two different approvers, neither the requester", () => {
  const approver = { isApprover: true };
  it("the second approval refuses whoever gave the first; destroy starts only after both and the confirmation", () => {
    let w = begin("key-destroy", { keyVersion: 1 }).workflow;
    expect(w.steps.map((s) => [s.key, s.status])).toEqual([
      ["confirm-backups", "PENDING"],
      ["approval", "AWAITING_APPROVAL"],
      ["second-approval", "PENDING"],
      ["destroy", "PENDING"],
    ]);
    expect(() => apply(w, { type: "approve", stepKey: "approval", actor: REQUESTER }, approver)).toThrow(
      /two-person rule/,
    );
    w = apply(w, { type: "approve", stepKey: "approval", actor: APPROVER }, approver).workflow;
    expect(status(w, "second-approval")).toBe("AWAITING_APPROVAL");
    const again = () => apply(w, { type: "approve", stepKey: "second-approval", actor: APPROVER }, approver);
    expect(again).toThrow(PermissionRefusedError);
    expect(again).toThrow(/you approved \*Approve destroying v1\* already: a second, different approver/);
    w = apply(w, { type: "approve", stepKey: "second-approval", actor: OTHER }, approver).workflow;
    expect(status(w, "destroy")).toBe("PENDING");
    const done = apply(w, { type: "complete", stepKey: "confirm-backups", actor: REQUESTER });
    expect(status(done.workflow, "destroy")).toBe("RUNNING");
    expect(done.effects).toContainEqual(expect.objectContaining({ type: "run-step", stepKey: "destroy" }));
  });
});
