import type { WebClient } from "@slack/web-api";
import type { UpdatedIntegration } from "../engine/guide-table.js";
import { renderApprovalRequest } from "../views/approval-request.js";
import { renderPostmortem } from "../views/postmortem.js";
import { renderRecentAccess } from "../views/recent-access.js";
import { renderThreadLine } from "../views/thread-line.js";
import { renderWorkflowMessage } from "../views/workflow-message.js";
import type { ApproverIds } from "../workflows/approvers.js";
import { PublicationRefusedError, type WorkflowPublisher } from "../workflows/ports.js";
import type { TimelineEvent, WorkflowSnapshot } from "../workflows/types.js";

/** A workflow in Slack: one message re-rendered in place, its thread as the log. */
export class SlackPublisher implements WorkflowPublisher {
  constructor(
    private readonly client: WebClient,
    private readonly now: () => Date = () => new Date(),
  ) {}

  async post(w: WorkflowSnapshot, key: string): Promise<string> {
    const response = await refusalsForGood(() =>
      this.client.chat.postMessage({
        channel: w.channelId,
        ...renderWorkflowMessage(w, this.now()),
        metadata: publicationMetadata(key),
        unfurl_links: false,
      }),
    );
    return tsOf(response);
  }

  async update(w: WorkflowSnapshot): Promise<void> {
    if (!w.messageTs) return;
    const ts = w.messageTs;
    await refusalsForGood(() =>
      this.client.chat.update({ channel: w.channelId, ts, ...renderWorkflowMessage(w, this.now()) }),
    );
  }

  async log(w: WorkflowSnapshot, event: TimelineEvent, key: string): Promise<string> {
    const title = event.stepKey ? stepTitles(w)[event.stepKey] : undefined;
    return this.note(w, renderThreadLine(event, title), key);
  }

  async findPublished(
    w: WorkflowSnapshot,
    key: string,
    where: "channel" | "thread",
  ): Promise<string | undefined> {
    let cursor: string | undefined;
    for (let page = 0; page < FIND_PAGES; page++) {
      const response =
        where === "thread"
          ? w.messageTs
            ? await this.client.conversations.replies({
                channel: w.channelId,
                ts: w.messageTs,
                include_all_metadata: true,
                limit: 200,
                ...(cursor ? { cursor } : {}),
              })
            : undefined
          : await this.client.conversations.history({
              channel: w.channelId,
              // The message was posted after the workflow was created (give clocks a minute).
              oldest: String(Math.floor(w.createdAt.getTime() / 1000) - 60),
              include_all_metadata: true,
              limit: 200,
              ...(cursor ? { cursor } : {}),
            });
      const found = response?.messages?.find(
        (m) =>
          m.metadata?.event_type === PUBLICATION_EVENT &&
          (m.metadata.event_payload as { key?: unknown } | undefined)?.key === key,
      );
      if (found?.ts) return found.ts;
      cursor = response?.response_metadata?.next_cursor || undefined;
      if (!cursor) return undefined;
    }
    return undefined;
  }

  async recentAccess(w: WorkflowSnapshot, summary: string, rows: UpdatedIntegration[]): Promise<void> {
    await this.note(w, renderRecentAccess(summary, rows));
  }

  private async note(w: WorkflowSnapshot, text: string, key?: string): Promise<string> {
    const response = await refusalsForGood(() =>
      this.client.chat.postMessage({
        channel: w.channelId,
        ...(w.messageTs ? { thread_ts: w.messageTs } : {}),
        text,
        ...(key ? { metadata: publicationMetadata(key) } : {}),
        unfurl_links: false,
      }),
    );
    return tsOf(response);
  }

  async requestApproval(w: WorkflowSnapshot, approvers: ApproverIds, key: string): Promise<string> {
    return this.note(w, renderApprovalRequest(w, approvers), key);
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

/**
 * Slack's answers that no retry can change: the message is gone or can no longer be edited, or the
 * content is refused as it is. Not the channel's (not_in_channel, channel_not_found): inviting the
 * bot fixes those, so they are retried.
 */
const REFUSED_FOR_GOOD = new Set([
  "message_not_found",
  "cant_update_message",
  "edit_window_closed",
  "is_archived",
  "msg_too_long",
  "no_text",
  "invalid_blocks",
  "invalid_blocks_format",
  "too_many_attachments",
  "invalid_metadata_format",
  "invalid_metadata_schema",
]);

async function refusalsForGood<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    const code = (error as { data?: { error?: string } }).data?.error;
    if (code && REFUSED_FOR_GOOD.has(code)) throw new PublicationRefusedError(code);
    throw error;
  }
}

/** Message metadata naming the outbox entry a message delivers (Slack keeps it with the message). */
const PUBLICATION_EVENT = "keyops_publication";
/** Pages of history read when looking for an earlier attempt's message. */
const FIND_PAGES = 5;

function publicationMetadata(key: string) {
  return { event_type: PUBLICATION_EVENT, event_payload: { key } };
}

function tsOf(response: { ts?: string }): string {
  if (!response.ts) throw new Error("chat.postMessage returned no ts");
  return response.ts;
}

function stepTitles(w: WorkflowSnapshot): Record<string, string> {
  return Object.fromEntries(w.steps.map((s) => [s.key, s.title]));
}
