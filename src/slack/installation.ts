import { type AuthTestResponse, WebClient } from "@slack/web-api";
import { UserError } from "../errors.js";

/** The workspace (and Enterprise Grid org) the bot token belongs to, and the bot's own ids. */
export interface Installation {
  teamId: string;
  enterpriseId: string | undefined;
  /** An org-wide install: every workspace of the enterprise is ours. */
  enterpriseInstall: boolean;
  botUserId: string;
  botId: string;
}

/** Slack's answers for a token that is not (or no longer) valid. */
const BAD_TOKEN = new Set([
  "invalid_auth",
  "not_authed",
  "account_inactive",
  "token_revoked",
  "token_expired",
  "not_allowed_token_type",
]);

/**
 * auth.test with the bot token, once at start: a wrong token stops the bot with one clear line
 * (exit 2) instead of failing every request later. Against whatever SLACK_API_URL names.
 */
export async function checkBotToken(token: string, apiUrl: string | undefined): Promise<Installation> {
  const client = new WebClient(token, {
    ...(apiUrl ? { slackApiUrl: apiUrl } : {}),
    retryConfig: { retries: 2, factor: 1, minTimeout: 200, maxTimeout: 1000 },
    timeout: 10_000,
  });
  let answer: AuthTestResponse;
  try {
    answer = await client.auth.test();
  } catch (error) {
    const code = (error as { data?: { error?: string } }).data?.error;
    if (code && BAD_TOKEN.has(code))
      throw new UserError(`Slack refused SLACK_BOT_TOKEN (${code}): set the app's Bot User OAuth Token`);
    throw new UserError(
      `could not check SLACK_BOT_TOKEN with Slack (${code ?? (error as Error).message})`,
      1,
    );
  }
  if (!answer.team_id || !answer.user_id)
    throw new UserError("Slack's auth.test answer names no workspace or bot user", 1);
  return {
    teamId: answer.team_id,
    enterpriseId: answer.enterprise_id || undefined,
    enterpriseInstall: answer.is_enterprise_install === true,
    botUserId: answer.user_id,
    botId: answer.bot_id ?? "",
  };
}
