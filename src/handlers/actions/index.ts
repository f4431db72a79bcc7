import type { App, BlockAction, ButtonAction, UsersSelectAction } from "@slack/bolt";
import type { ModalView } from "@slack/types";
import type { WebClient } from "@slack/web-api";
import {
  ACTION,
  decodeOfferRef,
  decodeStepRef,
  OFFER_ACTION_PATTERN,
  type StepRef,
  stepRefFromBlockId,
} from "../../views/ids.js";
import { cancelWorkflowModal, rejectApprovalModal, skipStepModal } from "../../views/modals.js";
import type { WorkflowCommand } from "../../workflows/state-machine.js";
import type { HandlerDeps } from "../deps.js";
import { openSealedModal } from "../modal-seal.js";

type StepCommand = (ref: StepRef, actor: string) => WorkflowCommand;

/** Buttons that change a step at once, each mapped to one state-machine command. */
const STEP_COMMANDS: Record<string, StepCommand> = {
  [ACTION.done]: (ref, actor) => ({ type: "complete", stepKey: ref.stepKey, actor }),
  [ACTION.run]: (ref, actor) => ({ type: "run", stepKey: ref.stepKey, actor }),
  [ACTION.retry]: (ref, actor) => ({ type: "retry", stepKey: ref.stepKey, actor }),
  [ACTION.approve]: (ref, actor) => ({ type: "approve", stepKey: ref.stepKey, actor }),
};

export function register(app: App, deps: HandlerDeps): void {
  for (const [actionId, toCommand] of Object.entries(STEP_COMMANDS)) {
    app.action<BlockAction<ButtonAction>>(actionId, async ({ ack, body, action }) => {
      await ack();
      await applyFromMessage(deps, body, () => {
        const ref = decodeStepRef(action.value ?? "");
        return { workflowId: ref.workflowId, command: toCommand(ref, body.user.id) };
      });
    });
  }

  app.action<BlockAction<UsersSelectAction>>(ACTION.assign, async ({ ack, body, action }) => {
    await ack();
    await applyFromMessage(deps, body, () => {
      const ref = stepRefFromBlockId(action.block_id);
      return {
        workflowId: ref.workflowId,
        command: {
          type: "assign",
          stepKey: ref.stepKey,
          actor: body.user.id,
          assignee: action.selected_user,
        },
      };
    });
  });

  // A workflow a step offers (the schedule review's "Start /key-rotate production"), started as if
  // the clicker had typed its command, in the same channel.
  app.action<BlockAction<ButtonAction>>(OFFER_ACTION_PATTERN, async ({ ack, body, action }) => {
    await ack();
    const ref = decodeOfferRef(action.value ?? "");
    await deps.service.startOffered(
      ref.workflowId,
      ref.stepKey,
      ref.index,
      body.user.id,
      `action:${body.trigger_id}`,
    );
  });

  const PAGE_BUTTONS = {
    [ACTION.pageAcknowledge]: deps.paging.acknowledgeFromSlack,
    [ACTION.pageResolve]: deps.paging.resolveFromSlack,
    [ACTION.pageAgain]: deps.paging.pageAgain,
  };
  for (const [actionId, act] of Object.entries(PAGE_BUTTONS)) {
    app.action<BlockAction<ButtonAction>>(actionId, async ({ ack, body, action }) => {
      await ack();
      await act.call(deps.paging, action.value ?? "", body.user.id, `action:${body.trigger_id}`);
    });
  }

  // Skip, Reject and Cancel ask for a reason first: they open a modal and change nothing yet.
  app.action<BlockAction<ButtonAction>>(ACTION.skip, async ({ ack, body, action, client }) => {
    await ack();
    await openReasonModal(deps, client, body, async (channelId) => {
      const ref = decodeStepRef(action.value ?? "");
      const w = await deps.service.get(ref.workflowId);
      return skipStepModal(ref, stepTitle(w.steps, ref.stepKey), channelId);
    });
  });
  app.action<BlockAction<ButtonAction>>(ACTION.reject, async ({ ack, body, action, client }) => {
    await ack();
    await openReasonModal(deps, client, body, async (channelId) => {
      const ref = decodeStepRef(action.value ?? "");
      const w = await deps.service.get(ref.workflowId);
      return rejectApprovalModal(ref, stepTitle(w.steps, ref.stepKey), channelId);
    });
  });
  app.action<BlockAction<ButtonAction>>(ACTION.cancel, async ({ ack, body, action, client }) => {
    await ack();
    await openReasonModal(deps, client, body, async (channelId) => {
      const w = await deps.service.get(action.value ?? "");
      return cancelWorkflowModal(w.id, w.title, channelId);
    });
  });
}

async function applyFromMessage(
  deps: HandlerDeps,
  body: BlockAction,
  parse: () => { workflowId: string; command: WorkflowCommand },
): Promise<void> {
  const { workflowId, command } = parse();
  await deps.service.apply(workflowId, command, `action:${body.trigger_id}`);
}

async function openReasonModal(
  deps: HandlerDeps,
  client: WebClient,
  body: BlockAction,
  build: (channelId: string) => Promise<ModalView>,
): Promise<void> {
  const channel = body.channel?.id ?? body.container?.channel_id ?? "";
  await openSealedModal(
    client,
    deps.seal,
    { triggerId: body.trigger_id, userId: body.user.id },
    await build(channel),
  );
}

function stepTitle(steps: { key: string; title: string }[], key: string): string {
  return steps.find((s) => s.key === key)?.title ?? key;
}
