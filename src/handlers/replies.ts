import type { WebClient } from "@slack/web-api";
import { UserError } from "../errors.js";
import type { Logger } from "../logger.js";
import { slackMentions } from "../views/format.js";

export const INTERNAL_ERROR_REPLY =
  "Something went wrong on our side; it has been logged. Nothing was changed.";

/** The one-line reply for an error: its message when meant for people, a generic line otherwise. */
export function replyFor(error: unknown, log: Logger, where: string): string {
  if (error instanceof UserError) return slackMentions(error.message);
  log.error(`${where} failed`, { error: error instanceof Error ? error.message : String(error) });
  return INTERNAL_ERROR_REPLY;
}

/** Only the user sees it. Failing to tell them must not fail the request. */
export async function tellUser(
  client: WebClient,
  log: Logger,
  at: { channel: string; user: string; threadTs?: string },
  text: string,
): Promise<void> {
  try {
    await client.chat.postEphemeral({
      channel: at.channel,
      user: at.user,
      text,
      ...(at.threadTs ? { thread_ts: at.threadTs } : {}),
    });
  } catch (error) {
    log.warn("ephemeral reply failed", { error: (error as Error).message });
  }
}
