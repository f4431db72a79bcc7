import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { App, LogLevel, verifySlackRequest } from "@slack/bolt";
import { ErrorCode, WebClient, WebClientEvent, LogLevel as WebLogLevel } from "@slack/web-api";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { freePort } from "../../src/net.js";
import { SlackClient, signSlackRequest } from "../support/slack/signed-requests.js";
import { SlackStandin, TEST_WORKSPACE } from "../support/slack/standin.js";

const SECRET = "test-signing-secret";
const CHANNEL = "C0CHANNEL";

interface Received {
  headers: IncomingHttpHeaders;
  body: string;
}

/** An HTTP server that keeps what it receives, to look at the requests SlackClient makes. */
async function startRecorder(): Promise<{ url: string; received: Received[]; server: Server }> {
  const received: Received[] = [];
  const server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    received.push({ headers: req.headers, body: Buffer.concat(chunks).toString("utf8") });
    res.end();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}/slack/events`, received, server };
}

function verify(request: Received, nowMilliseconds?: number): void {
  verifySlackRequest({
    signingSecret: SECRET,
    body: request.body,
    headers: {
      "x-slack-signature": String(request.headers["x-slack-signature"]),
      "x-slack-request-timestamp": Number(request.headers["x-slack-request-timestamp"]),
    },
    ...(nowMilliseconds !== undefined ? { nowMilliseconds } : {}),
  });
}

function payloadOf(request: Received): Record<string, unknown> {
  return JSON.parse(new URLSearchParams(request.body).get("payload") ?? "null");
}

describe("SlackClient signs requests as Slack does", () => {
  let recorder: Awaited<ReturnType<typeof startRecorder>>;
  let client: SlackClient;
  beforeAll(async () => {
    recorder = await startRecorder();
    client = new SlackClient({ url: recorder.url, signingSecret: SECRET });
  });
  afterAll(() => new Promise<void>((resolve) => recorder.server.close(() => resolve())));

  it("a slash command is a signed form that Bolt's verifySlackRequest accepts", async () => {
    await client.command("/keyops", "status", { userId: "U0ALICE", channelId: CHANNEL });
    const request = recorder.received.at(-1) as Received;
    expect(request.headers["content-type"]).toBe("application/x-www-form-urlencoded");
    expect(() => verify(request)).not.toThrow();
    const form = Object.fromEntries(new URLSearchParams(request.body));
    expect(form).toMatchObject({
      command: "/keyops",
      text: "status",
      user_id: "U0ALICE",
      channel_id: CHANNEL,
      team_id: TEST_WORKSPACE.teamId,
    });
    expect(form.trigger_id).toBeTruthy();
    expect(form.response_url).toMatch(/^https:\/\//);
  });

  it("is refused by verifySlackRequest when stale, tampered with or signed with another secret", async () => {
    await client.command("/keyops", "status", { userId: "U0ALICE", channelId: CHANNEL });
    const request = recorder.received.at(-1) as Received;
    const sixMinutesLater = Number(request.headers["x-slack-request-timestamp"]) * 1000 + 6 * 60_000;
    expect(() => verify(request, sixMinutesLater)).toThrow(/stale/);
    expect(() => verify({ ...request, body: `${request.body}&x=1` })).toThrow(/signature mismatch/);

    const body = "command=%2Fkeyops";
    const now = Math.floor(Date.now() / 1000);
    await client.send(body, "application/x-www-form-urlencoded", {
      signature: signSlackRequest("another-secret", now, body),
    });
    expect(() => verify(recorder.received.at(-1) as Received)).toThrow(/signature mismatch/);
    await client.send(body, "application/x-www-form-urlencoded", { timestamp: now - 6 * 60 });
    expect(() => verify(recorder.received.at(-1) as Received)).toThrow(/stale/);
  });

  it("block actions and view submissions are signed payload forms with unique trigger_ids", async () => {
    const common = { userId: "U0ALICE", channelId: CHANNEL, messageTs: "1700000000.000100", blockId: "b" };
    await client.blockAction({ ...common, actionId: "approve", value: "wf-1" });
    await client.blockAction({ ...common, actionId: "assign", selectedUser: "U0BOB" });
    await client.viewSubmission({
      userId: "U0ALICE",
      callbackId: "skip_step",
      privateMetadata: "wf-1",
      values: { reason: { reason: { type: "plain_text_input", value: "why" } } },
    });
    const [button, select, submission] = recorder.received.slice(-3) as [Received, Received, Received];
    for (const request of [button, select, submission]) {
      expect(request.headers["content-type"]).toBe("application/x-www-form-urlencoded");
      expect(() => verify(request)).not.toThrow();
    }
    expect(payloadOf(button)).toMatchObject({
      type: "block_actions",
      user: { id: "U0ALICE" },
      container: { type: "message", message_ts: common.messageTs, channel_id: CHANNEL },
      actions: [{ type: "button", action_id: "approve", block_id: "b", value: "wf-1" }],
    });
    expect(payloadOf(select)).toMatchObject({
      actions: [{ type: "users_select", action_id: "assign", selected_user: "U0BOB" }],
    });
    expect(payloadOf(submission)).toMatchObject({
      type: "view_submission",
      view: { callback_id: "skip_step", private_metadata: "wf-1", state: { values: { reason: {} } } },
    });
    const triggerIds = [button, select, submission].map((r) => payloadOf(r).trigger_id);
    expect(new Set(triggerIds).size).toBe(3);
  });
});

describe("SlackStandin answers a real WebClient", () => {
  let standin: SlackStandin;
  let client: WebClient;
  beforeAll(async () => {
    standin = await SlackStandin.start({
      users: { U0ALICE: { tz: "Europe/Berlin", email: "alice@example.com" } },
    });
    client = new WebClient("xoxb-test", {
      slackApiUrl: standin.url,
      logLevel: WebLogLevel.ERROR,
      retryConfig: { retries: 2, factor: 1, minTimeout: 10, maxTimeout: 50 },
    });
  });
  afterEach(() => standin.clear());
  afterAll(() => standin.close());

  it("posts, updates and threads messages; the calls are recorded with blocks decoded", async () => {
    const blocks = [{ type: "section", text: { type: "mrkdwn", text: "*v1*" } }];
    const posted = await client.chat.postMessage({ channel: CHANNEL, text: "v1", blocks });
    expect(posted).toMatchObject({ ok: true, channel: CHANNEL, message: { text: "v1" } });
    expect(posted.ts).toMatch(/^\d{10}\.\d{6}$/);
    const ts = posted.ts as string;

    const updatedBlocks = [{ type: "section", text: { type: "mrkdwn", text: "*v2*" } }];
    await client.chat.update({ channel: CHANNEL, ts, text: "v2", blocks: updatedBlocks });
    const reply = await client.chat.postMessage({ channel: CHANNEL, thread_ts: ts, text: "a reply" });
    expect(Number(reply.ts)).toBeGreaterThan(Number(ts));

    const call = standin.lastCallOf("chat.postMessage");
    expect(standin.callsOf("chat.postMessage")[0]?.args.blocks).toEqual(blocks);
    expect(call).toMatchObject({ args: { channel: CHANNEL, thread_ts: ts }, token: "xoxb-test" });
    expect(standin.message(CHANNEL, ts)).toMatchObject({ text: "v2", blocks: updatedBlocks });
    expect(standin.messages(CHANNEL).map((m) => m.text)).toEqual(["v2", "a reply"]);
    expect(standin.thread(CHANNEL, ts)).toEqual([
      { channel: CHANNEL, ts: reply.ts, threadTs: ts, text: "a reply" },
    ]);
  });

  it("answers like Slack for ephemerals, users, user groups, channels and views", async () => {
    standin.setUserGroup("S0ADMINS", ["U0ALICE", "U0BOB"]);
    const ephemeral = await client.chat.postEphemeral({ channel: CHANNEL, user: "U0ALICE", text: "psst" });
    expect(ephemeral.message_ts).toBeTruthy();
    expect(standin.lastCallOf("chat.postEphemeral")?.args).toMatchObject({ user: "U0ALICE", text: "psst" });

    const alice = await client.users.info({ user: "U0ALICE" });
    expect(alice.user).toMatchObject({
      id: "U0ALICE",
      tz: "Europe/Berlin",
      tz_label: expect.stringMatching(/Central European/),
      profile: { email: "alice@example.com" },
    });
    standin.setUser("U0BOB", {});
    expect((await client.users.info({ user: "U0BOB" })).user?.tz).toBe("America/New_York");
    await expect(client.users.info({ user: "U0NOBODY" })).rejects.toMatchObject({
      data: { error: "user_not_found" },
    });
    const found = await client.users.lookupByEmail({ email: "alice@example.com" });
    expect(found.user?.id).toBe("U0ALICE");
    await expect(client.users.lookupByEmail({ email: "x@example.com" })).rejects.toMatchObject({
      data: { error: "users_not_found" },
    });

    expect((await client.usergroups.users.list({ usergroup: "S0ADMINS" })).users).toEqual([
      "U0ALICE",
      "U0BOB",
    ]);
    await expect(client.usergroups.users.list({ usergroup: "S0NONE" })).rejects.toMatchObject({
      data: { error: "no_such_subteam" },
    });
    expect((await client.conversations.info({ channel: CHANNEL })).channel?.id).toBe(CHANNEL);

    const view = {
      type: "modal" as const,
      callback_id: "cb",
      title: { type: "plain_text" as const, text: "T" },
      blocks: [],
    };
    const opened = await client.views.open({ trigger_id: "1.2.3", view });
    expect(opened.view).toMatchObject({ id: expect.stringMatching(/^V/), callback_id: "cb" });
    const updated = await client.views.update({ view_id: opened.view?.id as string, view });
    expect(updated.view?.id).toBe(opened.view?.id);
    expect(await standin.openedView("cb")).toEqual({ privateMetadata: "", blocks: [] });
    expect((await client.apiCall("reactions.add", { name: "eyes" })).ok).toBe(true);
  });

  it("failNext surfaces as a platform error once; chat.update of an unknown message fails", async () => {
    standin.failNext("chat.postMessage", { error: "channel_not_found" });
    await expect(client.chat.postMessage({ channel: CHANNEL, text: "x" })).rejects.toMatchObject({
      code: ErrorCode.PlatformError,
      data: { ok: false, error: "channel_not_found" },
    });
    await expect(client.chat.postMessage({ channel: CHANNEL, text: "x" })).resolves.toMatchObject({
      ok: true,
    });
    expect(standin.callsOf("chat.postMessage").map((c) => c.error)).toEqual(["channel_not_found", undefined]);

    await expect(client.chat.update({ channel: CHANNEL, ts: "1.2", text: "x" })).rejects.toMatchObject({
      data: { error: "message_not_found" },
    });
  });

  it("a call without a token is not_authed", async () => {
    const anonymous = new WebClient(undefined, { slackApiUrl: standin.url, logLevel: WebLogLevel.ERROR });
    await expect(anonymous.auth.test()).rejects.toMatchObject({ data: { error: "not_authed" } });
  });

  it("rateLimitNext answers 429 with Retry-After; WebClient waits that long and the retry lands", async () => {
    const limited: number[] = [];
    client.on(WebClientEvent.RATE_LIMITED, (retryAfter: number) => limited.push(retryAfter));
    standin.rateLimitNext("chat.postMessage", 1);
    const started = Date.now();
    const posted = await client.chat.postMessage({ channel: CHANNEL, text: "after the limit" });
    expect(Date.now() - started).toBeGreaterThanOrEqual(1000);
    expect(limited).toEqual([1]);
    expect(standin.callsOf("chat.postMessage").map((c) => c.error)).toEqual(["ratelimited", undefined]);
    expect(standin.message(CHANNEL, posted.ts as string)?.text).toBe("after the limit");
  });

  it("files.uploadV2 uploads content that can be read back", async () => {
    const content = "# Post-mortem\n\nnon-ASCII survives: Zürich – ✓\n";
    const result = await client.filesUploadV2({
      channel_id: CHANNEL,
      thread_ts: "1700000000.000100",
      filename: "postmortem.md",
      title: "Post-mortem #1",
      content,
    });
    expect(result.ok).toBe(true);
    expect(standin.calls.map((c) => c.method)).toEqual([
      "files.getUploadURLExternal",
      "files.completeUploadExternal",
    ]);
    expect(standin.uploadedFiles().at(-1)).toEqual({
      fileId: expect.stringMatching(/^F/),
      filename: "postmortem.md",
      title: "Post-mortem #1",
      content,
      channelId: CHANNEL,
      threadTs: "1700000000.000100",
    });
  });

  it("waitFor resolves on a later call and times out naming what was recorded", async () => {
    const waiting = standin.waitFor("chat.postEphemeral", 5_000);
    await client.chat.postMessage({ channel: CHANNEL, text: "first" });
    await client.chat.postEphemeral({ channel: CHANNEL, user: "U0ALICE", text: "second" });
    await expect(waiting).resolves.toMatchObject({ args: { text: "second" } });
    await expect(standin.waitFor((c) => c.method === "views.open", "a modal", 50)).rejects.toThrow(
      "timed out after 50 ms waiting for a modal; recorded: chat.postMessage, chat.postEphemeral",
    );
  });
});

describe("SlackStandin with a bot token", () => {
  it("answers auth.test for its token and invalid_auth for any other, as Slack does", async () => {
    const standin = await SlackStandin.start({ botToken: "xoxb-right" });
    try {
      const client = (token: string) =>
        new WebClient(token, { slackApiUrl: standin.url, logLevel: WebLogLevel.ERROR });
      expect(await client("xoxb-right").auth.test()).toMatchObject({
        ok: true,
        team_id: TEST_WORKSPACE.teamId,
        user_id: TEST_WORKSPACE.botUserId,
      });
      await expect(client("xoxb-wrong").auth.test()).rejects.toMatchObject({
        data: { error: "invalid_auth" },
      });
      const bot = await client("xoxb-right").users.info({ user: TEST_WORKSPACE.botUserId });
      expect(bot.user).toMatchObject({ id: TEST_WORKSPACE.botUserId, is_bot: true });
    } finally {
      await standin.close();
    }
  });
});

describe("a real Bolt app between the stand-in and SlackClient", () => {
  let standin: SlackStandin;
  let app: App;
  let slack: SlackClient;
  beforeAll(async () => {
    standin = await SlackStandin.start();
    app = new App({
      token: "xoxb-bolt",
      signingSecret: SECRET,
      clientOptions: { slackApiUrl: standin.url },
      logLevel: LogLevel.ERROR,
    });
    app.command("/keyops", async ({ ack, command, client }) => {
      await ack();
      await client.chat.postEphemeral({
        channel: command.channel_id,
        user: command.user_id,
        text: command.text,
      });
    });
    const port = await freePort();
    await app.start(port);
    slack = new SlackClient({ url: `http://127.0.0.1:${port}/slack/events`, signingSecret: SECRET });
  });
  afterAll(async () => {
    await app.stop();
    await standin.close();
  });

  it("verifies its token with auth.test, acks a signed command and calls the Web API", async () => {
    expect(await standin.waitFor("auth.test", 5_000)).toMatchObject({ token: "xoxb-bolt" });
    const response = await slack.command("/keyops", "hello", { userId: "U0ALICE", channelId: CHANNEL });
    expect(response).toMatchObject({ status: 200, body: "" });
    const reply = await standin.waitFor("chat.postEphemeral", 5_000);
    expect(reply.args).toMatchObject({ channel: CHANNEL, user: "U0ALICE", text: "hello" });
  });

  it("refuses a bad signature and a stale timestamp with 401", async () => {
    const body = new URLSearchParams({ command: "/keyops", text: "x", user_id: "U0ALICE" }).toString();
    const now = Math.floor(Date.now() / 1000);
    const bad = await slack.send(body, "application/x-www-form-urlencoded", {
      signature: signSlackRequest("wrong", now, body),
    });
    expect(bad.status).toBe(401);
    const stale = await slack.send(body, "application/x-www-form-urlencoded", { timestamp: now - 6 * 60 });
    expect(stale.status).toBe(401);
  });
});
