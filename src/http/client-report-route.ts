import { createHash, timingSafeEqual } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { CustomRoute } from "@slack/bolt";
import type pg from "pg";
import { parseClientReport, ReportFormatError } from "../client/report.js";
import { recordClientReport } from "../client/report-store.js";
import type { Environment } from "../environments.js";
import type { Logger } from "../logger.js";
import { answerJson, answerTooLarge, readBody } from "./json.js";

/** A report is a few hundred bytes; a thousand versions with failures stays far below this. */
const MAX_BODY = 64 * 1024;

export interface ClientReportRouteOptions {
  /** Report token per environment (KEYOPS_REPORT_TOKEN_<ENV>); the route answers 404 without any. */
  tokens: Partial<Record<Environment, string>>;
  pool: pg.Pool;
  log: Logger;
}

/**
 * POST /client/report: env-source instances of keyops/client report what they hold and write,
 * and learn the active version in the answer. The bearer token names the environment; a report
 * for another environment, a bad token or a malformed report changes nothing.
 */
export function clientReportRoute(options: ClientReportRouteOptions): CustomRoute {
  const tokens = Object.entries(options.tokens).map(([environment, token]) => ({
    environment: environment as Environment,
    digest: sha256(token as string),
  }));
  return {
    path: "/client/report",
    method: ["POST"],
    handler: (req, res) => {
      handle(req, res, tokens, options).catch((error: Error) => {
        options.log.error("client report failed", { error: error.message });
        answerJson(res, 500, { error: "internal error" });
      });
    },
  };
}

async function handle(
  req: IncomingMessage,
  res: ServerResponse,
  tokens: { environment: Environment; digest: Buffer }[],
  { pool, log }: ClientReportRouteOptions,
): Promise<void> {
  if (tokens.length === 0) return answerJson(res, 404, { error: "client reports are not configured" });
  const environment = environmentOf(req.headers.authorization, tokens);
  if (!environment) return answerJson(res, 401, { error: "bad or missing report token" });
  const body = await readBody(req, MAX_BODY);
  if (body === undefined) return answerTooLarge(res, MAX_BODY);
  let report: ReturnType<typeof parseClientReport>;
  try {
    report = parseClientReport(JSON.parse(body.toString("utf8")));
  } catch (error) {
    if (error instanceof SyntaxError) return answerJson(res, 400, { error: "malformed JSON" });
    if (error instanceof ReportFormatError) return answerJson(res, 400, { error: error.message });
    throw error;
  }
  if (report.environment !== environment) {
    log.warn("client report for another environment than its token", {
      token: environment,
      report: report.environment,
    });
    return answerJson(res, 403, {
      error: `this token reports for ${environment}, not ${report.environment}`,
    });
  }
  answerJson(res, 200, await recordClientReport(pool, report));
}

/** The environment whose token the bearer header carries (compared in constant time, as digests). */
function environmentOf(
  header: string | undefined,
  tokens: { environment: Environment; digest: Buffer }[],
): Environment | undefined {
  const match = /^Bearer (\S{1,512})$/.exec(header ?? "");
  if (!match) return undefined;
  const digest = sha256(match[1] as string);
  let found: Environment | undefined;
  for (const token of tokens) if (timingSafeEqual(token.digest, digest)) found = token.environment;
  return found;
}

function sha256(text: string): Buffer {
  return createHash("sha256").update(text, "utf8").digest();
}
