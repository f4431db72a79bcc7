import type { IncomingMessage, RequestListener, ServerResponse } from "node:http";
import { parse as parseQuery } from "node:querystring";
import { verifySlackRequest } from "@slack/bolt";
import type { Logger } from "../logger.js";
import { answerJson, answerTooLarge, readBody } from "./json.js";
import { MAX_REQUEST_BODY } from "./limits.js";

/** Slack's rule: a request more than five minutes from now, either way, is refused. */
const MAX_CLOCK_SKEW_SECONDS = 5 * 60;
const FORM = "application/x-www-form-urlencoded";

export interface SlackEventsGuardOptions {
  signingSecret: string;
  /** The path Bolt answers Slack on. */
  path: string;
  log: Logger;
  /** Seconds since the epoch (tests move it). */
  nowSeconds?: () => number;
}

/**
 * In front of Bolt's receiver on POST /slack/events: the timestamp within five minutes either way,
 * the body read up to MAX_REQUEST_BODY as it arrives, the signature checked, and the body one
 * Bolt can dispatch (an object; `payload=` an object with a type). What passes goes to Bolt with
 * its bytes already read; anything else gets 401, 413 or 400 at once.
 */
export function guardSlackEvents(next: RequestListener, options: SlackEventsGuardOptions): RequestListener {
  const nowSeconds = options.nowSeconds ?? (() => Math.floor(Date.now() / 1000));
  return (req, res) => {
    const path = new URL(req.url ?? "/", "http://localhost").pathname;
    if (req.method !== "POST" || path !== options.path) return next(req, res);
    check(req, res, options, nowSeconds()).then(
      (passed) => {
        if (passed) next(req, res);
      },
      (error: Error) => {
        options.log.warn("reading a Slack request failed", { error: error.message });
        if (!res.headersSent) answerJson(res, 400, { error: "unreadable request" });
      },
    );
  };
}

async function check(
  req: IncomingMessage,
  res: ServerResponse,
  { signingSecret, log }: SlackEventsGuardOptions,
  now: number,
): Promise<boolean> {
  const refuse = (status: number, why: string) => {
    log.warn("Slack request refused", { status, why });
    answerJson(res, status, { error: why });
    return false;
  };
  const timestamp = Number(header(req, "x-slack-request-timestamp"));
  const skew = Number.isInteger(timestamp) ? Math.abs(now - timestamp) : Number.POSITIVE_INFINITY;
  // Slack's ssl_check is not signed; Bolt answers it without looking at anything else.
  const unsignedCheck = header(req, "x-slack-signature") === undefined;
  if (!unsignedCheck && skew > MAX_CLOCK_SKEW_SECONDS)
    return refuse(401, "x-slack-request-timestamp missing or more than five minutes from now");

  const body = await readBody(req, MAX_REQUEST_BODY);
  if (body === undefined) {
    log.warn("Slack request refused", { status: 413, why: "body too large" });
    answerTooLarge(res, MAX_REQUEST_BODY);
    return false;
  }
  const text = body.toString("utf8");
  const form = req.headers["content-type"] === FORM;
  if (unsignedCheck) {
    if (form && parseQuery(text).ssl_check === "1") return handOver(req, body);
    return refuse(401, "missing signature");
  }
  try {
    verifySlackRequest({
      signingSecret,
      body: text,
      headers: {
        "x-slack-signature": header(req, "x-slack-signature") ?? "",
        "x-slack-request-timestamp": timestamp,
      },
    });
  } catch {
    return refuse(401, "bad signature");
  }
  const problem = form ? formProblem(text) : jsonProblem(text);
  if (problem) return refuse(400, problem);
  return handOver(req, body);
}

/** Bolt reads a body that is already there instead of the stream (BufferedIncomingMessage). */
function handOver(req: IncomingMessage, body: Buffer): true {
  (req as IncomingMessage & { rawBody?: Buffer }).rawBody = body;
  return true;
}

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return typeof value === "string" ? value : undefined;
}

/** A command's form, or `payload=<a JSON object with a type>` for interactions. */
function formProblem(text: string): string | undefined {
  const fields = parseQuery(text);
  if (!("payload" in fields)) return typeof fields.command === "string" ? undefined : "not a Slack request";
  if (typeof fields.payload !== "string") return "payload must be one JSON object";
  return jsonProblem(fields.payload, "payload");
}

function jsonProblem(text: string, what = "body"): string | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return `${what} is not JSON`;
  }
  if (typeof value !== "object" || value === null || Array.isArray(value))
    return `${what} must be a JSON object`;
  if (typeof (value as { type?: unknown }).type !== "string") return `${what} has no type`;
  return undefined;
}
