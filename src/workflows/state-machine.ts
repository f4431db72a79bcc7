import { RefusedError } from "../errors.js";
import type { AuditEntry } from "./audit-log.js";
import { type Attempt, refusal, stepOf, type Verb } from "./authority.js";
import type {
  AuditAction,
  RotationProgress,
  StepAction,
  StepResult,
  StepSnapshot,
  WorkflowSnapshot,
} from "./types.js";

/** The one state machine that moves every workflow. Pure: state in, state + audit + effects out. */

export type WorkflowCommand =
  | { type: "complete"; stepKey: string; actor: string }
  | { type: "skip"; stepKey: string; actor: string; reason: string }
  | { type: "assign"; stepKey: string; actor: string; assignee: string }
  | { type: "run"; stepKey: string; actor: string }
  | { type: "retry"; stepKey: string; actor: string }
  | { type: "approve"; stepKey: string; actor: string }
  | { type: "reject"; stepKey: string; actor: string; reason: string }
  | { type: "step-succeeded"; stepKey: string; result: StepResult }
  | { type: "step-failed"; stepKey: string; error: string; result?: StepResult }
  | { type: "progress"; rotation: RotationProgress }
  | { type: "cancel"; actor: string; reason: string }
  /** A person's page buttons (after PagerDuty took the acknowledgement or resolve). */
  | { type: "page-acknowledge"; actor: string }
  | { type: "page-resolve"; actor: string }
  | { type: "page-again"; actor: string }
  /** What the page job or PagerDuty reports, applied to the page as it is now. Allowed after the end too. */
  | { type: "page-change"; actor: string; change: PageChange }
  /** An event that changes no step: a deadline reminder. Allowed after the end too. */
  | {
      type: "record";
      action: AuditAction;
      actor: string;
      /** The step it is about, if any (a step taken over by another replica). */
      stepKey?: string;
      detail?: AuditEntry["detail"];
    };

/** A change to the page, from KeyOps's own paging or from PagerDuty's webhooks. */
export type PageChange =
  /** A try failed; another follows. */
  | { kind: "retrying"; error: string }
  /** The last try failed. */
  | { kind: "gave-up"; error: string }
  /** PagerDuty took the page; these people are on call. */
  | { kind: "triggered"; onCall: string[] }
  /** `at`: when it happened in PagerDuty (a webhook's occurred_at); news older than the page is ignored. */
  | { kind: "acknowledged"; by: string; at?: Date }
  /** `by` absent: KeyOps resolved it because the workflow ended. */
  | { kind: "resolved"; by?: string; at?: Date }
  | { kind: "escalated" | "reassigned"; by: string; to?: string; at?: Date }
  /** Nobody acknowledged within the reminder interval. */
  | { kind: "unacknowledged" };

export type WorkflowEffect =
  /** Run an automated step now (outside the transaction), then report step-succeeded/failed. */
  | { type: "run-step"; stepKey: string; action: StepAction }
  /** Ask the configured approvers, in the thread. */
  | { type: "request-approval"; stepKey: string }
  /** The workflow ended: resolve its page. */
  | { type: "close-page" }
  /** Page on-call (again). */
  | { type: "page" };

export interface Permissions {
  /** The actor is a configured approver (directly or through a user group). */
  isApprover: boolean;
}

export { PermissionRefusedError } from "./authority.js";

export interface Transition {
  workflow: WorkflowSnapshot;
  audit: AuditEntry[];
  effects: WorkflowEffect[];
}

export const BOT_ACTOR = "keyops";
export const MIN_REASON_LENGTH = 3;

/** One audit event of `w`; every event of a drill says so (`drill: true`), so the log tells rehearsals apart. */
export function auditEntry(
  w: WorkflowSnapshot,
  entry: Omit<AuditEntry, "workflowId" | "at">,
  now: Date,
): AuditEntry {
  const detail = w.inputs.drill ? { ...entry.detail, drill: true } : entry.detail;
  return { ...entry, ...(detail ? { detail } : {}), workflowId: w.id, at: now };
}

export function transition(
  current: WorkflowSnapshot,
  command: WorkflowCommand,
  permissions: Permissions,
  now: Date,
): Transition {
  const w = structuredClone(current);
  const audit: AuditEntry[] = [];
  const effects: WorkflowEffect[] = [];
  const record = (entry: Omit<AuditEntry, "workflowId" | "at">) => audit.push(auditEntry(w, entry, now));

  if (command.type === "record") {
    record({
      actor: command.actor,
      action: command.action,
      ...(command.stepKey ? { stepKey: command.stepKey } : {}),
      detail: command.detail ?? {},
    });
    return { workflow: bump(w), audit, effects };
  }
  if (command.type === "page-change") {
    const action = applyPageChange(w, command.change, now);
    if (!action) return { workflow: current, audit, effects };
    record({ actor: command.actor, action, detail: changeDetail(w, command.change) });
    return { workflow: bump(w), audit, effects };
  }
  if (command.type === "progress") {
    // Late progress of a step that has ended changes nothing.
    const running = w.steps.some((s) => s.status === "RUNNING" && reportsProgress(s, command.rotation));
    if (!running) return { workflow: current, audit, effects };
    w.rotation = command.rotation;
    return { workflow: bump(w), audit, effects };
  }
  if (command.type === "step-succeeded" || command.type === "step-failed") {
    if (w.status !== "OPEN") {
      throw new RefusedError(`#${w.number} is already ${w.status === "RESOLVED" ? "resolved" : "cancelled"}`);
    }
    const step = stepOf(w, command.stepKey);
    if (step.status !== "RUNNING") return { workflow: current, audit, effects };
    if (command.type === "step-succeeded") {
      finish(step, "DONE", BOT_ACTOR, now);
      step.result = command.result;
      step.error = undefined;
      record({
        actor: BOT_ACTOR,
        action: "step.succeeded",
        stepKey: step.key,
        detail: { summary: command.result.lines.join("; ") },
      });
    } else {
      step.status = "FAILED";
      step.error = command.error;
      if (command.result) step.result = command.result;
      record({
        actor: BOT_ACTOR,
        action: "step.failed",
        stepKey: step.key,
        detail: { error: command.error },
      });
    }
    if (w.rotation && reportsProgress(step, w.rotation)) w.rotation = undefined;
    advance(w, now, record, effects);
    return { workflow: bump(w), audit, effects };
  }

  // Everything else is a person's: one rule says whether it may be done now, and by them.
  const refused = refusal(w, attemptOf(command), permissions.isApprover);
  if (refused) throw refused;

  switch (command.type) {
    case "complete": {
      const step = stepOf(w, command.stepKey);
      finish(step, "DONE", command.actor, now);
      record({ actor: command.actor, action: "step.done", stepKey: step.key });
      break;
    }
    case "skip": {
      const step = stepOf(w, command.stepKey);
      const reason = requireReason(command.reason);
      finish(step, "SKIPPED", command.actor, now);
      step.skipReason = reason;
      record({ actor: command.actor, action: "step.skipped", stepKey: step.key, detail: { reason } });
      break;
    }
    case "assign": {
      const step = stepOf(w, command.stepKey);
      step.assignee = command.assignee;
      record({
        actor: command.actor,
        action: "step.assigned",
        stepKey: step.key,
        detail: { assignee: command.assignee },
      });
      break;
    }
    case "run":
    case "retry": {
      const step = stepOf(w, command.stepKey);
      start(step, effects);
      record({
        actor: command.actor,
        action: command.type === "retry" ? "step.retried" : "step.started",
        stepKey: step.key,
      });
      break;
    }
    case "approve":
    case "reject": {
      const step = stepOf(w, command.stepKey);
      if (command.type === "approve") {
        finish(step, "DONE", command.actor, now);
        step.approval = { decision: "APPROVED", by: command.actor, at: now };
        step.error = undefined;
        record({ actor: command.actor, action: "approval.approved", stepKey: step.key });
      } else {
        const reason = requireReason(command.reason);
        step.status = "FAILED";
        step.approval = { decision: "REJECTED", by: command.actor, at: now, reason };
        step.error = `rejected: ${reason}`;
        record({
          actor: command.actor,
          action: "approval.rejected",
          stepKey: step.key,
          detail: { reason },
        });
      }
      break;
    }
    case "cancel": {
      const reason = requireReason(command.reason);
      w.status = "CANCELLED";
      w.closedAt = now;
      w.closedBy = command.actor;
      w.closeReason = reason;
      record({ actor: command.actor, action: "workflow.cancelled", detail: { reason } });
      effects.push({ type: "close-page" });
      return { workflow: bump(w), audit, effects };
    }
    case "page-acknowledge":
      w.page = { ...w.page, status: "acknowledged", by: command.actor, at: now };
      record({ actor: command.actor, action: "page.acknowledged" });
      return { workflow: bump(w), audit, effects };
    case "page-resolve":
      w.page = { ...w.page, status: "resolved" };
      record({ actor: command.actor, action: "page.resolved" });
      return { workflow: bump(w), audit, effects };
    case "page-again":
      w.page = { ...w.page, status: "triggered", error: "retrying at your request" };
      record({ actor: command.actor, action: "page.triggered" });
      effects.push({ type: "page" });
      return { workflow: bump(w), audit, effects };
  }

  advance(w, now, record, effects);
  return { workflow: bump(w), audit, effects };
}

/**
 * What follows by itself: steps made unnecessary by a step they name in `unless` are skipped,
 * approvals whose turn has come are requested, automatic steps whose needs are done start, and a
 * workflow with every step done or skipped is resolved.
 */
export function advance(
  w: WorkflowSnapshot,
  now: Date,
  record: (entry: Omit<AuditEntry, "workflowId" | "at">) => void,
  effects: WorkflowEffect[],
): void {
  if (w.status !== "OPEN") return;
  for (const step of w.steps) {
    if (step.status === "DONE" || step.status === "SKIPPED" || step.status === "RUNNING") continue;
    const by = (step.unless ?? []).map((key) => stepOf(w, key)).find((s) => s.status === "DONE");
    if (!by) continue;
    finish(step, "SKIPPED", BOT_ACTOR, now);
    step.skipReason = `not needed: ${by.title} is done`;
    step.error = undefined;
    record({
      actor: BOT_ACTOR,
      action: "step.skipped",
      stepKey: step.key,
      detail: { reason: step.skipReason },
    });
  }
  for (const step of w.steps) {
    if (step.status !== "PENDING" || !needsDone(w, step)) continue;
    if (step.requiresApproval) {
      step.status = "AWAITING_APPROVAL";
      record({ actor: BOT_ACTOR, action: "approval.requested", stepKey: step.key });
      effects.push({ type: "request-approval", stepKey: step.key });
    } else if (step.automatic && step.action) {
      start(step, effects);
      record({ actor: BOT_ACTOR, action: "step.started", stepKey: step.key });
    }
  }
  if (w.steps.every((s) => s.status === "DONE" || s.status === "SKIPPED")) {
    w.status = "RESOLVED";
    w.closedAt = now;
    w.closedBy = BOT_ACTOR;
    record({ actor: BOT_ACTOR, action: "workflow.resolved" });
    effects.push({ type: "close-page" });
  }
}

/** The page after `change`, and the audit action it is recorded as; undefined when it changes nothing. */
function applyPageChange(w: WorkflowSnapshot, change: PageChange, now: Date): AuditAction | undefined {
  const page = w.page;
  if ("at" in change && change.at && isOlderThanPage(change.at, w)) return undefined;
  const settled = page.status === "acknowledged" || page.status === "resolved";
  switch (change.kind) {
    case "retrying":
      if (settled) return undefined;
      w.page = { ...page, status: "paging", error: change.error };
      return "page.failed";
    case "gave-up":
      if (settled) return undefined;
      w.page = { ...page, status: "failed", error: change.error };
      return "page.failed";
    case "triggered":
      // PagerDuty's webhook may have told of an acknowledgement before this commits: it stays.
      w.page = settled ? { ...page, onCall: change.onCall } : { status: "triggered", onCall: change.onCall };
      return "page.triggered";
    case "acknowledged":
      if (settled) return undefined;
      w.page = { ...page, status: "acknowledged", by: change.by, at: change.at ?? now };
      return "page.acknowledged";
    case "resolved":
      if (page.status === "resolved" || page.status === "off") return undefined;
      w.page = { ...page, status: "resolved", ...(change.by ? { by: change.by, at: change.at ?? now } : {}) };
      return "page.resolved";
    case "escalated":
    case "reassigned":
      return `page.${change.kind}`;
    case "unacknowledged":
      return w.status === "OPEN" && page.status === "triggered" ? "page.unacknowledged" : undefined;
  }
}

/** News from before the workflow began, or from before the page's last recorded change. */
function isOlderThanPage(at: Date, w: WorkflowSnapshot): boolean {
  return at < w.createdAt || (w.page.at !== undefined && at < w.page.at);
}

function changeDetail(w: WorkflowSnapshot, change: PageChange): AuditEntry["detail"] {
  switch (change.kind) {
    case "retrying":
    case "gave-up":
      return { error: change.error };
    case "triggered":
      return { onCall: change.onCall.join(" ") };
    case "acknowledged":
      return { by: change.by };
    case "resolved":
      return change.by ? { by: change.by } : {};
    case "escalated":
    case "reassigned":
      return { by: change.by, ...(change.to ? { to: change.to } : {}) };
    case "unacknowledged":
      return { onCall: w.page.onCall.join(" ") };
  }
}

function attemptOf(command: WorkflowCommand & { actor: string }): Attempt {
  const verb = command.type as Verb;
  return {
    verb,
    actor: command.actor,
    ...("stepKey" in command ? { stepKey: command.stepKey } : {}),
    ...("assignee" in command ? { assignee: command.assignee } : {}),
  };
}

/** Whether `progress` is `step`'s (progress that names no step is the rotation's). */
export function reportsProgress(step: StepSnapshot, progress: RotationProgress): boolean {
  return progress.stepKey === undefined ? step.action === "rotate" : progress.stepKey === step.key;
}

export function needsDone(w: WorkflowSnapshot, step: StepSnapshot): boolean {
  return (step.needs ?? []).every((key) => stepOf(w, key).status === "DONE");
}

function start(step: StepSnapshot, effects: WorkflowEffect[]): void {
  step.status = "RUNNING";
  step.error = undefined;
  effects.push({ type: "run-step", stepKey: step.key, action: step.action as StepAction });
}

function finish(step: StepSnapshot, status: "DONE" | "SKIPPED", actor: string, now: Date): void {
  step.status = status;
  step.finishedBy = actor;
  step.finishedAt = now;
}

function requireReason(reason: string): string {
  const trimmed = reason.trim();
  if (trimmed.length < MIN_REASON_LENGTH) {
    throw new RefusedError(`give a reason (at least ${MIN_REASON_LENGTH} characters)`);
  }
  return trimmed;
}

function bump(w: WorkflowSnapshot): WorkflowSnapshot {
  w.version += 1;
  return w;
}
