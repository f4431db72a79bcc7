import type { ModalView, PlainTextOption } from "@slack/types";
import { ENVIRONMENTS, type Environment, isEnvironment } from "../environments.js";
import { defaultSeverity } from "../workflows/command-input.js";
import { MIN_REASON_LENGTH } from "../workflows/state-machine.js";
import { SEVERITIES, type Severity } from "../workflows/types.js";
import { escapeText, safeMrkdwn, truncate, truncateMrkdwn } from "./format.js";
import { encodeMetadata, type ModalMetadata, type StepRef, VIEW } from "./ids.js";
import { LIMITS } from "./limits.js";

/** Slack's view.state.values: block_id -> action_id -> element state. */
export type StateValues = Record<
  string,
  Record<string, { value?: string | null; selected_option?: { value: string } | null }>
>;

/** Field errors by block_id, for `ack({ response_action: "errors", errors })`. */
export interface FieldErrors {
  errors: Record<string, string>;
}

export const REASON_BLOCK = "reason";
export const REASON_MAX = 500;
const TEXT_MAX = 2000;
const TITLE_IN_QUESTION_MAX = 1000;

export function skipStepModal(ref: StepRef, stepTitle: string, channelId: string): ModalView {
  return reasonModal(VIEW.skipStep, "Skip a step", "Skip", `Why skip *${stepName(stepTitle)}*?`, {
    workflowId: ref.workflowId,
    stepKey: ref.stepKey,
    channelId,
  });
}

export function rejectApprovalModal(ref: StepRef, stepTitle: string, channelId: string): ModalView {
  return reasonModal(VIEW.rejectApproval, "Reject", "Reject", `Why reject *${stepName(stepTitle)}*?`, {
    workflowId: ref.workflowId,
    stepKey: ref.stepKey,
    channelId,
  });
}

export function cancelWorkflowModal(workflowId: string, title: string, channelId: string): ModalView {
  const question = `Why cancel *${truncateMrkdwn(safeMrkdwn(title), TITLE_IN_QUESTION_MAX)}*? Steps already done stay done.`;
  return reasonModal(VIEW.cancelWorkflow, "Cancel workflow", "Cancel it", question, {
    workflowId,
    channelId,
  });
}

const stepName = (title: string) => escapeText(truncate(title, TITLE_IN_QUESTION_MAX));

function reasonModal(
  callbackId: string,
  title: string,
  submit: string,
  question: string,
  metadata: ModalMetadata,
): ModalView {
  return {
    type: "modal",
    callback_id: callbackId,
    title: { type: "plain_text", text: truncate(title, LIMITS.modalTitle) },
    submit: { type: "plain_text", text: truncate(submit, LIMITS.modalButton) },
    close: { type: "plain_text", text: "Back" },
    private_metadata: encodeMetadata(metadata),
    blocks: [
      { type: "section", text: { type: "mrkdwn", text: truncateMrkdwn(question, LIMITS.sectionText) } },
      {
        type: "input",
        block_id: REASON_BLOCK,
        label: { type: "plain_text", text: "Reason" },
        element: {
          type: "plain_text_input",
          action_id: REASON_BLOCK,
          multiline: true,
          min_length: MIN_REASON_LENGTH,
          max_length: REASON_MAX,
        },
      },
    ],
  };
}

/** The reason typed into a reason modal (trimmed), or the field error to show. */
export function readReason(values: StateValues): string | FieldErrors {
  const reason = values[REASON_BLOCK]?.[REASON_BLOCK]?.value?.trim() ?? "";
  if (reason.length < MIN_REASON_LENGTH) {
    return { errors: { [REASON_BLOCK]: `Give a reason of at least ${MIN_REASON_LENGTH} characters.` } };
  }
  return reason.slice(0, REASON_MAX);
}

const option = (value: string, text = value): PlainTextOption => ({
  text: { type: "plain_text", text },
  value,
});

export interface DeclareIncidentForm {
  /** The configured default, preselected unless `environment` says otherwise. */
  defaultEnvironment: Environment;
  channelId: string;
  environment?: Environment;
  /** Prefilled "what was exposed". */
  summary?: string;
}

/**
 * /key-compromised with no text: where, what, how found, how bad. Severity starts at "critical"
 * for production and "high" elsewhere.
 */
export function declareIncidentModal(form: DeclareIncidentForm): ModalView {
  const environment = form.environment ?? form.defaultEnvironment;
  const summary = form.summary?.trim() ? truncate(form.summary.trim(), TEXT_MAX) : undefined;
  return {
    type: "modal",
    callback_id: VIEW.declareIncident,
    title: { type: "plain_text", text: "Key compromised" },
    submit: { type: "plain_text", text: "Declare incident" },
    close: { type: "plain_text", text: "Cancel" },
    private_metadata: encodeMetadata({ workflowId: "", channelId: form.channelId }),
    blocks: [
      {
        type: "input",
        block_id: "environment",
        label: { type: "plain_text", text: "Environment" },
        element: {
          type: "static_select",
          action_id: "environment",
          options: ENVIRONMENTS.map((e) => option(e)),
          initial_option: option(environment),
        },
      },
      {
        type: "input",
        block_id: "summary",
        label: { type: "plain_text", text: "What was exposed" },
        hint: { type: "plain_text", text: "Which key, where it leaked, since when. Never paste the key." },
        element: {
          type: "plain_text_input",
          action_id: "summary",
          multiline: true,
          min_length: MIN_REASON_LENGTH,
          max_length: TEXT_MAX,
          ...(summary ? { initial_value: summary } : {}),
        },
      },
      {
        type: "input",
        block_id: "found_by",
        optional: true,
        label: { type: "plain_text", text: "How was it found" },
        element: { type: "plain_text_input", action_id: "found_by", max_length: TEXT_MAX },
      },
      {
        type: "input",
        block_id: "severity",
        label: { type: "plain_text", text: "Severity" },
        hint: { type: "plain_text", text: "Production defaults to critical." },
        element: {
          type: "static_select",
          action_id: "severity",
          options: SEVERITIES.map((s) => option(s)),
          initial_option: option(defaultSeverity(environment)),
        },
      },
    ],
  };
}

export interface DeclaredIncident {
  environment: Environment;
  severity: Severity;
  summary: string;
  foundBy: string | undefined;
}

/** The incident form's answers, or an error for each field that is missing or not one of ours. */
export function readDeclareIncident(values: StateValues): DeclaredIncident | FieldErrors {
  const errors: Record<string, string> = {};
  const environment = values.environment?.environment?.selected_option?.value ?? "";
  const severity = values.severity?.severity?.selected_option?.value ?? "";
  const summary = values.summary?.summary?.value?.trim() ?? "";
  const foundBy = values.found_by?.found_by?.value?.trim() || undefined;
  if (!isEnvironment(environment)) errors.environment = "Choose an environment.";
  if (!(SEVERITIES as readonly string[]).includes(severity)) errors.severity = "Choose a severity.";
  if (summary.length < MIN_REASON_LENGTH) errors.summary = "Say what was exposed.";
  if (Object.keys(errors).length > 0) return { errors };
  return {
    environment: environment as Environment,
    severity: severity as Severity,
    summary: summary.slice(0, TEXT_MAX),
    foundBy: foundBy?.slice(0, TEXT_MAX),
  };
}
