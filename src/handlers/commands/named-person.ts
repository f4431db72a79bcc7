import type { WebClient } from "@slack/web-api";
import { UserError } from "../../errors.js";

/**
 * A command that names a person (the one leaving, say) must name someone Slack knows in this
 * workspace, and a person: not KeyOps itself, not another bot. Deactivated people are fine (they
 * may have left already). When Slack does not answer (an outage), the command is refused and
 * nothing starts: an offboarding acts on the person it names, so it never acts on one unchecked.
 */
export async function checkNamedPerson(client: WebClient, botUserId: string, userId: string): Promise<void> {
  if (userId === botUserId)
    throw new UserError(`<@${userId}> is KeyOps itself, not a person. Nothing was changed.`);
  let user: { is_bot?: boolean; id?: string } | undefined;
  try {
    user = (await client.users.info({ user: userId })).user;
  } catch (error) {
    const code = (error as { data?: { error?: string } }).data?.error;
    if (code === "user_not_found" || code === "users_not_found")
      throw new UserError(
        `Slack does not know ${userId}: name a person in this workspace. Nothing was changed.`,
      );
    throw new UserError(
      `Slack did not answer whether <@${userId}> is a person, so nothing was started. Try again in a few minutes.`,
    );
  }
  if (!user)
    throw new UserError(
      `Slack does not know ${userId}: name a person in this workspace. Nothing was changed.`,
    );
  if (user.is_bot) throw new UserError(`<@${userId}> is a bot, not a person. Nothing was changed.`);
}
