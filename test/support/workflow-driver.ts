import { expect } from "vitest";
import { STATUS_ICON } from "../../src/views/workflow-message.js";
import type { StepStatus, WorkflowSnapshot } from "../../src/workflows/types.js";
import { eventually, SECURITY_CHANNEL, type TestBot } from "./bot.js";
import type { SlackResponse } from "./slack/signed-requests.js";
import type { PostedMessage } from "./slack/standin.js";

interface ActionElement {
  action_id: string;
  value?: string;
  type: string;
}

interface Block {
  type: string;
  block_id?: string;
  elements?: ActionElement[];
}

/** What the driver needs of an app: the Slack stand-in, a signed client, and reads of workflows. */
export type DrivenApp = Pick<TestBot, "slack" | "client"> & {
  bot: { service: Pick<TestBot["bot"]["service"], "get" | "openWorkflows"> };
};

/** Drives one workflow through its Slack message the way people do: by clicking what is shown. */
export class WorkflowDriver {
  private callsBeforeClick = 0;

  private constructor(
    private readonly app: DrivenApp,
    readonly workflowId: string,
    readonly messageTs: string,
    readonly channel: string,
  ) {}

  /** Sends a slash command as `userId` and attaches to the workflow message it posts. */
  static async start(
    app: DrivenApp,
    command: string,
    text: string,
    userId: string,
    channel = SECURITY_CHANNEL,
  ): Promise<WorkflowDriver> {
    const topLevel = () => app.slack.messages(channel).filter((m) => !m.threadTs && m.blocks);
    const before = topLevel().length;
    const ack = await app.client.command(command, text, { userId, channelId: channel });
    expect(ack.status).toBe(200);
    expect(ack.body, "the command was refused").toBe("");
    const message = await eventually(`the message of ${command} ${text}`, async () => topLevel()[before]);
    const workflow = await eventually("the workflow row", async () =>
      (await app.bot.service.openWorkflows()).find((w) => w.messageTs === message.ts),
    );
    return new WorkflowDriver(app, workflow.id, message.ts, channel);
  }

  /** Attaches to a workflow the bot started by itself, once its message is posted. */
  static async attach(app: DrivenApp, workflowId: string): Promise<WorkflowDriver> {
    const workflow = await eventually("the workflow's message", async () => {
      const w = await app.bot.service.get(workflowId);
      return w.messageTs ? w : undefined;
    });
    return new WorkflowDriver(app, workflow.id, workflow.messageTs as string, workflow.channelId);
  }

  message(): PostedMessage {
    const message = this.app.slack.message(this.channel, this.messageTs);
    if (!message) throw new Error("the workflow message is gone");
    return message;
  }

  messageText(): string {
    return JSON.stringify(this.message().blocks);
  }

  thread(): PostedMessage[] {
    return this.app.slack.thread(this.channel, this.messageTs);
  }

  state(): Promise<WorkflowSnapshot> {
    return this.app.bot.service.get(this.workflowId);
  }

  async stepStatus(stepKey: string): Promise<StepStatus | undefined> {
    return (await this.state()).steps.find((s) => s.key === stepKey)?.status;
  }

  /** Finds the button on the message as rendered now and clicks it. */
  async click(userId: string, stepKey: string, actionId: string): Promise<SlackResponse> {
    this.callsBeforeClick = this.app.slack.calls.length;
    const element = this.findAction(stepKey, actionId);
    expect(element, `${actionId} on ${stepKey}`).toBeDefined();
    return this.app.client.blockAction({
      userId,
      channelId: this.channel,
      messageTs: this.messageTs,
      actionId,
      blockId: element?.blockId ?? "",
      ...(element?.value !== undefined ? { value: element.value } : {}),
    });
  }

  /** Clicks a button that asks for a reason (Skip…, Reject…, Cancel…) and submits the modal it opens. */
  async clickWithReason(
    userId: string,
    stepKey: string,
    actionId: string,
    reason: string,
  ): Promise<SlackResponse> {
    await this.click(userId, stepKey, actionId);
    const opened = await eventually("the reason modal", async () =>
      this.app.slack.calls.slice(this.callsBeforeClick).find((c) => c.method === "views.open" && !c.error),
    );
    const view = opened.args.view as { callback_id: string; private_metadata?: string };
    return this.app.client.viewSubmission({
      userId,
      callbackId: view.callback_id,
      privateMetadata: view.private_metadata ?? "",
      values: { reason: { reason: { type: "plain_text_input", value: reason } } },
    });
  }

  /** Picks `assignee` in the step's Assign… menu, as `userId`. */
  async assign(userId: string, stepKey: string, assignee: string): Promise<SlackResponse> {
    this.callsBeforeClick = this.app.slack.calls.length;
    const element = this.findAction(stepKey, "step_assign");
    expect(element, `step_assign on ${stepKey}`).toBeDefined();
    return this.app.client.blockAction({
      userId,
      channelId: this.channel,
      messageTs: this.messageTs,
      actionId: "step_assign",
      blockId: element?.blockId ?? "",
      selectedUser: assignee,
    });
  }

  /** A signed action the message does not offer (a forged or stale payload). */
  async forge(
    userId: string,
    stepKey: string,
    actionId: string,
    extra: { value?: string; selectedUser?: string } = {},
  ) {
    this.callsBeforeClick = this.app.slack.calls.length;
    return this.app.client.blockAction({
      userId,
      channelId: this.channel,
      messageTs: this.messageTs,
      actionId,
      blockId: `step|${this.workflowId}|${stepKey}`,
      ...extra,
    });
  }

  findAction(stepKey: string, actionId: string): { blockId: string; value?: string } | undefined {
    const blocks = (this.message().blocks ?? []) as Block[];
    for (const block of blocks) {
      const blockId = block.block_id ?? "";
      const named = blockId === stepKey || blockId.endsWith(`|${stepKey}`);
      if (block.type !== "actions" || !named) continue;
      const element = block.elements?.find((e) => e.action_id === actionId);
      if (element) return { blockId, ...(element.value !== undefined ? { value: element.value } : {}) };
    }
    return undefined;
  }

  async waitForStep(stepKey: string, status: StepStatus, timeoutMs = 30_000): Promise<void> {
    await eventually(
      `${stepKey} to be ${status}`,
      async () => (await this.stepStatus(stepKey)) === status,
      timeoutMs,
    );
    // The message is re-rendered after the commit: wait until it shows the new state too.
    const title = (await this.state()).steps.find((s) => s.key === stepKey)?.title ?? stepKey;
    const shown = `${STATUS_ICON[status]} *${title}*`;
    await eventually(`the message to show "${shown}"`, async () =>
      this.messageText().includes(JSON.stringify(shown).slice(1, -1)),
    );
  }

  async waitForAssignee(stepKey: string, userId: string): Promise<void> {
    await eventually(`${stepKey} assigned to ${userId}`, async () =>
      (await this.state()).steps.some((s) => s.key === stepKey && s.assignee === userId),
    );
  }

  async waitForStatus(status: WorkflowSnapshot["status"]): Promise<void> {
    await eventually(`the workflow to be ${status}`, async () => (await this.state()).status === status);
    await eventually(
      "the message to show it",
      async () => !this.messageText().includes("workflow_cancel") || status === "OPEN",
    );
  }

  /** The text of the first ephemeral reply to `userId` since the last click. */
  async ephemeralTo(userId: string): Promise<string> {
    const call = await eventually("an ephemeral reply", async () =>
      this.app.slack.calls
        .slice(this.callsBeforeClick)
        .find((c) => c.method === "chat.postEphemeral" && c.args.user === userId),
    );
    return String(call.args.text);
  }
}
