import type { Agent } from "node:https";
import { setTimeout as sleep } from "node:timers/promises";
import { api, event } from "@pagerduty/pdjs";
import type { Logger } from "../../logger.js";
import { truncate } from "../../text.js";
import type { ChangeEvent, OnCallPerson, PageRequest, Pager } from "../../workflows/pager.js";

export interface PagerDutyPagerSettings {
  /** Events API v2 integration key. A secret: never in messages or logs. */
  routingKey: string;
  /** REST API token for the on-call look-up. A secret: never in messages or logs. */
  apiToken?: string | undefined;
  escalationPolicyId?: string | undefined;
  /** host[:port]; PagerDuty's is events.pagerduty.com. */
  eventsHost: string;
  /** host[:port]; PagerDuty's is api.pagerduty.com. */
  apiHost: string;
  /** Per request, from sending to the whole answer read. */
  timeoutMs: number;
  /** TLS settings for both hosts (tests pass one trusting their CA). */
  agent?: Agent | undefined;
}

/** A paging call failed. The message is safe to show: it never holds the routing key or token. */
export class PagingError extends Error {
  override name = "PagingError";
  constructor(
    message: string,
    /** Trying again later may work (rate limit, server error, timeout, network). */
    readonly retryable: boolean,
    readonly status?: number,
  ) {
    super(message);
  }
}

export interface RetryOptions {
  /** Tries in all, the first included. */
  attempts: number;
  /** Fixed wait between tries: PagerDuty suggests 3 tries 30 s apart after a 429. */
  delayMs: number;
  onRetry?: (error: PagingError, attempt: number) => void;
}

/** Runs `send` until it succeeds, fails with a non-retryable error, or runs out of attempts. */
export async function retryWithBackoff<T>(send: () => Promise<T>, options: RetryOptions): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await send();
    } catch (error) {
      if (!(error instanceof PagingError) || !error.retryable || attempt >= options.attempts) throw error;
      options.onRetry?.(error, attempt);
      await sleep(options.delayMs);
    }
  }
}

type EventPayloadV2 = Parameters<typeof event>[0]["data"];

/** The body of `POST /v2/change/enqueue` (pdjs's ChangePayload, which it does not export by name). */
interface ChangePayload {
  routing_key: string;
  payload: { summary: string; timestamp: string; source: string; custom_details: Record<string, string> };
  links: { href: string; text: string }[];
}

const SUMMARY_MAX = 1024;
const DEDUP_KEY_MAX = 255;
const EVENTS_API = "PagerDuty Events API";
const CHANGE_EVENTS_API = "PagerDuty Change Events API";
const REST_API = "PagerDuty REST API";

/** Pages through PagerDuty: Events API v2 for the incident, REST for who is on call. */
export class PagerDutyPager implements Pager {
  readonly enabled = true;

  constructor(
    private readonly settings: PagerDutyPagerSettings,
    private readonly log: Logger,
  ) {}

  async trigger(page: PageRequest): Promise<void> {
    await this.sendEvent({
      routing_key: this.settings.routingKey,
      event_action: "trigger",
      dedup_key: page.dedupKey,
      payload: {
        summary: truncate(page.summary, SUMMARY_MAX),
        source: page.source,
        severity: page.severity,
        ...(page.component ? { component: page.component } : {}),
        custom_details: page.details,
      },
      ...(page.link ? { links: [{ href: page.link, text: "Open in Slack" }] } : {}),
    });
  }

  async acknowledge(dedupKey: string): Promise<void> {
    await this.sendEvent({
      routing_key: this.settings.routingKey,
      event_action: "acknowledge",
      dedup_key: dedupKey,
    });
  }

  async resolve(dedupKey: string): Promise<void> {
    await this.sendEvent({
      routing_key: this.settings.routingKey,
      event_action: "resolve",
      dedup_key: dedupKey,
    });
  }

  /**
   * One change event (`POST /v2/change/enqueue`, answered 202). Throws a PagingError like the
   * other events; the caller decides about retrying and must not let it fail what it reports.
   */
  async change(change: ChangeEvent): Promise<void> {
    const data: ChangePayload = {
      routing_key: this.settings.routingKey,
      payload: {
        summary: truncate(change.summary, SUMMARY_MAX),
        timestamp: change.at.toISOString(),
        source: change.source,
        custom_details: change.details,
      },
      links: change.link ? [{ href: change.link, text: "Open in Slack" }] : [],
    };
    const server = this.settings.eventsHost;
    // pdjs types every event as an alert; with type "change" it posts to /v2/change/enqueue.
    await this.sendOnce(CHANGE_EVENTS_API, (transport) =>
      event({ server, type: "change", data: data as unknown as EventPayloadV2, ...transport }),
    );
    this.log.debug("PagerDuty change event accepted", { source: change.source });
  }

  async onCall(): Promise<OnCallPerson[]> {
    const { apiToken, escalationPolicyId, apiHost } = this.settings;
    if (!apiToken || !escalationPolicyId) return [];
    try {
      const response = await this.sendOnce(REST_API, (transport) =>
        api({
          token: apiToken,
          server: apiHost,
          endpoint: "/oncalls",
          queryParameters: {
            "escalation_policy_ids[]": [escalationPolicyId],
            "include[]": ["users"],
            limit: "100",
          },
          ...transport,
        }),
      );
      return peopleOnCall(response.data);
    } catch (error) {
      this.log.warn("PagerDuty on-call look-up failed; continuing without it", {
        error: error instanceof PagingError ? error.message : "unexpected answer",
      });
      return [];
    }
  }

  // Acknowledge and resolve need no payload; pdjs's type asks for one on every action.
  private async sendEvent(data: Omit<EventPayloadV2, "payload"> & Partial<EventPayloadV2>): Promise<void> {
    if (!data.dedup_key || data.dedup_key.length > DEDUP_KEY_MAX) {
      throw new PagingError(`${EVENTS_API}: dedup key must be 1 to ${DEDUP_KEY_MAX} characters`, false);
    }
    const server = this.settings.eventsHost;
    await this.sendOnce(EVENTS_API, (transport) =>
      event({ server, data: data as EventPayloadV2, ...transport }),
    );
    this.log.debug("PagerDuty event accepted", { action: data.event_action, dedupKey: data.dedup_key });
  }

  /**
   * One HTTP request through pdjs, bounded by timeoutMs. pdjs has no working timeout (its
   * `requestTimeout` only starts a timer that does nothing but keep the process alive, so it is turned
   * off) and re-sends a 429 itself, 3 more times 20 s apart. The agent function stops that: node-fetch
   * asks for the agent once per request, so a second ask can only be pdjs's retry, and aborting there
   * ends the call at once. Retrying is the caller's decision (retryWithBackoff).
   */
  private async sendOnce<R extends { status: number; ok: boolean }>(
    apiName: string,
    call: (transport: PdjsTransport) => Promise<R>,
  ): Promise<R> {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(TIMED_OUT), this.settings.timeoutMs);
    let requests = 0;
    try {
      const response = await call({
        signal: controller.signal,
        agent: () => {
          requests += 1;
          if (requests > 1) controller.abort(RATE_LIMITED);
          return this.settings.agent;
        },
        requestTimeout: 0,
        retryTimeout: 0,
      });
      if (!response.ok) throw httpError(apiName, response.status);
      return response;
    } catch (error) {
      if (error instanceof PagingError) throw error;
      throw transportError(apiName, error, controller.signal.reason, this.settings.timeoutMs);
    } finally {
      clearTimeout(timer);
    }
  }
}

interface PdjsTransport {
  signal: AbortSignal;
  /** node-fetch (pdjs's fetch under Node) accepts a function returning the agent for each request. */
  agent: () => Agent | undefined;
  requestTimeout: number;
  retryTimeout: number;
}

const TIMED_OUT = "timed out";
const RATE_LIMITED = "rate limited";

function httpError(apiName: string, status: number): PagingError {
  if (status === 429) return new PagingError(`${apiName} rate-limited the request (HTTP 429)`, true, status);
  if (status >= 500 || status === 408) {
    return new PagingError(`${apiName} failed on its side (HTTP ${status})`, true, status);
  }
  if (status === 401 || status === 403) {
    return new PagingError(`${apiName} refused the credentials (HTTP ${status})`, false, status);
  }
  if (status >= 200 && status < 300) {
    return new PagingError(`${apiName} sent an unreadable answer (HTTP ${status})`, true, status);
  }
  return new PagingError(`${apiName} rejected the request (HTTP ${status})`, false, status);
}

// Only codes and statuses reach the message: node-fetch's own messages quote the URL.
function transportError(
  apiName: string,
  error: unknown,
  abortReason: unknown,
  timeoutMs: number,
): PagingError {
  if (abortReason === TIMED_OUT)
    return new PagingError(`${apiName} did not answer within ${timeoutMs} ms`, true);
  if (abortReason === RATE_LIMITED) return httpError(apiName, 429);
  const failure = (typeof error === "object" && error !== null ? error : {}) as {
    status?: unknown;
    type?: unknown;
    code?: unknown;
  };
  // pdjs's REST call rejects with the response itself when its body is not JSON.
  if (typeof failure.status === "number") return httpError(apiName, failure.status);
  // pdjs's Events call reads JSON before its status can be seen: a proxy's HTML error page lands here.
  if (failure.type === "invalid-json")
    return new PagingError(`${apiName} sent an answer that is not JSON`, true);
  const code = typeof failure.code === "string" ? failure.code : undefined;
  // Certificate and handshake failures (UNABLE_TO_VERIFY_LEAF_SIGNATURE, ERR_TLS_CERT_ALTNAME_INVALID, …)
  // are settings to fix, not outages to wait out.
  if (code && /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|TLS|SSL/.test(code)) {
    return new PagingError(
      `${apiName}: TLS failed, the server's certificate is not trusted (${code})`,
      false,
    );
  }
  return new PagingError(`${apiName} could not be reached${code ? ` (${code})` : ""}`, true);
}

interface OnCallEntry {
  escalation_level?: number;
  user?: { id?: string; name?: string; summary?: string; email?: string };
}

/** Distinct users, those at the lowest escalation level first. */
function peopleOnCall(data: unknown): OnCallPerson[] {
  const entries = (data as { oncalls?: unknown } | null)?.oncalls;
  if (!Array.isArray(entries)) throw new PagingError(`${REST_API} sent no on-call list`, false);
  const sorted = (entries as OnCallEntry[])
    .filter((entry) => entry?.user)
    .sort(
      (a, b) =>
        (a.escalation_level ?? Number.MAX_SAFE_INTEGER) - (b.escalation_level ?? Number.MAX_SAFE_INTEGER),
    );
  const seen = new Set<string>();
  const people: OnCallPerson[] = [];
  for (const { user } of sorted) {
    const name = user?.name ?? user?.summary;
    const identity = user?.id ?? user?.email ?? name;
    if (!name || !identity || seen.has(identity)) continue;
    seen.add(identity);
    people.push(user?.email ? { name, email: user.email } : { name });
  }
  return people;
}
