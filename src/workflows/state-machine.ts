import { RefusedError } from "../errors.js";
import type { AuditEntry } from "./audit-log.js";
import type {
  AuditAction,
  PageSnapshot,
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
  /** An event that changes no step: paging news, a deadline reminder. Allowed after the end too. */
  | {
      type: "record";
      action: AuditAction;
      actor: string;
      /** The step it is about, if any (a step taken over by another replica). */
      stepKey?: string;
      detail?: AuditEntry["detail"];
      page?: PageSnapshot;
    };

export type WorkflowEffect =
  /** Run an automated step now (outside the transaction), then report step-succeeded/failed. */
  | { type: "run-step"; stepKey: string; action: StepAction }
  /** Ask the configured approvers, in the thread. */
  | { type: "request-approval"; stepKey: string }
  /** The workflow ended: resolve its page. */
  | { type: "close-page" };

export interface Permissions {
  /** The actor is a configured approver (directly or through a user group). */
  isApprover: boolean;
}

export interface Transition {
  workflow: WorkflowSnapshot;
  audit: AuditEntry[];
  effects: WorkflowEffect[];
}

export const BOT_ACTOR = "keyops";
export const MIN_REASON_LENGTH = 3;

/** Refused because of who asked, not what: the attempt itself is audited. */
export class PermissionRefusedError extends RefusedError {
  override name = "PermissionRefusedError";
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
  const record = (entry: Omit<AuditEntry, "workflowId" | "at">) =>
    audit.push({ ...entry, workflowId: w.id, at: now });

  if (command.type === "record") {
    if (command.page) w.page = command.page;
    record({
      actor: command.actor,
      action: command.action,
      ...(command.stepKey ? { stepKey: command.stepKey } : {}),
      detail: command.detail ?? {},
    });
    return { workflow: bump(w), audit, effects };
  }
  if (command.type === "progress") {
    // Late progress of a run that has ended changes nothing.
    const running = w.steps.some((s) => s.action === "rotate" && s.status === "RUNNING");
    if (!running) return { workflow: current, audit, effects };
    w.rotation = command.rotation;
    return { workflow: bump(w), audit, effects };
  }
  if (w.status !== "OPEN") {
    throw new RefusedError(`#${w.number} is already ${w.status === "RESOLVED" ? "resolved" : "cancelled"}`);
  }

  switch (command.type) {
    case "complete": {
      const step = openStep(w, command.stepKey);
      if (step.action || step.requiresApproval) {
        throw new RefusedError(`*${step.title}* is not marked done by hand`);
      }
      requireNeeds(w, step);
      requireAssignee(step, command.actor);
      finish(step, "DONE", command.actor, now);
      record({ actor: command.actor, action: "step.done", stepKey: step.key });
      break;
    }
    case "skip": {
      const step = openStep(w, command.stepKey);
      if (step.skippable === false) throw new RefusedError(`*${step.title}* cannot be skipped`);
      if (step.status === "RUNNING") throw new RefusedError(`*${step.title}* is running`);
      requireAssignee(step, command.actor);
      const reason = requireReason(command.reason);
      finish(step, "SKIPPED", command.actor, now);
      step.skipReason = reason;
      record({ actor: command.actor, action: "step.skipped", stepKey: step.key, detail: { reason } });
      break;
    }
    case "assign": {
      const step = openStep(w, command.stepKey);
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
      const step = openStep(w, command.stepKey);
      if (!step.action) throw new RefusedError(`*${step.title}* has nothing to run`);
      if (command.type === "run" && step.automatic) {
        throw new RefusedError(`*${step.title}* starts by itself when its turn comes`);
      }
      if (command.type === "retry" && step.status !== "FAILED") {
        throw new RefusedError(`*${step.title}* has not failed`);
      }
      if (step.status === "RUNNING") throw new RefusedError(`*${step.title}* is already running`);
      requireNeeds(w, step);
      requireAssignee(step, command.actor);
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
      const step = openStep(w, command.stepKey);
      if (!step.requiresApproval) throw new RefusedError(`*${step.title}* needs no approval`);
      requireNeeds(w, step);
      if (command.actor === w.requestedBy) {
        throw new PermissionRefusedError(
          "you requested this workflow: a second person must approve it (two-person rule)",
        );
      }
      if (!permissions.isApprover) {
        throw new PermissionRefusedError("only a configured approver can approve or reject");
      }
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
    case "step-succeeded": {
      const step = stepOf(w, command.stepKey);
      if (step.status !== "RUNNING") return { workflow: current, audit, effects };
      finish(step, "DONE", BOT_ACTOR, now);
      step.result = command.result;
      step.error = undefined;
      if (step.action === "rotate") w.rotation = undefined;
      record({
        actor: BOT_ACTOR,
        action: "step.succeeded",
        stepKey: step.key,
        detail: { summary: command.result.lines.join("; ") },
      });
      break;
    }
    case "step-failed": {
      const step = stepOf(w, command.stepKey);
      if (step.status !== "RUNNING") return { workflow: current, audit, effects };
      step.status = "FAILED";
      step.error = command.error;
      if (command.result) step.result = command.result;
      if (step.action === "rotate") w.rotation = undefined;
      record({
        actor: BOT_ACTOR,
        action: "step.failed",
        stepKey: step.key,
        detail: { error: command.error },
      });
      break;
    }
    case "cancel": {
      if (w.steps.some((s) => s.action === "rotate" && s.status === "RUNNING")) {
        throw new RefusedError("a rotation is running: it cannot be stopped half-way; cancel after it ends");
      }
      if (command.actor !== w.requestedBy && !permissions.isApprover) {
        throw new PermissionRefusedError("only the requester or an approver can cancel it");
      }
      const reason = requireReason(command.reason);
      w.status = "CANCELLED";
      w.closedAt = now;
      w.closedBy = command.actor;
      w.closeReason = reason;
      record({ actor: command.actor, action: "workflow.cancelled", detail: { reason } });
      effects.push({ type: "close-page" });
      return { workflow: bump(w), audit, effects };
    }
  }

  advance(w, now, record, effects);
  return { workflow: bump(w), audit, effects };
}

/**
 * What follows by itself: approvals whose turn has come are requested, automatic steps whose
 * needs are done start, and a workflow with every step done or skipped is resolved.
 */
export function advance(
  w: WorkflowSnapshot,
  now: Date,
  record: (entry: Omit<AuditEntry, "workflowId" | "at">) => void,
  effects: WorkflowEffect[],
): void {
  if (w.status !== "OPEN") return;
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

function stepOf(w: WorkflowSnapshot, key: string): StepSnapshot {
  const step = w.steps.find((s) => s.key === key);
  if (!step) throw new RefusedError(`#${w.number} has no step "${key}"`);
  return step;
}

function openStep(w: WorkflowSnapshot, key: string): StepSnapshot {
  const step = stepOf(w, key);
  if (step.status === "DONE" || step.status === "SKIPPED") {
    throw new RefusedError(`*${step.title}* is already ${step.status === "DONE" ? "done" : "skipped"}`);
  }
  return step;
}

function requireNeeds(w: WorkflowSnapshot, step: StepSnapshot): void {
  const waiting = (step.needs ?? []).map((key) => stepOf(w, key)).filter((s) => s.status !== "DONE");
  if (waiting.length > 0) {
    throw new RefusedError(`*${step.title}* waits for ${waiting.map((s) => `*${s.title}*`).join(", ")}`);
  }
}

function requireAssignee(step: StepSnapshot, actor: string): void {
  if (step.assignee && step.assignee !== actor) {
    throw new PermissionRefusedError(`*${step.title}* is assigned to <@${step.assignee}>, not to you`);
  }
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
