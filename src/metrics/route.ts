import { createHash, timingSafeEqual } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { CustomRoute } from "@slack/bolt";
import type { Logger } from "../logger.js";
import type { KeyOpsMetrics } from "./metrics.js";

/**
 * GET /metrics on the Slack port: only with `Authorization: Bearer <KEYOPS_METRICS token>`
 * (401 without it or with another), 404 when KEYOPS_METRICS is off.
 */
export function metricsRoute(options: {
  token: string | undefined;
  metrics: KeyOpsMetrics;
  log: Logger;
}): CustomRoute {
  const digest = options.token === undefined ? undefined : sha256(options.token);
  return {
    path: "/metrics",
    method: ["GET"],
    handler: (req, res) => {
      if (!digest) return answer(res, 404, "not found\n");
      if (!bearerMatches(req.headers.authorization, digest)) {
        res.setHeader("www-authenticate", 'Bearer realm="keyops-metrics"');
        return answer(res, 401, "bad or missing metrics token\n");
      }
      serve(res, options.metrics, options.log);
    },
  };
}

/** GET /metrics without a token on a port of its own (KEYOPS_METRICS_PORT: loopback or internal). */
export async function startMetricsServer(options: {
  host: string;
  port: number;
  metrics: KeyOpsMetrics;
  log: Logger;
}): Promise<{ port: number; close(): Promise<void> }> {
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const path = (req.url ?? "").split("?")[0];
    if (path !== "/metrics") return answer(res, 404, "not found\n");
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.setHeader("allow", "GET, HEAD");
      return answer(res, 405, "method not allowed\n");
    }
    serve(res, options.metrics, options.log);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const address = server.address();
  const port = address && typeof address === "object" ? address.port : options.port;
  options.log.info("metrics are served", { host: options.host, port });
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      }),
  };
}

function serve(res: ServerResponse, metrics: KeyOpsMetrics, log: Logger): void {
  metrics.scrape().then(
    ({ contentType, body }) => {
      res.writeHead(200, { "content-type": contentType, "cache-control": "no-store" });
      res.end(body);
    },
    (error: Error) => {
      log.error("metrics scrape failed", { error: error.message });
      answer(res, 500, "internal error\n");
    },
  );
}

function answer(res: ServerResponse, status: number, text: string): void {
  res.writeHead(status, { "content-type": "text/plain; charset=utf-8" });
  res.end(text);
}

/** Compared in constant time, as digests. */
function bearerMatches(header: string | undefined, digest: Buffer): boolean {
  const match = /^Bearer (\S{1,512})$/.exec(header ?? "");
  return match?.[1] !== undefined && timingSafeEqual(sha256(match[1]), digest);
}

function sha256(text: string): Buffer {
  return createHash("sha256").update(text).digest();
}
