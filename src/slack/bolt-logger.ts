import { type Logger as BoltLogger, LogLevel as BoltLogLevel } from "@slack/bolt";
import type { Logger, LogLevel } from "../logger.js";

/**
 * Bolt's and the Web API client's logging, through ours (one format, one level). Their debug
 * lines serialise whole request bodies: below debug level they are dropped before any work.
 */
export function boltLogger(log: Logger, logLevel: LogLevel): BoltLogger {
  let level = BoltLogLevel.INFO;
  const text = (parts: unknown[]) =>
    parts
      .map((p) => (p instanceof Error ? p.message : typeof p === "string" ? p : JSON.stringify(p)))
      .join(" ");
  const debugging = logLevel === "debug";
  return {
    debug: (...parts) => {
      if (debugging) log.debug(text(parts));
    },
    info: (...parts) => log.info(text(parts)),
    warn: (...parts) => log.warn(text(parts)),
    error: (...parts) => log.error(text(parts)),
    setLevel: (next) => {
      level = next;
    },
    getLevel: () => level,
    setName: () => {},
  };
}
