import { randomBytes } from "node:crypto";
import { afterAll, afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import {
  PagerDutyPager,
  type PagerDutyPagerSettings,
  PagingError,
  retryWithBackoff,
} from "../../src/integrations/pagerduty/pagerduty-pager.js";
import {
  parsePagerDutyWebhook,
  verifyPagerDutySignature,
  WebhookPayloadError,
} from "../../src/integrations/pagerduty/webhook.js";
import { createLogger } from "../../src/logger.js";
import { freePort } from "../../src/net.js";
import type { ChangeEvent, PageRequest } from "../../src/workflows/pager.js";
import { PagerDutyStandin, signPagerDutyWebhook, webhookBody } from "../support/pagerduty/standin.js";

const ROUTING_KEY = `R0UT${randomBytes(14).toString("hex")}`;
const API_TOKEN = `u+T0KEN${randomBytes(10).toString("hex")}`;
const POLICY_ID = "PKEYPOL";
const logLines: string[] = [];
const log = createLogger("debug", (line) => logLines.push(line));

let pd: PagerDutyStandin;
beforeEach(async () => {
  pd = await PagerDutyStandin.start({ apiToken: API_TOKEN });
});
afterEach(async () => {
  await pd.close();
});
afterAll(() => {
  expectNoSecrets(logLines.join(""));
});

function pagerFor(overrides: Partial<PagerDutyPagerSettings> = {}): PagerDutyPager {
  return new PagerDutyPager(
    {
      routingKey: ROUTING_KEY,
      apiToken: API_TOKEN,
      escalationPolicyId: POLICY_ID,
      eventsHost: pd.host,
      apiHost: pd.host,
      timeoutMs: 2_000,
      agent: pd.agent,
      ...overrides,
    },
    log,
  );
}

function expectNoSecrets(text: string): void {
  expect(text).not.toContain(ROUTING_KEY);
  expect(text).not.toContain(API_TOKEN);
}

async function pagingError(attempt: Promise<unknown>): Promise<PagingError> {
  const error = await attempt.then(
    () => undefined,
    (thrown: unknown) => thrown,
  );
  expect(error).toBeInstanceOf(PagingError);
  const failure = error as PagingError;
  expectNoSecrets(`${String(failure)} ${failure.stack} ${JSON.stringify(failure)}`);
  return failure;
}

async function timed<T>(run: () => Promise<T>): Promise<{ result: T; ms: number }> {
  const started = performance.now();
  const result = await run();
  return { result, ms: performance.now() - started };
}

const page: PageRequest = {
  dedupKey: "wf_01JKEYINCIDENT",
  summary: "Production encryption key compromised: rotation started by @ada",
  severity: "critical",
  source: "keyops",
  component: "encryption-key/production",
  details: { environment: "production", fingerprint: "kf_3a9c1e", requestedBy: "U0REQUESTR" },
  link: "https://keyops.slack.com/archives/C0SECURITY/p1700000000000100",
};

describe("PagerDutyPager events", () => {
  it("triggers over HTTPS with the routing key, dedup key, severity, details and link", async () => {
    await pagerFor().trigger(page);

    expect(pd.events()).toEqual([
      {
        routing_key: ROUTING_KEY,
        event_action: "trigger",
        dedup_key: page.dedupKey,
        payload: {
          summary: page.summary,
          source: "keyops",
          severity: "critical",
          component: "encryption-key/production",
          custom_details: page.details,
        },
        links: [{ href: page.link, text: "Open in Slack" }],
      },
    ]);
    expect(pd.requests()[0]?.headers["content-type"]).toMatch(/^application\/json/);
  });

  it("truncates the summary to PagerDuty's 1024 characters", async () => {
    const long = `${"Key incident ".repeat(200)}end`;
    const exact = "x".repeat(1024);
    const pager = pagerFor();
    await pager.trigger({ ...page, summary: long, link: undefined, component: undefined });
    await pager.trigger({ ...page, summary: exact });

    const [first, second] = pd.events();
    expect(first?.payload?.summary).toHaveLength(1024);
    expect(first?.payload?.summary).toBe(`${long.slice(0, 1023)}…`);
    expect(first).not.toHaveProperty("links");
    expect(first?.payload).not.toHaveProperty("component");
    expect(second?.payload?.summary).toBe(exact);
  });

  it("acknowledges and resolves by dedup key alone", async () => {
    const pager = pagerFor();
    await pager.acknowledge(page.dedupKey);
    await pager.resolve(page.dedupKey);

    expect(pd.events()).toEqual([
      { routing_key: ROUTING_KEY, event_action: "acknowledge", dedup_key: page.dedupKey },
      { routing_key: ROUTING_KEY, event_action: "resolve", dedup_key: page.dedupKey },
    ]);
  });

  it("refuses a dedup key PagerDuty would reject, without sending", async () => {
    const error = await pagingError(pagerFor().trigger({ ...page, dedupKey: "k".repeat(256) }));
    expect(error.retryable).toBe(false);
    expect(pd.requests()).toHaveLength(0);
  });

  it("does not trust the stand-in's certificate without its CA", async () => {
    const error = await pagingError(pagerFor({ agent: undefined }).trigger(page));
    expect(error.retryable).toBe(false);
    expect(error.message).toMatch(
      /^PagerDuty Events API: TLS failed, the server's certificate is not trusted \(\w+\)$/,
    );
  });
});

const change: ChangeEvent = {
  summary: "production key rotated to v4: 12,345 rows, digest unchanged",
  at: new Date("2026-03-02T10:11:12.345Z"),
  source: "keyops",
  details: { environment: "production", version: "v4", fingerprint: "3a9c1e07", rows: "12345" },
  link: "https://keyops.slack.com/archives/C0SECURITY/p1700000000000100",
};

describe("PagerDutyPager change events", () => {
  it("posts PagerDuty's change-event shape to /v2/change/enqueue over HTTPS", async () => {
    await pagerFor().change(change);

    expect(pd.changeEvents()).toEqual([
      {
        routing_key: ROUTING_KEY,
        payload: {
          summary: change.summary,
          timestamp: "2026-03-02T10:11:12.345Z",
          source: "keyops",
          custom_details: change.details,
        },
        links: [{ href: change.link, text: "Open in Slack" }],
      },
    ]);
    const [request] = pd.requests();
    expect(request).toMatchObject({ method: "POST", path: "/v2/change/enqueue", answer: 202 });
    expect(request?.headers["content-type"]).toMatch(/^application\/json/);
    // A change event is no alert: nothing on /v2/enqueue.
    expect(pd.events()).toHaveLength(0);
  });

  it("truncates the summary to 1024 characters and sends no link when there is none", async () => {
    const long = `${"rotated ".repeat(200)}end`;
    await pagerFor().change({ ...change, summary: long, link: undefined });

    const [sent] = pd.changeEvents();
    expect(sent?.payload.summary).toBe(`${long.slice(0, 1023)}…`);
    expect(sent?.links).toEqual([]);
  });

  it("fails like the other events: retryable on 500 and 429, not on 400, bounded by the timeout", async () => {
    const pager = pagerFor({ timeoutMs: 200 });
    pd.failNext(1, { status: 500 });
    const failed = await pagingError(pager.change(change));
    expect(failed).toMatchObject({ retryable: true, status: 500 });
    expect(failed.message).toBe("PagerDuty Change Events API failed on its side (HTTP 500)");
    pd.failNext(1, { status: 429 });
    expect(await pagingError(pager.change(change))).toMatchObject({ retryable: true, status: 429 });
    pd.failNext(1, { status: 400 });
    expect(await pagingError(pager.change(change))).toMatchObject({ retryable: false, status: 400 });
    pd.hangNext(1);
    const { result: hung, ms } = await timed(() => pagingError(pager.change(change)));
    expect(hung.message).toBe("PagerDuty Change Events API did not answer within 200 ms");
    expect(ms).toBeLessThan(1_500);
    // The 429 was not re-sent by pdjs: one request per call.
    expect(pd.requests()).toHaveLength(4);
    expect(pd.changeEvents()).toHaveLength(0);

    await retryWithBackoff(() => pager.change(change), { attempts: 2, delayMs: 10 });
    expect(pd.changeEvents()).toHaveLength(1);
  });

  it("does not trust the stand-in's certificate without its CA", async () => {
    const error = await pagingError(pagerFor({ agent: undefined }).change(change));
    expect(error.retryable).toBe(false);
    expect(pd.changeEvents()).toHaveLength(0);
  });
});

describe("PagerDutyPager failures", () => {
  it("raises a retryable PagingError on 429 after one request (pdjs's own retries are cut)", async () => {
    pd.failNext(1, { status: 429, retryAfter: 30 });
    const { result: error, ms } = await timed(() => pagingError(pagerFor().trigger(page)));

    expect(error).toMatchObject({ retryable: true, status: 429 });
    expect(error.message).toBe("PagerDuty Events API rate-limited the request (HTTP 429)");
    expect(pd.requests()).toHaveLength(1);
    expect(ms).toBeLessThan(1_000);
  });

  it("raises a retryable PagingError on 500, and on a non-JSON error page", async () => {
    pd.failNext(1, { status: 500 });
    pd.failNext(1, { status: 502, body: "<html><body>502 Bad Gateway</body></html>" });
    const pager = pagerFor();

    expect(await pagingError(pager.trigger(page))).toMatchObject({ retryable: true, status: 500 });
    const gateway = await pagingError(pager.acknowledge(page.dedupKey));
    expect(gateway.retryable).toBe(true);
    expect(gateway.message).toMatch(/not JSON/);
  });

  it("raises a non-retryable PagingError when the event is rejected (400)", async () => {
    pd.failNext(1, { status: 400 });
    expect(await pagingError(pagerFor().trigger(page))).toMatchObject({ retryable: false, status: 400 });
  });

  it("times out a request that is never answered", async () => {
    pd.hangNext(1);
    const { result: error, ms } = await timed(() => pagingError(pagerFor({ timeoutMs: 200 }).trigger(page)));

    expect(error.retryable).toBe(true);
    expect(error.message).toBe("PagerDuty Events API did not answer within 200 ms");
    expect(ms).toBeGreaterThanOrEqual(190);
    expect(ms).toBeLessThan(1_500);
  });

  it("raises a retryable PagingError when nothing listens", async () => {
    const error = await pagingError(
      pagerFor({ eventsHost: `127.0.0.1:${await freePort()}` }).resolve("wf_1"),
    );
    expect(error.retryable).toBe(true);
    expect(error.message).toBe("PagerDuty Events API could not be reached (ECONNREFUSED)");
  });
});

describe("retryWithBackoff", () => {
  it("retries rate-limited events with the configured spacing until PagerDuty recovers", async () => {
    pd.failNext(2, { status: 429 });
    const pager = pagerFor();
    const onRetry = vi.fn();

    await retryWithBackoff(() => pager.trigger(page), { attempts: 3, delayMs: 150, onRetry });

    const arrivals = pd.requests().map((r) => r.at);
    expect(arrivals).toHaveLength(3);
    for (let i = 1; i < arrivals.length; i++) {
      expect((arrivals[i] ?? 0) - (arrivals[i - 1] ?? 0)).toBeGreaterThanOrEqual(140);
    }
    expect(onRetry.mock.calls.map(([error, attempt]) => [error.status, attempt])).toEqual([
      [429, 1],
      [429, 2],
    ]);
    expect(pd.events()).toHaveLength(1);
  });

  it("gives up after the configured attempts with the last error", async () => {
    pd.failNext(5, { status: 500 });
    const pager = pagerFor();

    const error = await pagingError(
      retryWithBackoff(() => pager.trigger(page), { attempts: 3, delayMs: 10 }),
    );
    expect(error.status).toBe(500);
    expect(pd.requests()).toHaveLength(3);
  });

  it("does not retry what retrying cannot fix", async () => {
    pd.failNext(1, { status: 400 });
    const pager = pagerFor();
    await pagingError(retryWithBackoff(() => pager.trigger(page), { attempts: 3, delayMs: 10 }));
    expect(pd.requests()).toHaveLength(1);

    const bug = vi.fn(async () => {
      throw new TypeError("a bug");
    });
    await expect(retryWithBackoff(bug, { attempts: 3, delayMs: 10 })).rejects.toThrow("a bug");
    expect(bug).toHaveBeenCalledTimes(1);
  });
});

describe("PagerDutyPager.onCall", () => {
  it("lists distinct on-call users, lowest escalation level first, sending the token", async () => {
    pd.setOnCall([
      { name: "Carol Shaw", email: "carol@example.com", escalationLevel: 2 },
      { name: "Bob Kahn", email: "bob@example.com", escalationLevel: 1 },
      { name: "Ada Lovelace", email: "ada@example.com", escalationLevel: 1 },
      { name: "Bob Kahn", email: "bob@example.com", escalationLevel: 2 },
    ]);

    expect(await pagerFor().onCall()).toEqual([
      { name: "Bob Kahn", email: "bob@example.com" },
      { name: "Ada Lovelace", email: "ada@example.com" },
      { name: "Carol Shaw", email: "carol@example.com" },
    ]);
    const [request] = pd.requests();
    expect(request).toMatchObject({ method: "GET", path: "/oncalls" });
    expect(request?.headers.authorization).toBe(`Token token=${API_TOKEN}`);
    expect(request?.query.getAll("escalation_policy_ids[]")).toEqual([POLICY_ID]);
    expect(request?.query.getAll("include[]")).toEqual(["users"]);
  });

  it("asks nothing without a token or an escalation policy", async () => {
    expect(await pagerFor({ apiToken: undefined }).onCall()).toEqual([]);
    expect(await pagerFor({ escalationPolicyId: undefined }).onCall()).toEqual([]);
    expect(pd.requests()).toHaveLength(0);
  });

  it("logs and returns nobody when the token is refused or PagerDuty hangs", async () => {
    pd.setOnCall([{ name: "Ada Lovelace", escalationLevel: 1 }]);
    const linesBefore = logLines.length;

    expect(await pagerFor({ apiToken: "u+wrong-token-0000" }).onCall()).toEqual([]);
    expect(pd.requests()[0]?.answer).toBe(401);
    pd.hangNext(1);
    expect(await pagerFor({ timeoutMs: 200 }).onCall()).toEqual([]);

    const logged = logLines.slice(linesBefore).join("");
    expect(logged).toContain("PagerDuty REST API refused the credentials (HTTP 401)");
    expect(logged).toContain("PagerDuty REST API did not answer within 200 ms");
    expect(logged).not.toContain("u+wrong-token-0000");
    expectNoSecrets(logged);
  });
});

describe("verifyPagerDutySignature", () => {
  const secret = "whsec-test-0123456789abcdef";
  const body = webhookBody({ eventType: "incident.acknowledged", incidentKey: "wf_1", agentName: "Ada" });
  const good = signPagerDutyWebhook(secret, body);
  const other = signPagerDutyWebhook("an-older-secret", body);

  it("accepts a good signature, from a string or the raw bytes", () => {
    expect(verifyPagerDutySignature(body, good, secret)).toBe(true);
    expect(verifyPagerDutySignature(Buffer.from(body), good, secret)).toBe(true);
  });

  it("accepts when any one of several signatures matches (secret rotation)", () => {
    expect(verifyPagerDutySignature(body, `${other},${good}`, secret)).toBe(true);
    expect(verifyPagerDutySignature(body, `${good}, ${other}`, secret)).toBe(true);
  });

  it("rejects a wrong signature, a changed body, or a missing header or secret", () => {
    expect(verifyPagerDutySignature(body, other, secret)).toBe(false);
    expect(verifyPagerDutySignature(`${body} `, good, secret)).toBe(false);
    expect(verifyPagerDutySignature(body, undefined, secret)).toBe(false);
    expect(verifyPagerDutySignature(body, "", secret)).toBe(false);
    expect(verifyPagerDutySignature(body, good, "")).toBe(false);
  });

  it("ignores malformed parts and signatures of the wrong length", () => {
    const hex = good.slice(3);
    for (const header of [
      hex,
      "v1=",
      `v0=${hex}`,
      `v1=${hex.replace(/[0-9a-f]/g, "z")}`,
      `v1=${hex.slice(0, 62)}`,
      `v1=${hex}00`,
      `v1 = ${hex}`,
      ",,,",
      "garbage",
    ]) {
      expect(verifyPagerDutySignature(body, header, secret), header).toBe(false);
    }
    expect(verifyPagerDutySignature(body, `v1=${hex.slice(0, 10)},garbage,${good}`, secret)).toBe(true);
  });
});

describe("parsePagerDutyWebhook", () => {
  it("reads an acknowledgement by a person", () => {
    const body = webhookBody({
      eventType: "incident.acknowledged",
      incidentKey: "wf_01JKEYINCIDENT",
      agentName: "Ada Lovelace",
      incidentId: "PINC042",
      title: "Key incident",
      occurredAt: "2026-03-01T10:00:00.000Z",
    });

    expect(parsePagerDutyWebhook(Buffer.from(body))).toEqual({
      eventType: "incident.acknowledged",
      eventId: expect.any(String),
      occurredAt: "2026-03-01T10:00:00.000Z",
      agent: { id: "PAGENT1", name: "Ada Lovelace", type: "user_reference" },
      incident: {
        id: "PINC042",
        status: "acknowledged",
        incidentKey: "wf_01JKEYINCIDENT",
        htmlUrl: "https://keyops.pagerduty.com/incidents/PINC042",
        title: "Key incident",
        assignees: ["Ada Lovelace"],
      },
    });
  });

  it("reads a resolution, telling an integration's from a person's", () => {
    const event = parsePagerDutyWebhook(
      webhookBody({
        eventType: "incident.resolved",
        incidentKey: "wf_2",
        agentName: "KeyOps",
        agentType: "service_reference",
      }),
    );
    expect(event.incident.status).toBe("resolved");
    expect(event.agent).toMatchObject({ name: "KeyOps", type: "service_reference" });
  });

  it("reads escalations and reassignments with their new assignees", () => {
    const escalated = parsePagerDutyWebhook(
      webhookBody({
        eventType: "incident.escalated",
        incidentKey: "wf_3",
        assignees: ["Bob Kahn", "Carol Shaw"],
      }),
    );
    expect(escalated).toMatchObject({
      eventType: "incident.escalated",
      incident: { status: "triggered", incidentKey: "wf_3", assignees: ["Bob Kahn", "Carol Shaw"] },
    });
    expect(escalated.agent).toBeUndefined();

    const reassigned = parsePagerDutyWebhook(
      webhookBody({
        eventType: "incident.reassigned",
        incidentKey: "wf_3",
        agentName: "Bob Kahn",
        assignees: ["Dan Ops"],
      }),
    );
    expect(reassigned).toMatchObject({
      eventType: "incident.reassigned",
      agent: { name: "Bob Kahn" },
      incident: { status: "triggered", assignees: ["Dan Ops"] },
    });
  });

  it("throws a WebhookPayloadError for malformed JSON or a body that is not a v3 event", () => {
    expect(() => parsePagerDutyWebhook("{not json")).toThrow(
      new WebhookPayloadError("PagerDuty webhook body is not JSON"),
    );
    expect(() => parsePagerDutyWebhook("[]")).toThrow(WebhookPayloadError);
    expect(() => parsePagerDutyWebhook(JSON.stringify({ messages: [] }))).toThrow(/not a v3 event \(event /);
  });

  it("throws a WebhookPayloadError when the incident is missing or incomplete", () => {
    const full = JSON.parse(webhookBody({ eventType: "incident.acknowledged", incidentKey: "wf_4" }));

    const noData = structuredClone(full);
    delete noData.event.data;
    expect(() => parsePagerDutyWebhook(JSON.stringify(noData))).toThrow(
      "PagerDuty webhook incident.acknowledged carries no incident",
    );

    const note = structuredClone(full);
    note.event.event_type = "incident.annotated";
    note.event.data = {
      incident: { id: "PINC0001", type: "incident_reference" },
      content: "hi",
      type: "incident_note",
    };
    expect(() => parsePagerDutyWebhook(JSON.stringify(note))).toThrow(
      /incident.annotated carries no incident/,
    );

    const noKey = structuredClone(full);
    delete noKey.event.data.incident_key;
    expect(() => parsePagerDutyWebhook(JSON.stringify(noKey))).toThrow(
      "PagerDuty webhook incident.acknowledged has a bad incident (event.data.incident_key missing or of the wrong type)",
    );
  });
});
