import { randomBytes } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { setTimeout as sleep } from "node:timers/promises";
import { afterEach, describe, expect, it } from "vitest";
import { APPROVER, eventually, REQUESTER, SECURITY_CHANNEL, useTestBot } from "../support/bot.js";
import { newTriggerId } from "../support/slack/signed-requests.js";
import type { SlackStandin } from "../support/slack/standin.js";

const app = useTestBot({ rows: 10, env: { KEYOPS_SHARED_ENVIRONMENTS: "none" } });

/** Slack retries an event it got no 200 for within 3 s; KeyOps must answer well before. */
const SLACK_PATIENCE_MS = 3000;
const SLOW_MS = 4000;

const RETRY = { "x-slack-retry-num": "1", "x-slack-retry-reason": "http_timeout" };

function homeOpened(userId: string, eventId: string): string {
  return JSON.stringify({
    token: "deprecated-verification-token",
    team_id: "T0TEST",
    api_app_id: "A0KEYOPS",
    type: "event_callback",
    event_id: eventId,
    event_time: Math.floor(Date.now() / 1000),
    event: { type: "app_home_opened", user: userId, channel: "D0HOME", tab: "home", event_ts: "1.2" },
  });
}

const newEventId = () => `Ev${randomBytes(5).toString("hex").toUpperCase()}`;

/**
 * Makes the Slack stand-in answer some Web API methods late (a slow or distant Slack). The stand-in
 * has no such switch: its request handler is wrapped here for the test's duration.
 */
function slowDown(slack: SlackStandin, delays: Record<string, number>): () => void {
  const standin = slack as unknown as { handle(req: IncomingMessage, res: ServerResponse): Promise<void> };
  const original = standin.handle;
  standin.handle = async function (this: unknown, req: IncomingMessage, res: ServerResponse) {
    const method = new URL(req.url ?? "/", "http://standin.invalid").pathname.replace(/^\/api\//, "");
    const delay = delays[method];
    if (delay) await sleep(delay);
    return original.call(this, req, res);
  };
  return () => {
    standin.handle = original;
  };
}

let restore: (() => void) | undefined;
afterEach(() => {
  restore?.();
  restore = undefined;
});

async function timed<T>(run: () => Promise<T>): Promise<{ result: T; ms: number }> {
  const started = performance.now();
  const result = await run();
  return { result, ms: performance.now() - started };
}

describe("Slack's Events API retries", () => {
  it("a retried app_home_opened (same event_id, x-slack-retry-num) publishes the App Home once", async () => {
    const { client, slack } = app();
    const user = "U0HOMERETR";
    const published = () => slack.callsOf("views.publish").filter((c) => c.args.user_id === user);
    const eventId = newEventId();
    const event = homeOpened(user, eventId);

    expect((await client.send(event, "application/json")).status).toBe(200);
    await eventually("the App Home", async () => published().length >= 1);
    const retried = await Promise.all([
      client.send(event, "application/json", { headers: RETRY }),
      client.send(event, "application/json", {
        headers: { "x-slack-retry-num": "2", "x-slack-retry-reason": "http_error" },
      }),
    ]);
    expect(retried.map((r) => r.status)).toEqual([200, 200]);
    await sleep(1000);
    expect(published()).toHaveLength(1);

    // Opening the Home again is a new event: published again.
    expect((await client.send(homeOpened(user, newEventId()), "application/json")).status).toBe(200);
    await eventually("the App Home again", async () => published().length === 2);
  });

  it("the first delivery and its retry arriving together (two replicas, a slow first answer) publish once", async () => {
    const { client, slack } = app();
    const user = "U0HOMERACE";
    const published = () => slack.callsOf("views.publish").filter((c) => c.args.user_id === user);
    const event = homeOpened(user, newEventId());
    const answers = await Promise.all([
      client.send(event, "application/json"),
      client.send(event, "application/json", { headers: RETRY }),
    ]);
    expect(answers.map((r) => r.status)).toEqual([200, 200]);
    await eventually("the App Home", async () => published().length >= 1);
    await sleep(1000);
    expect(published()).toHaveLength(1);
  });
});

describe("a slow listener never makes Slack retry a command", () => {
  it("/key-rotate is acknowledged at once while Slack's users.info and chat.postMessage take seconds", async () => {
    const { client, slack } = app();
    restore = slowDown(slack, { "users.info": SLOW_MS, "chat.postMessage": SLOW_MS });
    const before = slack.callsOf("chat.postMessage").length;
    const sentAt = Date.now();
    const triggerId = newTriggerId();
    const at = { userId: REQUESTER, channelId: SECURITY_CHANNEL, triggerId };

    const { result: answer, ms } = await timed(() => client.command("/key-rotate", "staging slow slack", at));
    expect(answer).toEqual(expect.objectContaining({ status: 200, body: "" }));
    expect(ms).toBeLessThan(1000);
    // A retry Slack might still send (say its first try timed out in transit) is also answered at once
    // and starts nothing more, although the first is still waiting on Slack.
    const { result: retry, ms: retryMs } = await timed(() =>
      client.command("/key-rotate", "staging slow slack", { ...at, headers: RETRY }),
    );
    expect(retry.status).toBe(200);
    expect(retryMs).toBeLessThan(1000);

    const posted = await eventually(
      "the workflow message",
      async () =>
        slack
          .callsOf("chat.postMessage")
          .slice(before)
          .find((c) => !c.args.thread_ts && JSON.stringify(c.args.blocks).includes("slow slack")),
      30_000,
    );
    // The work ran after the ack, through the slow post (the stand-in records a call once answered).
    expect(posted.at - sentAt).toBeGreaterThanOrEqual(SLOW_MS - 50);
    expect(ms).toBeLessThan(SLACK_PATIENCE_MS / 3);
    await sleep(SLOW_MS + 500);
    const workflows = await app().database.db.prisma.workflow.findMany({
      where: { requestKey: `command:${triggerId}` },
    });
    expect(workflows).toHaveLength(1);
    const posts = slack
      .callsOf("chat.postMessage")
      .filter((c) => !c.args.thread_ts && JSON.stringify(c.args.blocks).includes("slow slack"));
    expect(posts).toHaveLength(1);
  });

  it("/keyops status is acknowledged at once while its reply is slow", async () => {
    const { client, slack } = app();
    restore = slowDown(slack, { "chat.postEphemeral": SLOW_MS, "users.info": SLOW_MS });
    const before = slack.callsOf("chat.postEphemeral").length;
    const sentAt = Date.now();
    const { result: status, ms } = await timed(() =>
      client.command("/keyops", "status", { userId: APPROVER, channelId: SECURITY_CHANNEL }),
    );
    expect(status.status).toBe(200);
    expect(ms).toBeLessThan(1000);
    const reply = await eventually(
      "the status reply",
      async () =>
        slack
          .callsOf("chat.postEphemeral")
          .slice(before)
          .find((c) => c.args.user === APPROVER && c.args.text === "KeyOps status"),
      SLOW_MS + 10_000,
    );
    // The reply came seconds after the answer to Slack: the slow part ran after the ack.
    expect(reply.at - sentAt).toBeGreaterThanOrEqual(SLOW_MS - 50);
    expect(ms).toBeLessThan(SLACK_PATIENCE_MS / 3);
  });
});
