import type { Server, ServerOptions } from "node:http";

/**
 * The largest body the Slack and PagerDuty routes read. Slack's largest payloads (a block action
 * carrying a full message, a modal's state) stay far below it; it is refused as the bytes arrive,
 * never buffered in full.
 */
export const MAX_REQUEST_BODY = 512 * 1024;

/** A request must send its headers within this, and all of itself within REQUEST_TIMEOUT_MS. */
export const HEADERS_TIMEOUT_MS = 5_000;
export const REQUEST_TIMEOUT_MS = 10_000;

/** For http.createServer: Node's defaults let a half-sent request hold a socket for minutes. */
export const SERVER_OPTIONS: ServerOptions = {
  headersTimeout: HEADERS_TIMEOUT_MS,
  requestTimeout: REQUEST_TIMEOUT_MS,
  keepAliveTimeout: 5_000,
  // How often Node looks for requests past their timeouts (default 30 s).
  connectionsCheckingInterval: 1_000,
};

/** The same timeouts on a server someone else created (Socket Mode's HTTP listener for the routes). */
export function applyServerTimeouts(server: Server): void {
  server.headersTimeout = HEADERS_TIMEOUT_MS;
  server.requestTimeout = REQUEST_TIMEOUT_MS;
  server.keepAliveTimeout = 5_000;
}
