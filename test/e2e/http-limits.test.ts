import { request } from "node:http";
import { connect } from "node:net";
import { describe, expect, it } from "vitest";
import { HEADERS_TIMEOUT_MS, MAX_REQUEST_BODY, REQUEST_TIMEOUT_MS } from "../../src/http/limits.js";
import { REQUESTER, SECURITY_CHANNEL, useTestBot } from "../support/bot.js";

const app = useTestBot({
  env: {
    PAGERDUTY_ROUTING_KEY: "R0000000000000000000000000000000",
    PAGERDUTY_WEBHOOK_SECRET: "webhook-secret-for-limits",
    PAGERDUTY_EVENTS_HOST: "127.0.0.1:9",
    PAGERDUTY_API_HOST: "127.0.0.1:9",
  },
});
const FORM = "application/x-www-form-urlencoded";
const countWorkflows = () => app().database.db.prisma.workflow.count();

function signedForm(body: string, timestamp = Math.floor(Date.now() / 1000)) {
  return app().client.send(body, FORM, { timestamp });
}

/**
 * Streams `total` bytes of body in 64 KiB chunks, without a Content-Length, until the server
 * answers; returns the status and how many bytes had gone out by then.
 */
function streamUntilAnswered(path: string, total: number): Promise<{ status: number; sent: number }> {
  return new Promise((resolve, reject) => {
    let sent = 0;
    let answered = false;
    const req = request(
      {
        host: "127.0.0.1",
        port: app().bot.port,
        path,
        method: "POST",
        headers: {
          "content-type": path === "/slack/events" ? FORM : "application/json",
          "x-slack-request-timestamp": String(Math.floor(Date.now() / 1000)),
          "x-slack-signature": "v0=00",
          "x-pagerduty-signature": "v1=00",
        },
      },
      (res) => {
        answered = true;
        res.resume();
        resolve({ status: res.statusCode ?? 0, sent });
        req.destroy();
      },
    );
    req.on("error", (error) => {
      if (!answered) reject(error);
    });
    const chunk = Buffer.alloc(64 * 1024, "a");
    const pump = () => {
      while (!answered && sent < total) {
        sent += chunk.length;
        if (!req.write(chunk)) return void req.once("drain", pump);
      }
      if (!answered) req.end();
    };
    pump();
  });
}

/** Opens a connection, sends `bytes` and nothing more; resolves with ms until the server closed it. */
function closedAfter(bytes: string, giveUpMs: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const socket = connect(app().bot.port, "127.0.0.1", () => socket.write(bytes));
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`the server still held the connection after ${giveUpMs} ms`));
    }, giveUpMs);
    socket.on("data", () => undefined);
    socket.on("error", () => undefined);
    socket.on("close", () => {
      clearTimeout(timer);
      resolve(Date.now() - started);
    });
  });
}

describe("the HTTP edge", () => {
  it("refuses a signed timestamp more than five minutes in the future, as it does a stale one", async () => {
    const before = await countWorkflows();
    const body = new URLSearchParams({
      command: "/key-rotate",
      text: "staging",
      user_id: REQUESTER,
      channel_id: SECURITY_CHANNEL,
      team_id: "T0TEST",
      trigger_id: "1.2.3",
    }).toString();
    const now = Math.floor(Date.now() / 1000);
    expect((await signedForm(body, now + 3600)).status).toBe(401);
    expect((await signedForm(body, now + 10 * 365 * 86400)).status).toBe(401);
    expect((await signedForm(body, now + 6 * 60)).status).toBe(401);
    expect(await countWorkflows()).toBe(before);
  });

  it("answers a signed payload=null and other malformed payloads with 400, at once", async () => {
    const started = Date.now();
    for (const body of [
      "payload=null",
      "payload=%5B%5D",
      "payload=42",
      "payload=%7Bnot%20json",
      "payload=%7B%7D",
      "payload=a&payload=b",
      "nothing=here",
    ]) {
      const response = await signedForm(body);
      expect({ body, status: response.status }).toEqual({ body, status: 400 });
    }
    for (const json of ["null", "[]", '"text"', "{}", "{oops"]) {
      const response = await app().client.send(json, "application/json");
      expect({ json, status: response.status }).toEqual({ json, status: 400 });
    }
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it("refuses a body over the cap on both routes as it arrives, without reading it all", async () => {
    const total = 64 * 1024 * 1024;
    for (const path of ["/slack/events", "/pagerduty/webhook"]) {
      const streamed = await streamUntilAnswered(path, total);
      expect(streamed.status).toBe(413);
      expect(streamed.sent).toBeLessThan(total / 4);
    }
    // Declared too large: refused on the headers alone.
    const declared = await fetch(`http://127.0.0.1:${app().bot.port}/slack/events`, {
      method: "POST",
      headers: {
        "content-type": FORM,
        "x-slack-request-timestamp": String(Math.floor(Date.now() / 1000)),
        "x-slack-signature": "v0=00",
      },
      body: "a".repeat(MAX_REQUEST_BODY + 1),
    });
    expect(declared.status).toBe(413);
    // Under the cap, a well-formed signed request still goes through.
    expect(
      (await app().client.command("/keyops", "help", { userId: REQUESTER, channelId: SECURITY_CHANNEL }))
        .status,
    ).toBe(200);
  });

  it("closes a connection whose headers or body stop half-way within the timeouts", async () => {
    const giveUp = REQUEST_TIMEOUT_MS + 15_000;
    const halfHeaders = closedAfter("POST /slack/events HTTP/1.1\r\nHost: x\r\nX-Slack-Req", giveUp);
    const halfBody = closedAfter(
      `POST /pagerduty/webhook HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"event":`,
      giveUp,
    );
    const halfSlackBody = closedAfter(
      `POST /slack/events HTTP/1.1\r\nHost: x\r\nContent-Type: ${FORM}\r\nX-Slack-Request-Timestamp: ${Math.floor(Date.now() / 1000)}\r\nX-Slack-Signature: v0=00\r\nContent-Length: 1000\r\n\r\ncommand=`,
      giveUp,
    );
    const [headersMs, bodyMs, slackBodyMs] = await Promise.all([halfHeaders, halfBody, halfSlackBody]);
    // Node's defaults held them for 60 s and 300 s.
    expect(headersMs).toBeLessThan(HEADERS_TIMEOUT_MS + 10_000);
    expect(bodyMs).toBeLessThan(REQUEST_TIMEOUT_MS + 10_000);
    expect(slackBodyMs).toBeLessThan(REQUEST_TIMEOUT_MS + 10_000);
  }, 60_000);
});
