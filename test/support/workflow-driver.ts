import { expect } from "vitest";
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

/** Drives one workflow through its Slack message the way people do: by clicking what is shown. */
export class WorkflowDriver {
  private constructor(
    private readonly app: TestBot,
    readonly workflowId: string,
    readonly messageTs: string,
    readonly channel: string,
  ) {}

  /** The workflow whose message is the newest top-level post in the channel. */
  static async latest(app: TestBot, channel = SECURITY_CHANNEL): Promise<WorkflowDriver> {
    const message = await eventually("the workflow message", async () =>
      app.slack
        .messages(channel)
        .filter((m) => !m.threadTs && m.blocks)
        .at(-1),
    );
    const workflow = await eventually("the workflow row", async () =>
      (await app.bot.service.openWorkflows()).find((w) => w.messageTs === message.ts),
    );
    return new WorkflowDriver(app, workflow.id, message.ts, channel);
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

  findAction(stepKey: string, actionId: string): { blockId: string; value?: string } | undefined {
    const blocks = (this.message().blocks ?? []) as Block[];
    for (const block of blocks) {
      if (block.type !== "actions" || !block.block_id?.endsWith(`|${stepKey}`)) continue;
      const element = block.elements?.find((e) => e.action_id === actionId);
      if (element)
        return { blockId: block.block_id, ...(element.value !== undefined ? { value: element.value } : {}) };
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
    await eventually(`the message to show ${stepKey} ${status}`, async () =>
      this.renderedAfter(stepKey, status),
    );
  }

  private renderedAfter(stepKey: string, status: StepStatus): boolean {
    const hasButtons = this.findAction(stepKey, "step_done") ?? this.findAction(stepKey, "step_run");
    if (status === "DONE" || status === "SKIPPED" || status === "RUNNING") return hasButtons === undefined;
    return true;
  }

  /** The text of the last ephemeral reply to `userId`. */
  async ephemeralTo(userId: string): Promise<string> {
    const call = await eventually("an ephemeral reply", async () =>
      this.app.slack
        .callsOf("chat.postEphemeral")
        .filter((c) => c.args.user === userId)
        .at(-1),
    );
    return String(call.args.text);
  }
}
