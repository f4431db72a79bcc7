import type { AllMiddlewareArgs, AnyMiddlewareArgs, Context, Middleware } from "@slack/bolt";
import type { WebClient } from "@slack/web-api";
import { NotFoundError, UserError } from "../errors.js";
import type { Logger } from "../logger.js";
import type { Installation } from "../slack/installation.js";
import { decodeMetadata, type ModalMetadata, workflowIdOfAction } from "../views/ids.js";
import { noticeModal } from "../views/notice.js";
import type { AuditEntry } from "../workflows/audit-log.js";
import { refuseUnsafeCharacters } from "../workflows/command-input.js";
import type { WorkflowSnapshot } from "../workflows/types.js";
import type { ModalSeal } from "./modal-seal.js";
import { replyFor, tellUser } from "./replies.js";

export interface RequestGuardDeps {
  installation: Pick<Installation, "teamId" | "enterpriseId" | "enterpriseInstall">;
  /** Channel ids commands, buttons and forms work in; empty means anywhere. */
  allowedChannels: string[];
  seal: ModalSeal;
  workflow(id: string): Promise<WorkflowSnapshot>;
  /** Writes one audit event (a refusal). */
  audit(entry: AuditEntry): Promise<void>;
  log: Logger;
}

/** One Slack request as the guard sees it: who, from which workspace, where, asking for what. */
interface SlackRequest {
  kind: "command" | "action" | "view" | "other";
  /** The command, action_id or callback_id (for the audit log). */
  what: string;
  userId: string | undefined;
  teamId: string | undefined;
  enterpriseId: string | undefined;
  /** Where an ephemeral reply goes. */
  channelId: string | undefined;
}

class Refusal extends Error {
  constructor(
    message: string,
    readonly workflowId?: string,
  ) {
    super(message);
  }
}

/** Text in one input of a form that may not be there: shown under that input, the form stays open. */
class FieldRefusal extends Refusal {
  constructor(
    message: string,
    readonly blockId: string,
  ) {
    super(message);
  }
}

const NOT_OURS = "This button or form is not one of ours, or has expired. Nothing was changed.";

/** The sealed metadata of the modal being submitted, checked by the guard. */
export function modalOf(context: Context): ModalMetadata {
  const metadata = context.modal as ModalMetadata | undefined;
  if (!metadata) throw new Error("no checked modal metadata on this request");
  return metadata;
}

/**
 * Every Slack request passes here before any listener, and every listener's error comes back
 * here. A request from another workspace or enterprise, from a channel outside
 * KEYOPS_ALLOWED_CHANNELS, a button whose workflow is not the message it sits on, a form whose
 * metadata the bot did not seal, or command or form text with control characters is refused:
 * an ephemeral reply (or the form shows why) and a `permission.refused` audit event; no listener
 * runs. A listener's error is answered in one place: its message when meant for people, a
 * generic line otherwise (logged).
 */
export function requestGuard(deps: RequestGuardDeps): Middleware<AnyMiddlewareArgs> {
  return async (args) => {
    const request = describe(args.body as Record<string, unknown>);
    try {
      await check(request, args, deps);
    } catch (error) {
      if (!(error instanceof Refusal || error instanceof UserError)) throw error;
      await refuse(request, args, deps, error);
      return;
    }
    try {
      await args.next();
    } catch (error) {
      const text = replyFor(error, deps.log, request.what);
      if (request.channelId && request.userId)
        await tellUser(args.client, deps.log, { channel: request.channelId, user: request.userId }, text);
    }
  };
}

async function check(
  request: SlackRequest,
  args: AnyMiddlewareArgs & AllMiddlewareArgs,
  deps: RequestGuardDeps,
) {
  checkWorkspace(request, deps.installation);
  const body = args.body as Record<string, unknown>;
  if (request.kind === "command") {
    refuseUnsafeCharacters(String(body.text ?? ""), "The command text");
    checkChannel(request.channelId, deps.allowedChannels);
  } else if (request.kind === "action") {
    checkChannel(request.channelId, deps.allowedChannels);
    await checkMessage(body, deps);
  } else if (request.kind === "view") {
    const metadata = openModal(body, request, deps);
    request.channelId = metadata.channelId;
    checkChannel(metadata.channelId, deps.allowedChannels);
    args.context.modal = metadata;
  }
}

function checkWorkspace(request: SlackRequest, installation: RequestGuardDeps["installation"]): void {
  const enterpriseOk = installation.enterpriseId
    ? request.enterpriseId === installation.enterpriseId
    : !request.enterpriseId;
  const teamOk = installation.enterpriseInstall || request.teamId === installation.teamId;
  if (!enterpriseOk || !teamOk) throw new Refusal("KeyOps is not installed for this workspace.");
}

function checkChannel(channelId: string | undefined, allowed: string[]): void {
  if (allowed.length === 0) return;
  if (channelId && allowed.includes(channelId)) return;
  throw new Refusal(`KeyOps commands work only in ${allowed.map((id) => `<#${id}>`).join(", ")}.`);
}

/** Every action names a workflow, and sits on that workflow's message in that workflow's channel. */
async function checkMessage(body: Record<string, unknown>, deps: RequestGuardDeps): Promise<void> {
  const container = (body.container ?? {}) as { type?: string; channel_id?: string; message_ts?: string };
  const actions = (Array.isArray(body.actions) ? body.actions : []) as {
    action_id: string;
    block_id?: string;
    value?: string;
  }[];
  if (container.type !== "message" || actions.length === 0) throw new Refusal(NOT_OURS);
  for (const action of actions) {
    const workflowId = workflowIdOfAction(action);
    if (!workflowId) throw new Refusal(NOT_OURS);
    const w = await deps.workflow(workflowId).catch((error: unknown) => {
      if (error instanceof NotFoundError) throw new Refusal(NOT_OURS);
      throw error;
    });
    if (w.channelId !== container.channel_id || w.messageTs !== container.message_ts)
      throw new Refusal(`That button is not on #${w.number}'s message. Nothing was changed.`, w.id);
  }
}

/** The modal's metadata when the bot sealed it for this user and this form; its text fields clean. */
function openModal(
  body: Record<string, unknown>,
  request: SlackRequest,
  deps: RequestGuardDeps,
): ModalMetadata {
  const view = (body.view ?? {}) as { private_metadata?: string; state?: { values?: unknown } };
  const opened = deps.seal.open(request.what, request.userId ?? "", view.private_metadata);
  if (opened === undefined) {
    deps.log.warn("a modal's metadata did not open", { callbackId: request.what, user: request.userId });
    throw new Refusal(NOT_OURS);
  }
  let metadata: ModalMetadata;
  try {
    metadata = decodeMetadata(opened);
  } catch {
    deps.log.warn("a sealed modal's metadata did not decode", { callbackId: request.what });
    throw new Refusal(NOT_OURS);
  }
  for (const [blockId, text] of inputTexts(view.state?.values)) {
    try {
      refuseUnsafeCharacters(text, "This field");
    } catch (error) {
      throw new FieldRefusal((error as Error).message, blockId);
    }
  }
  return metadata;
}

/** [block_id, text] of every text input in view.state.values. */
function inputTexts(values: unknown): [string, string][] {
  if (typeof values !== "object" || values === null) return [];
  return Object.entries(values as Record<string, Record<string, { value?: unknown }>>).flatMap(
    ([blockId, block]) =>
      Object.values(block ?? {}).flatMap((element): [string, string][] =>
        typeof element?.value === "string" ? [[blockId, element.value]] : [],
      ),
  );
}

async function refuse(
  request: SlackRequest,
  args: AnyMiddlewareArgs & AllMiddlewareArgs,
  deps: RequestGuardDeps,
  refusal: Refusal | UserError,
): Promise<void> {
  const text = refusal.message;
  deps.log.warn("Slack request refused", {
    kind: request.kind,
    what: request.what,
    user: request.userId,
    reason: text,
  });
  const ack = "ack" in args ? (args.ack as (response?: unknown) => Promise<void>) : undefined;
  if (request.kind === "command") await ack?.({ response_type: "ephemeral", text });
  else if (refusal instanceof FieldRefusal)
    await ack?.({ response_action: "errors", errors: { [refusal.blockId]: text } });
  else if (request.kind === "view")
    await ack?.({ response_action: "update", view: noticeModal(plain(text)) });
  else {
    await ack?.();
    if (request.kind === "action" && request.channelId && request.userId)
      await tellUser(
        args.client as WebClient,
        deps.log,
        { channel: request.channelId, user: request.userId },
        text,
      );
  }
  await deps
    .audit({
      ...(refusal instanceof Refusal && refusal.workflowId ? { workflowId: refusal.workflowId } : {}),
      actor: request.userId ?? "unknown",
      action: "permission.refused",
      detail: {
        attempted: `${request.kind} ${request.what}`.slice(0, 200),
        reason: text.slice(0, 300),
        ...(request.teamId ? { team: request.teamId } : {}),
        ...(request.channelId ? { channel: request.channelId } : {}),
      },
    })
    .catch((error: Error) => deps.log.error("auditing a refusal failed", { error: error.message }));
}

/** A modal shows plain text: channel links as their ids. */
function plain(text: string): string {
  return text.replace(/<#([A-Z0-9]+)>/g, "#$1");
}

function describe(body: Record<string, unknown>): SlackRequest {
  const team = body.team as { id?: string } | null | undefined;
  const enterprise = body.enterprise as { id?: string } | null | undefined;
  const user = body.user as { id?: string } | string | undefined;
  const common = {
    userId: typeof user === "string" ? user : (user?.id ?? stringOf(body.user_id)),
    teamId: stringOf(body.team_id) ?? team?.id ?? undefined,
    enterpriseId: stringOf(body.enterprise_id) ?? enterprise?.id ?? undefined,
  };
  if (typeof body.command === "string")
    return { kind: "command", what: body.command, channelId: stringOf(body.channel_id), ...common };
  if (body.type === "block_actions") {
    const first = (Array.isArray(body.actions) ? body.actions[0] : undefined) as
      | { action_id?: string }
      | undefined;
    const channel = body.channel as { id?: string } | undefined;
    const container = body.container as { channel_id?: string } | undefined;
    return {
      kind: "action",
      what: first?.action_id ?? "?",
      channelId: channel?.id ?? container?.channel_id,
      ...common,
    };
  }
  if (body.type === "view_submission") {
    const view = body.view as { callback_id?: string } | undefined;
    return { kind: "view", what: view?.callback_id ?? "?", channelId: undefined, ...common };
  }
  return { kind: "other", what: String(body.type ?? "?"), channelId: undefined, ...common };
}

function stringOf(value: unknown): string | undefined {
  return typeof value === "string" && value !== "" ? value : undefined;
}
