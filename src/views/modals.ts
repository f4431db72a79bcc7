import type { ModalView, PlainTextOption } from "@slack/types";
import { ENVIRONMENTS, type Environment, isEnvironment } from "../environments.js";
import { defaultSeverity } from "../workflows/command-input.js";
import { MIN_REASON_LENGTH } from "../workflows/state-machine.js";
import { SEVERITIES, type Severity } from "../workflows/types.js";
import { truncate } from "./format.js";
import { encodeMetadata, type StepRef, VIEW } from "./ids.js";

/** Slack's view.state.values: block_id -> action_id -> element state. */
export type StateValues = Record<
  string,
  Record<string, { value?: string | null; selected_option?: { value: string } | null }>
>;

const REASON_MAX = 500;
const TEXT_MAX = 2000;

export function skipStepModal(ref: StepRef, stepTitle: string, channelId: string): ModalView {
  return reasonModal(VIEW.skipStep, "Skip a step", "Skip", `Why skip *${stepTitle}*?`, {
    workflowId: ref.workflowId,
    stepKey: ref.stepKey,
    channelId,
  });
}

export function rejectApprovalModal(ref: StepRef, stepTitle: string, channelId: string): ModalView {
  return reasonModal(VIEW.rejectApproval, "Reject", "Reject", `Why reject *${stepTitle}*?`, {
    workflowId: ref.workflowId,
    stepKey: ref.stepKey,
    channelId,
  });
}

export function cancelWorkflowModal(workflowId: string, title: string, channelId: string): ModalView {
  return reasonModal(VIEW.cancelWorkflow, "Cancel workflow", "Cancel it", `Why cancel *${title}*?`, {
    workflowId,
    channelId,
  });
}

function reasonModal(
  callbackId: string,
  title: string,
  submit: string,
  question: string,
  metadata: Parameters<typeof encodeMetadata>[0],
): ModalView {
  return {
    type: "modal",
    callback_id: callbackId,
    title: { type: "plain_text", text: truncate(title, 24) },
    submit: { type: "plain_text", text: truncate(submit, 24) },
    close: { type: "plain_text", text: "Back" },
    private_metadata: encodeMetadata(metadata),
    blocks: [
      { type: "section", text: { type: "mrkdwn", text: truncate(question, 3000) } },
      {
        type: "input",
        block_id: "reason",
        label: { type: "plain_text", text: "Reason" },
        element: {
          type: "plain_text_input",
          action_id: "reason",
          multiline: true,
          min_length: MIN_REASON_LENGTH,
          max_length: REASON_MAX,
        },
      },
    ],
  };
}

/** The reason typed into a reason modal, or the field error to show. */
export function readReason(values: StateValues): string | { errors: Record<string, string> } {
  const reason = values.reason?.reason?.value?.trim() ?? "";
  if (reason.length < MIN_REASON_LENGTH) {
    return { errors: { reason: `Give a reason of at least ${MIN_REASON_LENGTH} characters.` } };
  }
  return reason.slice(0, REASON_MAX);
}

const option = (value: string, text = value): PlainTextOption => ({
  text: { type: "plain_text", text },
  value,
});

/** /key-compromised with no text: what, where, how found, how bad. */
export function declareIncidentModal(options: {
  defaultEnvironment: Environment;
  channelId: string;
}): ModalView {
  const environment = options.defaultEnvironment;
  return {
    type: "modal",
    callback_id: VIEW.declareIncident,
    title: { type: "plain_text", text: "Key compromised" },
    submit: { type: "plain_text", text: "Declare incident" },
    close: { type: "plain_text", text: "Cancel" },
    private_metadata: encodeMetadata({ workflowId: "", channelId: options.channelId }),
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
        element: { type: "plain_text_input", action_id: "summary", multiline: true, max_length: TEXT_MAX },
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

export function readDeclareIncident(
  values: StateValues,
): DeclaredIncident | { errors: Record<string, string> } {
  const errors: Record<string, string> = {};
  const environment = values.environment?.environment?.selected_option?.value ?? "";
  const severity = values.severity?.severity?.selected_option?.value ?? "";
  const summary = values.summary?.summary?.value?.trim() ?? "";
  const foundBy = values.found_by?.found_by?.value?.trim() || undefined;
  if (!isEnvironment(environment)) errors.environment = "Choose an environment.";
  if (!(SEVERITIES as readonly string[]).includes(severity)) errors.severity = "Choose a severity.";
  if (summary.length < MIN_REASON_LENGTH) errors.summary = "Say what was exposed.";
  if (Object.keys(errors).length > 0) return { errors };
  return { environment: environment as Environment, severity: severity as Severity, summary, foundBy };
}
