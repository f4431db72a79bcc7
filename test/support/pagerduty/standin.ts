import { randomBytes, randomUUID } from "node:crypto";
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from "node:http";
import { Agent, createServer, type Server } from "node:https";
import { freePort } from "../../../src/net.js";
import { type LoopbackCertificates, loopbackCertificates } from "../../../src/sandbox/loopback-tls.js";

/** An Events API v2 body as PagerDuty received it. */
export interface ReceivedEvent {
  routing_key: string;
  event_action: "trigger" | "acknowledge" | "resolve";
  dedup_key?: string;
  payload?: {
    summary: string;
    source: string;
    severity: string;
    component?: string;
    custom_details?: Record<string, unknown>;
  };
  links?: { href: string; text?: string }[];
}

/** A change event (`POST /v2/change/enqueue`) as PagerDuty received it. */
export interface ReceivedChangeEvent {
  routing_key: string;
  payload: {
    summary: string;
    timestamp?: string;
    source?: string;
    custom_details?: Record<string, unknown>;
  };
  links?: { href: string; text?: string }[];
}

/** Every request the stand-in saw, answered or not. */
export interface ReceivedRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: IncomingHttpHeaders;
  body: unknown;
  /** performance.now() when the request arrived. */
  at: number;
  /** The status sent, or "hung" when failing on demand by never answering. */
  answer: number | "hung";
}

export interface OnCallEntry {
  name: string;
  email?: string;
  escalationLevel: number;
}

export interface FailOptions {
  status: number;
  /** Seconds, sent as Retry-After. */
  retryAfter?: number;
  /** Sent instead of a JSON error, e.g. a proxy's HTML page. */
  body?: string;
}

interface Hold {
  match: (request: ReceivedRequest) => boolean;
  arrived: () => void;
  gate: Promise<void>;
}

type Mishap = { kind: "fail"; options: FailOptions } | { kind: "hang" };

/**
 * PagerDuty's Events API v2 (alert events on /v2/enqueue, change events on /v2/change/enqueue)
 * and the REST calls KeyOps makes, over HTTPS on 127.0.0.1 with a
 * certificate from a throw-away CA. Clients trust it through `.agent` (or `.ca`).
 */
export class PagerDutyStandin {
  private readonly received: ReceivedRequest[] = [];
  private readonly mishaps: Mishap[] = [];
  private onCallEntries: OnCallEntry[] = [];
  private readonly holds: Hold[] = [];

  private constructor(
    private readonly server: Server,
    /** "127.0.0.1:PORT", for both eventsHost and apiHost. */
    readonly host: string,
    /** The CA certificate (PEM) the server's certificate chains to. */
    readonly ca: string,
    /** An agent trusting only that CA. */
    readonly agent: Agent,
    /** The REST token the stand-in accepts (`Authorization: Token token=…`). */
    readonly apiToken: string,
  ) {}

  /**
   * The bot's PagerDuty settings pointing at this stand-in: a fresh routing key, its REST token, an
   * escalation policy, quick retries, and the webhook secret when one is given.
   */
  settings(webhookSecret?: string): Record<string, string> {
    return {
      PAGERDUTY_ROUTING_KEY: `R${randomBytes(15).toString("hex")}`,
      PAGERDUTY_API_TOKEN: this.apiToken,
      PAGERDUTY_ESCALATION_POLICY_ID: "PPOLICY",
      PAGERDUTY_EVENTS_HOST: this.host,
      PAGERDUTY_API_HOST: this.host,
      PAGERDUTY_RETRY_DELAY_SECONDS: "0.05",
      ...(webhookSecret ? { PAGERDUTY_WEBHOOK_SECRET: webhookSecret } : {}),
    };
  }

  static async start(options: { apiToken?: string } = {}): Promise<PagerDutyStandin> {
    const tls = testCertificates();
    const port = await freePort();
    let standin: PagerDutyStandin | undefined;
    const server = createServer({ key: tls.key, cert: tls.cert }, (request, response) => {
      standin?.handle(request, response).catch(() => response.destroy());
    });
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, "127.0.0.1", () => resolve());
    });
    standin = new PagerDutyStandin(
      server,
      `127.0.0.1:${port}`,
      tls.ca,
      new Agent({ ca: tls.ca, keepAlive: false }),
      options.apiToken ?? `pd-token-${randomBytes(12).toString("hex")}`,
    );
    return standin;
  }

  /** Events PagerDuty accepted (202), in order. */
  events(): ReceivedEvent[] {
    return this.received
      .filter((r) => r.path === "/v2/enqueue" && r.answer === 202)
      .map((r) => r.body as ReceivedEvent);
  }

  /** Change events PagerDuty accepted (202), in order. */
  changeEvents(): ReceivedChangeEvent[] {
    return this.received
      .filter((r) => r.path === "/v2/change/enqueue" && r.answer === 202)
      .map((r) => r.body as ReceivedChangeEvent);
  }

  requests(): ReceivedRequest[] {
    return [...this.received];
  }

  setOnCall(entries: OnCallEntry[]): void {
    this.onCallEntries = [...entries];
  }

  /** The next `count` requests, to any path, get this error answer. */
  failNext(count: number, options: FailOptions): void {
    for (let i = 0; i < count; i++) this.mishaps.push({ kind: "fail", options });
  }

  /** The next `count` requests are read and never answered. */
  hangNext(count: number): void {
    for (let i = 0; i < count; i++) this.mishaps.push({ kind: "hang" });
  }

  /**
   * The next request `match` accepts waits, unanswered, until `release()`: a race made to happen.
   * `reached` settles when that request has arrived.
   */
  holdNext(match: (request: ReceivedRequest) => boolean): { reached: Promise<void>; release(): void } {
    let arrived = () => {};
    let release = () => {};
    const reached = new Promise<void>((resolve) => {
      arrived = resolve;
    });
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    this.holds.push({ match, arrived, gate });
    return { reached, release };
  }

  async close(): Promise<void> {
    this.agent.destroy();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const url = new URL(request.url ?? "/", "https://pagerduty.invalid");
    const record: ReceivedRequest = {
      method: request.method ?? "GET",
      path: url.pathname,
      query: url.searchParams,
      headers: request.headers,
      body: await readBody(request),
      at: performance.now(),
      answer: "hung",
    };
    this.received.push(record);
    const hold = this.holds.findIndex((h) => h.match(record));
    if (hold >= 0) {
      const [held] = this.holds.splice(hold, 1);
      held?.arrived();
      await held?.gate;
    }
    const send = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      record.answer = status;
      const text = typeof body === "string" ? body : JSON.stringify(body);
      const type = typeof body === "string" ? "text/html" : "application/json";
      response.writeHead(status, { "content-type": type, ...headers }).end(text);
    };

    const mishap = this.mishaps.shift();
    if (mishap?.kind === "hang") return;
    if (mishap?.kind === "fail") {
      const { status, retryAfter, body } = mishap.options;
      const headers: Record<string, string> =
        retryAfter === undefined ? {} : { "retry-after": String(retryAfter) };
      const answer =
        status === 429
          ? {
              status: "throttle event",
              message: "Requests for this service are arriving too quickly.  Please retry later.",
            }
          : { status: "error", message: "Internal error" };
      send(status, body ?? answer, headers);
      return;
    }

    if (record.method === "POST" && record.path === "/v2/enqueue") {
      const problems = eventProblems(record.body);
      if (problems.length > 0) {
        send(400, { status: "invalid event", message: "Event object is invalid", errors: problems });
      } else {
        const event = record.body as ReceivedEvent;
        send(202, {
          status: "success",
          message: "Event processed",
          dedup_key: event.dedup_key ?? randomUUID(),
        });
      }
      return;
    }
    if (record.method === "POST" && record.path === "/v2/change/enqueue") {
      const problems = changeEventProblems(record.body);
      if (problems.length > 0) {
        send(400, { status: "invalid event", message: "Event object is invalid", errors: problems });
      } else {
        send(202, { status: "success", message: "Change event processed" });
      }
      return;
    }
    if (record.method === "GET" && (record.path === "/oncalls" || record.path === "/users")) {
      if (request.headers.authorization !== `Token token=${this.apiToken}`) {
        send(401, { error: { message: "Unauthorized", code: 2006 } });
      } else if (record.path === "/oncalls") {
        send(200, this.onCallList(url.searchParams));
      } else {
        send(200, this.userList(url.searchParams));
      }
      return;
    }
    send(404, { error: { message: "Not Found", code: 2100 } });
  }

  private onCallList(query: URLSearchParams) {
    const withUsers = query.getAll("include[]").includes("users");
    const policyId = query.getAll("escalation_policy_ids[]")[0] ?? "PPOLICY";
    const oncalls = this.onCallEntries.map((entry) => ({
      escalation_policy: { id: policyId, type: "escalation_policy_reference", summary: "Key incidents" },
      escalation_level: entry.escalationLevel,
      schedule: null,
      user: withUsers ? this.fullUser(entry) : this.userReference(entry),
      start: null,
      end: null,
    }));
    return { oncalls, limit: 100, offset: 0, more: false, total: null };
  }

  private userList(query: URLSearchParams) {
    const wanted = query.get("query")?.toLowerCase();
    const users = new Map<string, ReturnType<PagerDutyStandin["fullUser"]>>();
    for (const entry of this.onCallEntries) {
      const user = this.fullUser(entry);
      const text = `${user.name} ${user.email}`.toLowerCase();
      if (!wanted || text.includes(wanted)) users.set(user.id, user);
    }
    return { users: [...users.values()], limit: 25, offset: 0, more: false, total: null };
  }

  private userId(entry: OnCallEntry): string {
    const people = [...new Set(this.onCallEntries.map((e) => e.email ?? e.name))];
    return `PUSER${String(people.indexOf(entry.email ?? entry.name)).padStart(2, "0")}`;
  }

  private userReference(entry: OnCallEntry) {
    const id = this.userId(entry);
    return {
      id,
      type: "user_reference",
      summary: entry.name,
      self: `https://api.pagerduty.com/users/${id}`,
      html_url: `https://keyops.pagerduty.com/users/${id}`,
    };
  }

  private fullUser(entry: OnCallEntry) {
    return {
      ...this.userReference(entry),
      type: "user",
      name: entry.name,
      email: entry.email ?? `${entry.name.toLowerCase().replace(/\W+/g, ".")}@example.invalid`,
      time_zone: "Etc/UTC",
    };
  }
}

function eventProblems(body: unknown): string[] {
  if (typeof body !== "object" || body === null) return ["Event object is not valid JSON"];
  const event = body as Partial<ReceivedEvent>;
  const problems: string[] = [];
  if (!event.routing_key) problems.push("'routing_key' is missing or blank");
  if (!["trigger", "acknowledge", "resolve"].includes(event.event_action as string)) {
    problems.push("'event_action' is invalid");
  }
  if (event.dedup_key !== undefined && event.dedup_key.length > 255) {
    problems.push("'dedup_key' must be at most 255 characters");
  }
  if (event.event_action !== "trigger") return problems;
  const payload = event.payload;
  if (!payload?.summary) problems.push("'payload.summary' is missing or blank");
  else if (payload.summary.length > 1024) problems.push("'payload.summary' must be at most 1024 characters");
  if (!payload?.source) problems.push("'payload.source' is missing or blank");
  if (!["critical", "error", "warning", "info"].includes(payload?.severity as string)) {
    problems.push("'payload.severity' is invalid");
  }
  return problems;
}

/** PagerDuty's checks of a change event: a routing key, a summary (at most 1024), links with an href. */
function changeEventProblems(body: unknown): string[] {
  if (typeof body !== "object" || body === null) return ["Event object is not valid JSON"];
  const event = body as Partial<ReceivedChangeEvent> & { event_action?: unknown; dedup_key?: unknown };
  const problems: string[] = [];
  if (!event.routing_key) problems.push("'routing_key' is missing or blank");
  if (event.event_action !== undefined) problems.push("'event_action' is not a field of change events");
  const payload = event.payload;
  if (!payload?.summary) problems.push("'payload.summary' is missing or blank");
  else if (payload.summary.length > 1024) problems.push("'payload.summary' must be at most 1024 characters");
  if (payload?.timestamp !== undefined && Number.isNaN(Date.parse(payload.timestamp))) {
    problems.push("'payload.timestamp' is not a valid timestamp");
  }
  if (
    payload?.custom_details !== undefined &&
    (typeof payload.custom_details !== "object" || payload.custom_details === null)
  ) {
    problems.push("'payload.custom_details' must be an object");
  }
  if (event.links !== undefined) {
    if (!Array.isArray(event.links)) problems.push("'links' must be an array");
    else if (event.links.some((link) => typeof link?.href !== "string" || link.href === "")) {
      problems.push("'links[].href' is missing or blank");
    }
  }
  return problems;
}

async function readBody(request: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  const text = Buffer.concat(chunks).toString("utf8");
  if (text === "") return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

let certificates: LoopbackCertificates | undefined;

/** One CA and server certificate per test worker. */
function testCertificates(): LoopbackCertificates {
  certificates ??= loopbackCertificates();
  return certificates;
}

export {
  signPagerDutyWebhook,
  type WebhookBodyOptions,
  webhookBody,
} from "../../../src/sandbox/pagerduty-webhook-body.js";
