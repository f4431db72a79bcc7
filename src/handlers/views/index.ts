import type { App, ViewSubmitAction } from "@slack/bolt";
import { VIEW } from "../../views/ids.js";
import { readDeclareIncident, readReason } from "../../views/modals.js";
import { definitionWithForm } from "../../workflows/definitions/index.js";
import type { WorkflowCommand } from "../../workflows/state-machine.js";
import type { HandlerDeps } from "../deps.js";
import { modalOf } from "../request-guard.js";

type ReasonCommand = (stepKey: string, actor: string, reason: string) => WorkflowCommand;

/** Modals that end in one state-machine command, given a reason. */
const REASON_COMMANDS: Record<string, ReasonCommand> = {
  [VIEW.skipStep]: (stepKey, actor, reason) => ({ type: "skip", stepKey, actor, reason }),
  [VIEW.rejectApproval]: (stepKey, actor, reason) => ({ type: "reject", stepKey, actor, reason }),
  [VIEW.cancelWorkflow]: (_stepKey, actor, reason) => ({ type: "cancel", actor, reason }),
};

export function register(app: App, deps: HandlerDeps): void {
  // The request guard has opened each modal's sealed metadata (modalOf) and answers any error here.
  for (const [callbackId, toCommand] of Object.entries(REASON_COMMANDS)) {
    app.view<ViewSubmitAction>(callbackId, async ({ ack, body, view, context }) => {
      const reason = readReason(view.state.values);
      if (typeof reason !== "string") {
        await ack({ response_action: "errors", errors: reason.errors });
        return;
      }
      await ack();
      const metadata = modalOf(context);
      await deps.service.apply(
        metadata.workflowId,
        toCommand(metadata.stepKey ?? "", body.user.id, reason),
        `view:${view.id}`,
      );
    });
  }

  app.view<ViewSubmitAction>(VIEW.declareIncident, async ({ ack, body, view, context }) => {
    const read = readDeclareIncident(view.state.values);
    if ("errors" in read) {
      await ack({ response_action: "errors", errors: read.errors });
      return;
    }
    await ack();
    const channel = modalOf(context).channelId;
    if (!channel) throw new Error("the incident form lost its channel");
    await deps.service.start({
      kind: definitionWithForm("declare-incident").kind,
      inputs: {
        environments: [read.environment],
        severity: read.severity,
        ...(read.summary ? { summary: read.summary } : {}),
        ...(read.foundBy ? { foundBy: read.foundBy } : {}),
      },
      requestedBy: body.user.id,
      channelId: channel,
      requestKey: `view:${view.id}`,
    });
  });
}
