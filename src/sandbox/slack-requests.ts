import { createHmac, randomBytes } from "node:crypto";
import { PERSONA_LIST, SANDBOX_CHANNEL, SANDBOX_WORKSPACE } from "./people.js";

/** Slack's request signature: v0=HMAC-SHA256(secret, "v0:<timestamp>:<body>") in hex. */
export function signSlackRequest(secret: string, timestamp: number, body: string): string {
  return `v0=${createHmac("sha256", secret).update(`v0:${timestamp}:${body}`).digest("hex")}`;
}

/**
 * A command's text as Slack sends it with should_escape (manifest.yml): `&`, `<` and `>` escaped,
 * and `@Name` of a person in the workspace as `<@U…|name>`.
 */
export function escapeCommandText(text: string): string {
  const escaped = text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
  return escaped.replace(/@([A-Za-z][\w.-]*)/g, (mention, name: string) => {
    const person = PERSONA_LIST.find((p) => p.name.toLowerCase() === name.toLowerCase());
    return person ? `<@${person.id}|${person.name.toLowerCase()}>` : mention;
  });
}

export interface BoltAnswer {
  status: number;
  /** The ack's JSON body, when it sent one (an ephemeral reply, a modal's field errors). */
  json: Record<string, unknown> | undefined;
}

/** What a person did on an element: the shapes of Slack's block_actions payload. */
export interface ElementAction {
  actionId: string;
  blockId: string;
  type: "button" | "users_select" | "static_select";
  value?: string;
  /** A message's ts, or the App Home's view (container). */
  container: { kind: "message"; ts: string; threadTs?: string } | { kind: "home"; viewId: string };
}

const { teamId, teamDomain, appId } = SANDBOX_WORKSPACE;
const FORM = "application/x-www-form-urlencoded";

const user = (userId: string) => ({
  id: userId,
  username: userId.toLowerCase(),
  name: userId.toLowerCase(),
  team_id: teamId,
});

/**
 * What Slack sends an app, built and signed as Slack does, posted to the Bolt receiver's
 * /slack/events: slash commands, block actions, view submissions and Events API callbacks.
 */
export class SlackRequests {
  constructor(private readonly options: { url: () => string; signingSecret: string }) {}

  command(userId: string, command: string, text: string, triggerId: string): Promise<BoltAnswer> {
    return this.post(
      new URLSearchParams({
        token: "deprecated-verification-token",
        team_id: teamId,
        team_domain: teamDomain,
        channel_id: SANDBOX_CHANNEL.id,
        channel_name: SANDBOX_CHANNEL.name,
        user_id: userId,
        user_name: userId.toLowerCase(),
        command,
        text,
        api_app_id: appId,
        is_enterprise_install: "false",
        response_url: `https://hooks.slack.invalid/commands/${teamId}/1/sandbox`,
        trigger_id: triggerId,
      }).toString(),
      FORM,
    );
  }

  blockAction(userId: string, action: ElementAction, triggerId: string): Promise<BoltAnswer> {
    const element =
      action.type === "button"
        ? { type: "button", value: action.value, text: { type: "plain_text", text: "" } }
        : action.type === "users_select"
          ? { type: "users_select", selected_user: action.value }
          : {
              type: "static_select",
              selected_option: { value: action.value, text: { type: "plain_text", text: action.value } },
            };
    const where =
      action.container.kind === "message"
        ? {
            channel: { id: SANDBOX_CHANNEL.id, name: SANDBOX_CHANNEL.name },
            container: {
              type: "message",
              message_ts: action.container.ts,
              channel_id: SANDBOX_CHANNEL.id,
              is_ephemeral: false,
              ...(action.container.threadTs ? { thread_ts: action.container.threadTs } : {}),
            },
            message: { type: "message", ts: action.container.ts, text: "" },
            response_url: `https://hooks.slack.invalid/actions/${teamId}/1/sandbox`,
          }
        : {
            container: { type: "view", view_id: action.container.viewId },
            view: { id: action.container.viewId, type: "home" },
          };
    return this.interaction(userId, triggerId, {
      type: "block_actions",
      ...where,
      actions: [
        {
          ...element,
          action_id: action.actionId,
          block_id: action.blockId,
          action_ts: (Date.now() / 1000).toFixed(6),
        },
      ],
    });
  }

  viewSubmission(
    userId: string,
    view: Record<string, unknown>,
    values: Record<string, Record<string, unknown>>,
    triggerId: string,
  ): Promise<BoltAnswer> {
    return this.interaction(userId, triggerId, {
      type: "view_submission",
      response_urls: [],
      view: {
        id: view.id,
        team_id: teamId,
        app_id: appId,
        type: "modal",
        callback_id: view.callback_id,
        private_metadata: view.private_metadata ?? "",
        state: { values },
        hash: randomBytes(4).toString("hex"),
        root_view_id: view.id,
      },
    });
  }

  appHomeOpened(userId: string): Promise<BoltAnswer> {
    return this.post(
      JSON.stringify({
        token: "deprecated-verification-token",
        team_id: teamId,
        api_app_id: appId,
        event: {
          type: "app_home_opened",
          user: userId,
          channel: `D${userId.slice(1)}`,
          tab: "home",
          event_ts: (Date.now() / 1000).toFixed(6),
        },
        type: "event_callback",
        event_id: `Ev${randomBytes(6).toString("hex").toUpperCase()}`,
        event_time: Math.floor(Date.now() / 1000),
        authorizations: [{ team_id: teamId, user_id: SANDBOX_WORKSPACE.botUserId, is_bot: true }],
      }),
      "application/json",
    );
  }

  /** An interaction payload with what every one carries (who, which app and team, a trigger), form-encoded. */
  private interaction(
    userId: string,
    triggerId: string,
    payload: Record<string, unknown>,
  ): Promise<BoltAnswer> {
    const full = {
      ...payload,
      user: user(userId),
      api_app_id: appId,
      token: "deprecated-verification-token",
      team: { id: teamId, domain: teamDomain },
      enterprise: null,
      is_enterprise_install: false,
      trigger_id: triggerId,
    };
    return this.post(new URLSearchParams({ payload: JSON.stringify(full) }).toString(), FORM);
  }

  private async post(body: string, contentType: string): Promise<BoltAnswer> {
    const timestamp = Math.floor(Date.now() / 1000);
    const response = await fetch(this.options.url(), {
      method: "POST",
      headers: {
        "content-type": contentType,
        "user-agent": "Slackbot 1.0 (+https://api.slack.com/robots)",
        "x-slack-request-timestamp": String(timestamp),
        "x-slack-signature": signSlackRequest(this.options.signingSecret, timestamp, body),
      },
      body,
    });
    const text = await response.text();
    let json: Record<string, unknown> | undefined;
    try {
      json = text ? (JSON.parse(text) as Record<string, unknown>) : undefined;
    } catch {
      json = undefined;
    }
    return { status: response.status, json };
  }
}
