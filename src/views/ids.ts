/** Every action id, modal callback id and ref format the bot's surfaces use, in one place. */

export const ACTION = {
  done: "step_done",
  skip: "step_skip",
  assign: "step_assign",
  run: "step_run",
  approve: "step_approve",
  reject: "step_reject",
  retry: "step_retry",
  cancel: "workflow_cancel",
  pageAcknowledge: "page_acknowledge",
  pageResolve: "page_resolve",
  pageAgain: "page_again",
  startOffered: "workflow_start_offered",
} as const;

export const VIEW = {
  skipStep: "skip_step",
  rejectApproval: "reject_approval",
  cancelWorkflow: "cancel_workflow",
  declareIncident: "declare_incident",
} as const;

export interface StepRef {
  workflowId: string;
  stepKey: string;
}

const SEPARATOR = "|";
const STEP_BLOCK_PREFIX = "step|";

export function encodeStepRef(ref: StepRef): string {
  return `${ref.workflowId}${SEPARATOR}${ref.stepKey}`;
}

export function decodeStepRef(text: string): StepRef {
  const at = text.indexOf(SEPARATOR);
  const workflowId = text.slice(0, at);
  const stepKey = text.slice(at + 1);
  if (at <= 0 || stepKey === "" || stepKey.includes(SEPARATOR)) throw new MalformedRefError();
  return { workflowId, stepKey };
}

/** The action id of a step's offer button (unique within its actions block, as Slack requires). */
export const offerActionId = (index: number) => `${ACTION.startOffered}_${index}`;
export const OFFER_ACTION_PATTERN = new RegExp(`^${ACTION.startOffered}_\\d{1,2}$`);

/** Which of a step's offered workflows a button starts. */
export interface OfferRef extends StepRef {
  index: number;
}

export function encodeOfferRef(ref: OfferRef): string {
  return `${encodeStepRef(ref)}#${ref.index}`;
}

export function decodeOfferRef(text: string): OfferRef {
  const at = text.lastIndexOf("#");
  const index = Number(text.slice(at + 1));
  if (at <= 0 || !/^\d{1,2}$/.test(text.slice(at + 1))) throw new MalformedRefError();
  return { ...decodeStepRef(text.slice(0, at)), index };
}

/** The actions block of a step: a users_select carries no value, so the block names the step. */
export function stepBlockId(ref: StepRef): string {
  return `${STEP_BLOCK_PREFIX}${encodeStepRef(ref)}`;
}

export function stepRefFromBlockId(blockId: string): StepRef {
  if (!blockId.startsWith(STEP_BLOCK_PREFIX)) throw new MalformedRefError();
  return decodeStepRef(blockId.slice(STEP_BLOCK_PREFIX.length));
}

/** Buttons whose value is the workflow's id itself (the rest carry a step ref). */
const WORKFLOW_VALUED: ReadonlySet<string> = new Set([
  ACTION.cancel,
  ACTION.pageAcknowledge,
  ACTION.pageResolve,
  ACTION.pageAgain,
]);
const STEP_VALUED: ReadonlySet<string> = new Set([
  ACTION.done,
  ACTION.skip,
  ACTION.run,
  ACTION.approve,
  ACTION.reject,
  ACTION.retry,
]);

/** The workflow an element of ours names (by its action_id's format); undefined for anything else. */
export function workflowIdOfAction(action: {
  action_id: string;
  block_id?: string;
  value?: string;
}): string | undefined {
  try {
    if (WORKFLOW_VALUED.has(action.action_id)) return action.value || undefined;
    if (STEP_VALUED.has(action.action_id)) return decodeStepRef(action.value ?? "").workflowId;
    if (action.action_id === ACTION.assign) return stepRefFromBlockId(action.block_id ?? "").workflowId;
    if (OFFER_ACTION_PATTERN.test(action.action_id)) return decodeOfferRef(action.value ?? "").workflowId;
  } catch (error) {
    if (!(error instanceof MalformedRefError)) throw error;
  }
  return undefined;
}

export interface ModalMetadata {
  workflowId: string;
  stepKey?: string;
  channelId?: string;
}

export function encodeMetadata(metadata: ModalMetadata): string {
  return JSON.stringify(metadata);
}

/** The metadata a modal was opened with; anything else (edited, foreign, truncated) is refused. */
export function decodeMetadata(text: string | undefined): ModalMetadata {
  let value: unknown;
  try {
    value = JSON.parse(text ?? "");
  } catch {
    throw new MalformedRefError();
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw new MalformedRefError();
  const { workflowId, stepKey, channelId } = value as Record<string, unknown>;
  const optionalString = (x: unknown) => x === undefined || typeof x === "string";
  if (typeof workflowId !== "string" || !optionalString(stepKey) || !optionalString(channelId)) {
    throw new MalformedRefError();
  }
  return {
    workflowId,
    ...(typeof stepKey === "string" ? { stepKey } : {}),
    ...(typeof channelId === "string" ? { channelId } : {}),
  };
}

export class MalformedRefError extends Error {
  override name = "MalformedRefError";
  constructor() {
    super("this button or form is not one of ours");
  }
}
