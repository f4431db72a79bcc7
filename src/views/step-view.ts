import type { ActionsBlock, Button } from "@slack/types";
import { offersNow, type StepVerb, stepVerbsNow } from "../workflows/authority.js";
import { reportsProgress } from "../workflows/state-machine.js";
import type { StepSnapshot, StepStatus, WorkflowSnapshot } from "../workflows/types.js";
import { button } from "./blocks.js";
import { actorLabel, escapeText, mention, plural, slackDate, truncateMrkdwn, userText } from "./format.js";
import { ACTION, encodeOfferRef, encodeStepRef, offerActionId, stepBlockId } from "./ids.js";
import { LIMITS } from "./limits.js";
import { figuresLine, progressLine } from "./rotation.js";

export const STATUS_ICON: Record<StepStatus, string> = {
  PENDING: "⬜",
  AWAITING_APPROVAL: "⏳",
  RUNNING: "🔄",
  DONE: "✅",
  SKIPPED: "⏭️",
  FAILED: "❌",
};

const SUB_STEP_INDENT = "      ↳ ";
/** A reason as shown: at most REASON_MAX (modals.ts) typed characters, with room for their escapes. */
export const REASON_SHOWN_MAX = 600;
const RESULT_LINE_MAX = 500;
const ERROR_MAX = 600;

export const isClosed = (step: StepSnapshot) => step.status === "DONE" || step.status === "SKIPPED";

/** A step's first line: status, title and who finished it (what a compact rendering keeps). */
export function stepHeadline(step: StepSnapshot): string {
  const indent = step.parent ? SUB_STEP_INDENT : "";
  return `${indent}${STATUS_ICON[step.status]} *${escapeText(step.title)}*${finishedBy(step)}`;
}

/** Everything about a step: hint, assignee, approval, skip reason, progress, results, failure. */
export function stepText(w: WorkflowSnapshot, step: StepSnapshot): string {
  const indent = step.parent ? SUB_STEP_INDENT : "";
  const lines = [stepHeadline(step)];
  const more = (line: string) => lines.push(`${indent}${line}`);
  const open = !isClosed(step);
  if (open && step.hint) more(`_${escapeText(step.hint)}_`);
  if (open && step.assignee) more(`Assigned to ${mention(step.assignee)}`);
  if (step.status === "AWAITING_APPROVAL") more(`Waiting for an approver (not ${mention(w.requestedBy)})`);
  if (step.status === "SKIPPED" && step.skipReason)
    more(`Skipped: ${userText(step.skipReason, REASON_SHOWN_MAX)}`);
  const rejected = step.approval?.decision === "REJECTED" ? step.approval : undefined;
  if (rejected) {
    more(`Rejected by ${mention(rejected.by)}: ${userText(rejected.reason ?? "", REASON_SHOWN_MAX)}`);
  }
  if (step.status === "RUNNING" && w.rotation && reportsProgress(step, w.rotation))
    more(progressLine(w.rotation));
  for (const line of step.result?.lines ?? []) more(`> ${userText(line, RESULT_LINE_MAX)}`);
  for (const figures of step.result?.rotations ?? []) more(`> ${figuresLine(figures)}`);
  if (step.status === "FAILED" && step.result?.failedRows) {
    more(`*${plural(step.result.failedRows, "row")} could not be re-encrypted* (left unchanged)`);
  }
  if (step.status === "FAILED" && step.error && !rejected) more(`Failed: ${userText(step.error, ERROR_MAX)}`);
  return truncateMrkdwn(lines.join("\n"), LIMITS.sectionText);
}

/** The headline, and for a running automated step its progress (a rotation's, a hand-over): a step in a few words. */
export function stepCompact(w: WorkflowSnapshot, step: StepSnapshot): string {
  if (step.status === "RUNNING" && w.rotation && reportsProgress(step, w.rotation)) {
    return `${stepHeadline(step)}\n${progressLine(w.rotation)}`;
  }
  return stepHeadline(step);
}

function finishedBy(step: StepSnapshot): string {
  if (step.status === "DONE" && step.approval?.decision === "APPROVED") {
    return ` — approved by ${mention(step.approval.by)} ${slackDate(step.approval.at, "{time}")}`;
  }
  if (isClosed(step) && step.finishedBy) {
    const at = step.finishedAt ? ` ${slackDate(step.finishedAt, "{time}")}` : "";
    return ` — ${step.status === "DONE" ? "done" : "skipped"} by ${actorLabel(step.finishedBy)}${at}`;
  }
  return "";
}

/** The button of each step verb (assign is a users_select, added apart). */
const STEP_BUTTONS: Record<Exclude<StepVerb, "assign">, (step: StepSnapshot, value: string) => Button> = {
  approve: (_step, value) => button("Approve", ACTION.approve, value, "primary"),
  reject: (_step, value) => button("Reject…", ACTION.reject, value, "danger"),
  retry: (_step, value) => button("Retry", ACTION.retry, value, "primary"),
  run: (step, value) => button(step.runLabel ?? "Run", ACTION.run, value, "primary"),
  complete: (_step, value) => button("Done", ACTION.done, value, "primary"),
  skip: (_step, value) => button("Skip…", ACTION.skip, value),
};

/** At most this many offered workflows get a button (Slack: 25 elements per actions block). */
const OFFERS_SHOWN = 10;

/**
 * The buttons of what can be done with a step now (authority.ts decides), in one actions block
 * named after the step (a users_select has no value, so the block id tells the handler which step),
 * and one button per workflow its result offers to start ("Start /key-rotate production").
 */
export function stepActions(w: WorkflowSnapshot, step: StepSnapshot): ActionsBlock | undefined {
  const verbs = stepVerbsNow(w, step);
  const offers = offersNow(w, step).slice(0, OFFERS_SHOWN);
  if (verbs.length === 0 && offers.length === 0) return undefined;
  const ref = { workflowId: w.id, stepKey: step.key };
  const blockId = stepBlockId(ref);
  // Only a definition with an absurd key gets here; no buttons beats a message Slack refuses.
  if (blockId.length > LIMITS.id) return undefined;
  const value = encodeStepRef(ref);
  const elements: ActionsBlock["elements"] = verbs.map((verb) =>
    verb === "assign"
      ? {
          type: "users_select",
          action_id: ACTION.assign,
          placeholder: { type: "plain_text", text: "Assign…" },
          ...(step.assignee ? { initial_user: step.assignee } : {}),
        }
      : STEP_BUTTONS[verb](step, value),
  );
  offers.forEach((offer, index) => {
    elements.push(button(offer.label, offerActionId(index), encodeOfferRef({ ...ref, index })));
  });
  return { type: "actions", block_id: blockId, elements };
}
