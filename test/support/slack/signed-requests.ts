import { randomBytes } from "node:crypto";
import { signSlackRequest } from "../../../src/sandbox/slack-requests.js";
import { TEST_WORKSPACE } from "./standin.js";

export { signSlackRequest };

/** Unique, shaped like Slack's trigger_ids. */
export function newTriggerId(): string {
  return `${Date.now()}.${randomBytes(4).readUInt32BE()}.${randomBytes(8).toString("hex")}`;
}

export interface SendOptions {
  /** Seconds; defaults to now. */
  timestamp?: number;
  /** Sent instead of the correct signature ("" sends an empty header). */
  signature?: string;
  headers?: Record<string, string>;
}

export interface SlackResponse {
  status: number;
  body: string;
  json(): unknown;
}

export interface Actor {
  userId: string;
  channelId: string;
}

export type CommandOptions = Actor & {
  teamId?: string;
  triggerId?: string;
  responseUrl?: string;
  headers?: Record<string, string>;
};

export type BlockActionOptions = Actor & {
  messageTs: string;
  actionId: string;
  blockId: string;
  value?: string;
  /** Makes it a users_select action instead of a button. */
  selectedUser?: string;
  triggerId?: string;
  /** Another workspace than the stand-in's (a forged or misrouted request). */
  teamId?: string;
  enterpriseId?: string;
};

export interface ViewSubmissionOptions {
  userId: string;
  callbackId: string;
  privateMetadata: string;
  /** view.state.values: block_id → action_id → element state. */
  values: Record<string, Record<string, unknown>>;
  viewId?: string;
  triggerId?: string;
  teamId?: string;
}

export interface SignedRequest {
  /** Posts the signed bytes to the app (or to another replica's URL). */
  send(url?: string): Promise<SlackResponse>;
}

const FORM = "application/x-www-form-urlencoded";
const { teamId, teamDomain, appId } = TEST_WORKSPACE;

function interactionBody(payload: unknown): string {
  return new URLSearchParams({ payload: JSON.stringify(payload) }).toString();
}

function user(userId: string) {
  return { id: userId, username: userId.toLowerCase(), name: userId.toLowerCase(), team_id: teamId };
}

/** Sends requests into the app's /slack/events exactly as Slack does: form bodies, signed. */
export class SlackClient {
  constructor(private readonly options: { url: string; signingSecret: string }) {}

  command(command: string, text: string, at: CommandOptions): Promise<SlackResponse> {
    const body = new URLSearchParams({
      token: "deprecated-verification-token",
      team_id: at.teamId ?? teamId,
      team_domain: teamDomain,
      channel_id: at.channelId,
      channel_name: "security",
      user_id: at.userId,
      user_name: at.userId.toLowerCase(),
      command,
      text,
      api_app_id: appId,
      is_enterprise_install: "false",
      response_url: at.responseUrl ?? `https://hooks.slack.invalid/commands/${teamId}/1/abc`,
      trigger_id: at.triggerId ?? newTriggerId(),
    }).toString();
    return this.send(body, FORM, at.headers ? { headers: at.headers } : {});
  }

  blockAction(a: BlockActionOptions): Promise<SlackResponse> {
    return this.blockActionRequest(a).send();
  }

  /** A signed block action that can be sent again byte for byte (a replay, or to another replica). */
  blockActionRequest(a: BlockActionOptions): SignedRequest {
    const action =
      a.selectedUser !== undefined
        ? { type: "users_select", action_id: a.actionId, block_id: a.blockId, selected_user: a.selectedUser }
        : {
            type: "button",
            action_id: a.actionId,
            block_id: a.blockId,
            value: a.value,
            text: { type: "plain_text", text: "x" },
          };
    return this.signed(
      interactionBody({
        type: "block_actions",
        user: user(a.userId),
        api_app_id: appId,
        token: "deprecated-verification-token",
        team: { id: a.teamId ?? teamId, domain: teamDomain },
        enterprise: a.enterpriseId ? { id: a.enterpriseId, name: "enterprise" } : null,
        is_enterprise_install: false,
        channel: { id: a.channelId, name: "security" },
        container: { type: "message", message_ts: a.messageTs, channel_id: a.channelId, is_ephemeral: false },
        message: { type: "message", ts: a.messageTs, text: "" },
        trigger_id: a.triggerId ?? newTriggerId(),
        response_url: `https://hooks.slack.invalid/actions/${teamId}/1/abc`,
        actions: [{ ...action, action_ts: (Date.now() / 1000).toFixed(6) }],
      }),
    );
  }

  viewSubmission(a: ViewSubmissionOptions): Promise<SlackResponse> {
    const viewId = a.viewId ?? `V${randomBytes(5).toString("hex").toUpperCase()}`;
    return this.interaction({
      type: "view_submission",
      user: user(a.userId),
      api_app_id: appId,
      token: "deprecated-verification-token",
      team: { id: a.teamId ?? teamId, domain: teamDomain },
      enterprise: null,
      is_enterprise_install: false,
      trigger_id: a.triggerId ?? newTriggerId(),
      response_urls: [],
      view: {
        id: viewId,
        team_id: teamId,
        app_id: appId,
        type: "modal",
        callback_id: a.callbackId,
        private_metadata: a.privateMetadata,
        state: { values: a.values },
        hash: randomBytes(4).toString("hex"),
        root_view_id: viewId,
      },
    });
  }

  /** Any interaction payload, form-encoded as `payload=<JSON>`. */
  interaction(payload: unknown): Promise<SlackResponse> {
    return this.send(interactionBody(payload), FORM);
  }

  /** Signs `body` once; each send() posts the same bytes with the same signature. */
  signed(body: string): SignedRequest {
    const timestamp = Math.floor(Date.now() / 1000);
    const signature = signSlackRequest(this.options.signingSecret, timestamp, body);
    return {
      send: (url = this.options.url) =>
        new SlackClient({ ...this.options, url }).send(body, FORM, { timestamp, signature }),
    };
  }

  /** Posts `body` as is, signed unless `signature` says otherwise. */
  async send(body: string, contentType: string, options: SendOptions = {}): Promise<SlackResponse> {
    const timestamp = options.timestamp ?? Math.floor(Date.now() / 1000);
    const response = await fetch(this.options.url, {
      method: "POST",
      headers: {
        "content-type": contentType,
        "user-agent": "Slackbot 1.0 (+https://api.slack.com/robots)",
        "x-slack-request-timestamp": String(timestamp),
        "x-slack-signature":
          options.signature ?? signSlackRequest(this.options.signingSecret, timestamp, body),
        ...options.headers,
      },
      body,
    });
    const text = await response.text();
    return { status: response.status, body: text, json: () => JSON.parse(text) };
  }
}
