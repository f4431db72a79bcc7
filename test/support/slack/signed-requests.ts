import { createHmac, randomBytes } from "node:crypto";

/** Slack's request signature: v0=HMAC-SHA256(secret, "v0:<timestamp>:<body>") in hex. */
export function signSlackRequest(secret: string, timestamp: number, body: string): string {
  return `v0=${createHmac("sha256", secret).update(`v0:${timestamp}:${body}`).digest("hex")}`;
}

export interface SendOptions {
  timestamp?: number;
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

export type BlockActionOptions = Actor & {
  messageTs: string;
  actionId: string;
  blockId: string;
  value?: string;
  selectedUser?: string;
  triggerId?: string;
};

export interface SignedRequest {
  /** Posts the signed bytes to the app (or to another replica's URL). */
  send(url?: string): Promise<SlackResponse>;
}

function interactionBody(payload: unknown): string {
  return new URLSearchParams({ payload: JSON.stringify(payload) }).toString();
}

const FORM = "application/x-www-form-urlencoded";

/** Sends requests into the app's /slack/events exactly as Slack does: form bodies, signed. */
export class SlackClient {
  constructor(private readonly options: { url: string; signingSecret: string }) {}

  command(
    command: string,
    text: string,
    at: Actor & { triggerId?: string; headers?: Record<string, string> },
  ): Promise<SlackResponse> {
    const body = new URLSearchParams({
      token: "deprecated-verification-token",
      team_id: "T0TEST",
      team_domain: "keyops-test",
      channel_id: at.channelId,
      channel_name: "security",
      user_id: at.userId,
      user_name: at.userId.toLowerCase(),
      command,
      text,
      api_app_id: "A0KEYOPS",
      response_url: "https://hooks.slack.invalid/commands/T0TEST/1/abc",
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
        user: { id: a.userId, username: a.userId.toLowerCase(), team_id: "T0TEST" },
        api_app_id: "A0KEYOPS",
        team: { id: "T0TEST", domain: "keyops-test" },
        channel: { id: a.channelId, name: "security" },
        container: { type: "message", message_ts: a.messageTs, channel_id: a.channelId, is_ephemeral: false },
        message: { type: "message", ts: a.messageTs, text: "" },
        trigger_id: a.triggerId ?? newTriggerId(),
        response_url: "https://hooks.slack.invalid/actions/T0TEST/1/abc",
        actions: [{ ...action, action_ts: `${Date.now() / 1000}` }],
      }),
    );
  }

  viewSubmission(a: {
    userId: string;
    callbackId: string;
    privateMetadata: string;
    values: Record<string, Record<string, unknown>>;
    viewId?: string;
  }): Promise<SlackResponse> {
    return this.interaction({
      type: "view_submission",
      user: { id: a.userId, username: a.userId.toLowerCase(), team_id: "T0TEST" },
      api_app_id: "A0KEYOPS",
      team: { id: "T0TEST", domain: "keyops-test" },
      trigger_id: newTriggerId(),
      view: {
        id: a.viewId ?? `V${randomBytes(5).toString("hex").toUpperCase()}`,
        type: "modal",
        callback_id: a.callbackId,
        private_metadata: a.privateMetadata,
        state: { values: a.values },
        hash: randomBytes(4).toString("hex"),
      },
    });
  }

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

  async send(body: string, contentType: string, options: SendOptions = {}): Promise<SlackResponse> {
    const timestamp = options.timestamp ?? Math.floor(Date.now() / 1000);
    const response = await fetch(this.options.url, {
      method: "POST",
      headers: {
        "content-type": contentType,
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

export function newTriggerId(): string {
  return `${Date.now()}.${randomBytes(4).readUInt32BE()}.${randomBytes(8).toString("hex")}`;
}
