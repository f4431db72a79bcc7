import { RefusedError } from "../errors.js";
import type { StepSnapshot, WorkflowOffer, WorkflowSnapshot } from "./types.js";

/**
 * What can be done with a workflow now, and by whom: the one rule. The views render buttons from
 * `stepVerbsNow` and `workflowVerbsNow`; `transition()` enforces `refusal` for every command a
 * person sends. The README's "Who may do what" table is this file in words.
 */

/** What a person is to a workflow (for a step, also whether it is assigned to them). */
export type Role = "requester" | "approver" | "on-call" | "assignee" | "subject" | "bystander";

/** What a person can do with one step; each is one state-machine command of the same name. */
export type StepVerb = "approve" | "reject" | "retry" | "run" | "complete" | "skip" | "assign";
/** What a person can do with the workflow as a whole. */
export type WorkflowVerb = "cancel" | "page-acknowledge" | "page-resolve" | "page-again";
/** Starting a workflow a step's result offers (the schedule review's /key-rotate of a due environment). */
export type OfferVerb = "start-offered";
export type Verb = StepVerb | WorkflowVerb | OfferVerb;

/** In the order the buttons are shown. */
export const STEP_VERBS: readonly StepVerb[] = [
  "approve",
  "reject",
  "retry",
  "run",
  "complete",
  "skip",
  "assign",
];
export const WORKFLOW_VERBS: readonly WorkflowVerb[] = [
  "page-acknowledge",
  "page-resolve",
  "page-again",
  "cancel",
];

export interface Attempt {
  verb: Verb;
  actor: string;
  stepKey?: string;
  /** For assign: who the step would be assigned to. */
  assignee?: string;
}

/** Refused because of who asked, not what: the attempt itself is audited. */
export class PermissionRefusedError extends RefusedError {
  override name = "PermissionRefusedError";
}

export function rolesOf(
  w: WorkflowSnapshot,
  actor: string,
  isApprover: boolean,
  step?: StepSnapshot,
): ReadonlySet<Role> {
  const roles = new Set<Role>();
  if (actor === w.requestedBy) roles.add("requester");
  if (isApprover) roles.add("approver");
  if (w.page.onCall.includes(actor)) roles.add("on-call");
  if (step?.assignee !== undefined && step.assignee === actor) roles.add("assignee");
  if (w.inputs.subjectUserId !== undefined && w.inputs.subjectUserId === actor) roles.add("subject");
  if (roles.size === 0) roles.add("bystander");
  return roles;
}

/** The step verbs the state allows now (for someone): the buttons a step shows. */
export function stepVerbsNow(w: WorkflowSnapshot, step: StepSnapshot): StepVerb[] {
  return STEP_VERBS.filter((verb) => stateRefusal(w, step, verb) === null);
}

/** The workflow verbs the state allows now: the page's buttons and Cancel. */
export function workflowVerbsNow(w: WorkflowSnapshot): WorkflowVerb[] {
  return WORKFLOW_VERBS.filter((verb) => stateRefusal(w, undefined, verb) === null);
}

/** The workflows `step`'s result offers to start now (none once the workflow is closed). */
export function offersNow(w: WorkflowSnapshot, step: StepSnapshot): WorkflowOffer[] {
  return stateRefusal(w, step, "start-offered") === null ? (step.result?.offers ?? []) : [];
}

/** Why `attempt` is refused (the state first, then who asks), or null when it may go ahead. */
export function refusal(w: WorkflowSnapshot, attempt: Attempt, isApprover: boolean): RefusedError | null {
  if (w.status !== "OPEN") {
    return new RefusedError(`#${w.number} is already ${w.status === "RESOLVED" ? "resolved" : "cancelled"}`);
  }
  const step = attempt.stepKey === undefined ? undefined : stepOf(w, attempt.stepKey);
  const state = stateRefusal(w, step, attempt.verb);
  if (state !== null) return new RefusedError(state);
  const denied = permissionRefusal(step, attempt, rolesOf(w, attempt.actor, isApprover, step));
  if (denied !== null) return new PermissionRefusedError(denied);
  if ((attempt.verb === "approve" || attempt.verb === "reject") && step?.distinctApproverFrom) {
    const earlier = step.distinctApproverFrom
      .map((key) => stepOf(w, key))
      .find((s) => s.approval?.decision === "APPROVED" && s.approval.by === attempt.actor);
    if (earlier) {
      return new PermissionRefusedError(
        `you approved *${earlier.title}* already: a second, different approver must give this one`,
      );
    }
  }
  if (attempt.verb === "assign" && attempt.assignee === w.inputs.subjectUserId) {
    return new RefusedError("a step cannot be assigned to the person this workflow is about");
  }
  return null;
}

/** Whether `roles` may do `verb` (for assign, to `assignee`); null when they may. */
export function permissionRefusal(
  step: StepSnapshot | undefined,
  attempt: Pick<Attempt, "verb" | "actor" | "assignee">,
  roles: ReadonlySet<Role>,
): string | null {
  if (roles.has("subject"))
    return "you are the person this workflow is about (offboarded or onboarded): you cannot act on it";
  const requesterOrApprover = roles.has("requester") || roles.has("approver");
  switch (attempt.verb) {
    case "complete":
    case "skip":
    case "run":
    case "retry":
    case "start-offered":
      if (step?.assignee && !roles.has("assignee")) {
        return `*${step.title}* is assigned to @${step.assignee}, not to you`;
      }
      return null;
    case "assign":
      if (requesterOrApprover || roles.has("assignee")) return null;
      if (!step?.assignee && attempt.assignee === attempt.actor) return null;
      return "only the requester, an approver or its assignee can assign it; anyone may take an unassigned step";
    case "approve":
    case "reject":
      if (roles.has("requester")) {
        return "you requested this workflow: a second person must approve it (two-person rule)";
      }
      return roles.has("approver") ? null : "only a configured approver can approve or reject";
    case "cancel":
      return requesterOrApprover ? null : "only the requester or an approver can cancel it";
    case "page-acknowledge":
    case "page-again":
      return requesterOrApprover || roles.has("on-call")
        ? null
        : "only the people on call, an approver or the requester can do that with the page";
    case "page-resolve":
      return roles.has("approver")
        ? null
        : "only an approver can resolve the page (it resolves by itself when the workflow ends)";
  }
}

/** Why nobody can do `verb` now (the workflow's or step's state), or null. */
function stateRefusal(w: WorkflowSnapshot, step: StepSnapshot | undefined, verb: Verb): string | null {
  if (w.status !== "OPEN") return `#${w.number} is ${w.status === "RESOLVED" ? "resolved" : "cancelled"}`;
  switch (verb) {
    case "cancel":
      return w.steps.some((s) => s.action === "rotate" && s.status === "RUNNING")
        ? "a rotation is running: it cannot be stopped half-way; cancel after it ends"
        : null;
    case "page-acknowledge":
      return w.page.status === "triggered" ? null : pageNotWaiting(w);
    case "page-resolve":
      return w.page.status === "triggered" || w.page.status === "acknowledged" ? null : pageNotWaiting(w);
    case "page-again":
      return w.page.status === "failed" ? null : "the page has not failed: nothing to page again";
  }
  if (!step) return "that button names no step";
  // An offer is a finished step's result: it stays offered while the workflow is open.
  if (verb === "start-offered")
    return (step.result?.offers?.length ?? 0) > 0 ? null : `*${step.title}* offers nothing to start`;
  if (step.status === "DONE" || step.status === "SKIPPED") {
    return `*${step.title}* is already ${step.status === "DONE" ? "done" : "skipped"}`;
  }
  const byHand = !step.action && !step.requiresApproval;
  switch (verb) {
    case "complete":
      if (!byHand) return `*${step.title}* is not marked done by hand`;
      break;
    case "skip":
      if (step.skippable === false) return `*${step.title}* cannot be skipped`;
      if (step.status === "RUNNING") return `*${step.title}* is running`;
      if (step.requiresApproval || step.automatic) return `*${step.title}* cannot be skipped`;
      break;
    case "assign":
      if (step.requiresApproval) return `*${step.title}* is an approval: any approver can give it`;
      if (step.automatic) return `*${step.title}* starts by itself when its turn comes`;
      if (step.status === "RUNNING") return `*${step.title}* is running`;
      break;
    case "run":
    case "retry":
      if (!step.action) return `*${step.title}* has nothing to run`;
      if (verb === "run" && step.automatic) return `*${step.title}* starts by itself when its turn comes`;
      if (verb === "retry" && step.status !== "FAILED") return `*${step.title}* has not failed`;
      if (verb === "run" && step.status === "FAILED") return `*${step.title}* has failed: retry it`;
      if (step.status === "RUNNING") return `*${step.title}* is already running`;
      break;
    case "approve":
    case "reject":
      if (!step.requiresApproval) return `*${step.title}* needs no approval`;
      break;
  }
  if (step.status === "RUNNING") return `*${step.title}* is running`;
  const waiting = (step.needs ?? []).map((key) => stepOf(w, key)).filter((s) => s.status !== "DONE");
  if (waiting.length > 0) return `*${step.title}* waits for ${waiting.map((s) => `*${s.title}*`).join(", ")}`;
  return null;
}

function pageNotWaiting(w: WorkflowSnapshot): string {
  const page = w.page;
  if (page.status === "off") return "paging is off (PagerDuty is not configured)";
  if (page.status === "acknowledged") return "the page is already acknowledged";
  if (page.status === "resolved") return "the page is already resolved";
  if (page.status === "failed") return "paging failed: page again first";
  return "the page has not reached PagerDuty yet";
}

export function stepOf(w: WorkflowSnapshot, key: string): StepSnapshot {
  const step = w.steps.find((s) => s.key === key);
  if (!step) throw new RefusedError(`#${w.number} has no step "${key}"`);
  return step;
}
