import type { WebClient } from "@slack/web-api";
import type { UpdatedIntegration } from "../engine/guide-table.js";
import { renderApprovalRequest } from "../views/approval-request.js";
import { renderPostmortem } from "../views/postmortem.js";
import { renderRecentAccess } from "../views/recent-access.js";
import { renderThreadLine } from "../views/thread-line.js";
import { renderWorkflowMessage } from "../views/workflow-message.js";
import type { ApproverIds } from "../workflows/approvers.js";
import type { WorkflowPublisher } from "../workflows/ports.js";
import type { TimelineEvent, WorkflowSnapshot } from "../workflows/types.js";

/** A workflow in Slack: one message re-rendered in place, its thread as the log. */
export class SlackPublisher implements WorkflowPublisher {
  constructor(
    private readonly client: WebClient,
    private readonly now: () => Date = () => new Date(),
  ) {}

  async post(w: WorkflowSnapshot): Promise<string> {
    const response = await this.client.chat.postMessage({
      channel: w.channelId,
      ...renderWorkflowMessage(w, this.now()),
      unfurl_links: false,
    });
    if (!response.ts) throw new Error("chat.postMessage returned no ts");
    return response.ts;
  }

  async retract(w: WorkflowSnapshot): Promise<void> {
    if (!w.messageTs) return;
    await this.client.chat.delete({ channel: w.channelId, ts: w.messageTs });
  }

  async update(w: WorkflowSnapshot): Promise<void> {
    if (!w.messageTs) return;
    await this.client.chat.update({
      channel: w.channelId,
      ts: w.messageTs,
      ...renderWorkflowMessage(w, this.now()),
    });
  }

  async log(w: WorkflowSnapshot, events: TimelineEvent[]): Promise<void> {
    if (!w.messageTs) return;
    const titles = stepTitles(w);
    for (const event of events) {
      await this.client.chat.postMessage({
        channel: w.channelId,
        thread_ts: w.messageTs,
        text: renderThreadLine(event, event.stepKey ? titles[event.stepKey] : undefined),
        unfurl_links: false,
      });
    }
  }

  async recentAccess(w: WorkflowSnapshot, summary: string, rows: UpdatedIntegration[]): Promise<void> {
    await this.note(w, renderRecentAccess(summary, rows));
  }

  private async note(w: WorkflowSnapshot, text: string): Promise<void> {
    await this.client.chat.postMessage({
      channel: w.channelId,
      ...(w.messageTs ? { thread_ts: w.messageTs } : {}),
      text,
      unfurl_links: false,
    });
  }

  async requestApproval(w: WorkflowSnapshot, approvers: ApproverIds): Promise<void> {
    await this.note(w, renderApprovalRequest(w, approvers));
  }

  async permalink(w: WorkflowSnapshot): Promise<string | undefined> {
    if (!w.messageTs) return undefined;
    const response = await this.client.chat.getPermalink({ channel: w.channelId, message_ts: w.messageTs });
    return response.permalink ?? undefined;
  }

  async uploadPostmortem(w: WorkflowSnapshot, timeline: TimelineEvent[]): Promise<void> {
    if (!w.messageTs) throw new Error("the workflow message is not posted yet");
    await this.client.filesUploadV2({
      channel_id: w.channelId,
      thread_ts: w.messageTs,
      filename: `postmortem-${w.number}.md`,
      title: `Post-mortem #${w.number}: ${w.title}`.slice(0, 250),
      content: renderPostmortem(w, timeline, stepTitles(w)),
    });
  }
}

function stepTitles(w: WorkflowSnapshot): Record<string, string> {
  return Object.fromEntries(w.steps.map((s) => [s.key, s.title]));
}
