import type { App, ViewSubmitAction } from "@slack/bolt";
import type { WebClient } from "@slack/web-api";
import { decodeMetadata, VIEW } from "../../views/ids.js";
import { readDeclareIncident, readReason } from "../../views/modals.js";
import { definitionWithForm } from "../../workflows/definitions/index.js";
import type { WorkflowCommand } from "../../workflows/state-machine.js";
import type { HandlerDeps } from "../deps.js";
import { replyFor, tellUser } from "../replies.js";

type ReasonCommand = (stepKey: string, actor: string, reason: string) => WorkflowCommand;

/** Modals that end in one state-machine command, given a reason. */
const REASON_COMMANDS: Record<string, ReasonCommand> = {
  [VIEW.skipStep]: (stepKey, actor, reason) => ({ type: "skip", stepKey, actor, reason }),
  [VIEW.rejectApproval]: (stepKey, actor, reason) => ({ type: "reject", stepKey, actor, reason }),
  [VIEW.cancelWorkflow]: (_stepKey, actor, reason) => ({ type: "cancel", actor, reason }),
};

export function register(app: App, deps: HandlerDeps): void {
  for (const [callbackId, toCommand] of Object.entries(REASON_COMMANDS)) {
    app.view<ViewSubmitAction>(callbackId, async ({ ack, body, view, client }) => {
      const reason = readReason(view.state.values);
      if (typeof reason !== "string") {
        await ack({ response_action: "errors", errors: reason.errors });
        return;
      }
      await ack();
      const user = body.user.id;
      let channel: string | undefined;
      try {
        const metadata = decodeMetadata(view.private_metadata);
        channel = metadata.channelId;
        await deps.service.apply(
          metadata.workflowId,
          toCommand(metadata.stepKey ?? "", user, reason),
          `view:${view.id}`,
        );
      } catch (error) {
        if (channel) await tellUser(client, deps.log, { channel, user }, replyFor(error, deps.log, "modal"));
      }
    });
  }

  app.view<ViewSubmitAction>(VIEW.declareIncident, async ({ ack, body, view, client }) => {
    const read = readDeclareIncident(view.state.values);
    if ("errors" in read) {
      await ack({ response_action: "errors", errors: read.errors });
      return;
    }
    await ack();
    await startIncident(deps, client, body.user.id, view, read);
  });
}

async function startIncident(
  deps: HandlerDeps,
  client: WebClient,
  user: string,
  view: ViewSubmitAction["view"],
  read: Exclude<ReturnType<typeof readDeclareIncident>, { errors: unknown }>,
): Promise<void> {
  let channel: string | undefined;
  try {
    channel = decodeMetadata(view.private_metadata).channelId;
    if (!channel) throw new Error("the incident form lost its channel");
    await deps.service.start({
      kind: definitionWithForm("declare-incident").kind,
      inputs: {
        environments: [read.environment],
        severity: read.severity,
        ...(read.summary ? { summary: read.summary } : {}),
        ...(read.foundBy ? { foundBy: read.foundBy } : {}),
      },
      requestedBy: user,
      channelId: channel,
      requestKey: `view:${view.id}`,
    });
  } catch (error) {
    if (channel)
      await tellUser(client, deps.log, { channel, user }, replyFor(error, deps.log, "incident form"));
  }
}
