import type { App } from "@slack/bolt";
import { declareIncidentModal } from "../../views/modals.js";
import { WORKFLOW_DEFINITIONS } from "../../workflows/definitions/index.js";
import { backgroundQueue } from "../background.js";
import type { HandlerDeps } from "../deps.js";
import { openSealedModal } from "../modal-seal.js";
import { replyFor } from "../replies.js";
import { registerKeyopsCommand } from "./keyops.js";
import { checkNamedPerson } from "./named-person.js";
import { personRefs } from "./person-refs.js";

/**
 * One listener per workflow definition's command, plus /keyops. The request guard has checked the
 * workspace, the channel and the text already, and answers any error thrown here.
 */
export function register(app: App, deps: HandlerDeps): void {
  const inBackground = backgroundQueue(4);

  for (const definition of WORKFLOW_DEFINITIONS) {
    app.command(definition.command, async ({ command, ack, client }) => {
      let parsed: ReturnType<HandlerDeps["service"]["parseCommand"]>;
      try {
        parsed = deps.service.parseCommand(definition.kind, personRefs(command.text));
      } catch (error) {
        await ack({ response_type: "ephemeral", text: replyFor(error, deps.log, definition.command) });
        return;
      }
      await ack();
      if ("form" in parsed) {
        await openSealedModal(
          client,
          deps.seal,
          { triggerId: command.trigger_id, userId: command.user_id },
          declareIncidentModal({
            defaultEnvironment: deps.service.commandDefaults.environment,
            channelId: command.channel_id,
          }),
        );
        return;
      }
      if (parsed.inputs.subjectUserId)
        await checkNamedPerson(deps.lookups, deps.installation.botUserId, parsed.inputs.subjectUserId);
      const { created, workflow } = await inBackground(() =>
        deps.service.start({
          kind: definition.kind,
          inputs: parsed.inputs,
          requestedBy: command.user_id,
          channelId: command.channel_id,
          requestKey: `command:${command.trigger_id}`,
        }),
      );
      if (!created) deps.log.info("repeated command ignored", { workflow: workflow.number });
    });
  }

  registerKeyopsCommand(app, deps);
}
