import { setTimeout as sleep } from "node:timers/promises";
import type pg from "pg";
import type { Logger } from "../logger.js";

/**
 * Failures that leave the data intact and go away by themselves or with the operator's help:
 * running the same command again resumes from the last committed batch.
 * - connection: lost (server restart, pg_terminate_backend) or refused (server down)
 * - timeout: statement_timeout, lock_timeout, a connection that could not be made in time
 * - disk-full: PostgreSQL (or this process) could not write for lack of space
 */
export type FaultKind = "connection" | "timeout" | "disk-full";

export interface Fault {
  kind: FaultKind;
  /** What the database or the driver said (no connection string, no data). */
  detail: string;
}

// SQLSTATEs: class 08 connection exceptions, 57P01-57P03 the server going away or not ready,
// 53100 disk full, 57014 statement_timeout (query canceled), 55P03 lock_timeout.
const CONNECTION_CODES = new Set(["57P01", "57P02", "57P03", "08000", "08001", "08003", "08004", "08006"]);
const SOCKET_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "EPIPE",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
]);
const TIMEOUT_CODES = new Set(["57014", "55P03"]);
const DISK_FULL_CODES = new Set(["53100", "ENOSPC"]);
const ADAPTER_CONNECTION_KINDS = new Set(["DatabaseNotReachable", "ConnectionClosed"]);

const CONNECTION_MESSAGES = [
  /Connection terminated/i,
  /not queryable/i,
  /terminating connection/i,
  /the database system is (shutting down|starting up|in recovery mode)/i,
  /Can't reach database server/i,
  /Server has closed the connection/i,
];
const TIMEOUT_MESSAGES = [/timeout exceeded when trying to connect/i, /statement timeout/i, /lock timeout/i];
const DISK_FULL_MESSAGES = [/No space left on device/i];

/** The resumable fault behind `error` (looking through causes and Prisma's wrappers), if it is one. */
export function classifyFault(error: unknown): Fault | undefined {
  const seen = new Set<unknown>();
  const queue: unknown[] = [error];
  let found: Fault | undefined;
  while (queue.length > 0 && seen.size < 20) {
    const e = queue.shift();
    if (e === null || typeof e !== "object" || seen.has(e)) continue;
    seen.add(e);
    const fault = faultOf(e as Record<string, unknown>);
    // Disk full wins over the connection loss it may cause; otherwise the deepest cause says it best.
    if (fault && (!found || fault.kind === "disk-full" || found.kind !== "disk-full")) found = fault;
    const o = e as { cause?: unknown; meta?: { driverAdapterError?: unknown }; errors?: unknown[] };
    queue.push(o.cause, o.meta, o.meta?.driverAdapterError, ...(Array.isArray(o.errors) ? o.errors : []));
  }
  return found;
}

function faultOf(e: Record<string, unknown>): Fault | undefined {
  const code = typeof e.code === "string" ? e.code : typeof e.originalCode === "string" ? e.originalCode : "";
  const message =
    typeof e.message === "string"
      ? e.message
      : typeof e.originalMessage === "string"
        ? e.originalMessage
        : typeof e.reason === "string"
          ? e.reason
          : "";
  const detail = oneLine(message || code);
  if (DISK_FULL_CODES.has(code) || DISK_FULL_MESSAGES.some((m) => m.test(message)))
    return { kind: "disk-full", detail };
  if (TIMEOUT_CODES.has(code) || TIMEOUT_MESSAGES.some((m) => m.test(message)))
    return { kind: "timeout", detail };
  if (
    CONNECTION_CODES.has(code) ||
    SOCKET_CODES.has(code) ||
    (typeof e.kind === "string" && ADAPTER_CONNECTION_KINDS.has(e.kind)) ||
    CONNECTION_MESSAGES.some((m) => m.test(message))
  )
    return { kind: "connection", detail: detail || String(e.kind ?? "connection lost") };
  return undefined;
}

function oneLine(text: string): string {
  // Prisma's messages carry the query and a stack of its own: the first line says what happened.
  const first =
    text
      .split("\n")
      .map((l) => l.trim())
      .find(Boolean) ?? "";
  return first.length > 200 ? `${first.slice(0, 197)}...` : first;
}

/**
 * Checked-out clients have no 'error' listener of pg-pool's: a connection that dies while one is
 * held (the rotation lock holder, a reader, a writer, a transaction) would be an unhandled 'error'
 * event and end the process. Every client of the pool gets one; the query in flight still fails,
 * and the broken client is dropped when released.
 */
export function guardPool(pool: pg.Pool, log: Logger, what: string): pg.Pool {
  // Info, not warn: the failing query reports it where it matters (the CLI's one line, the job's retry).
  const lost = (error: Error) => log.info(`${what} connection lost`, { error: error.message });
  pool.on("connect", (client) => {
    client.on("error", lost);
  });
  // An idle client's error reaches the pool too; the client's own listener has logged it.
  pool.on("error", () => undefined);
  return pool;
}

/** Waits until `ping` succeeds (the database is back); false after `timeoutMs` or when `signal` ends the wait. */
export async function waitForDatabase(
  ping: () => Promise<unknown>,
  options: { pollMs?: number; timeoutMs: number; signal?: AbortSignal },
): Promise<boolean> {
  const deadline = Date.now() + options.timeoutMs;
  for (;;) {
    try {
      await ping();
      return true;
    } catch {
      if (Date.now() >= deadline || options.signal?.aborted) return false;
      await sleep(options.pollMs ?? 1000, undefined, options.signal ? { signal: options.signal } : {}).catch(
        () => undefined,
      );
    }
  }
}
