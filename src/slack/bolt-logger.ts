import { type Logger as BoltLogger, LogLevel as BoltLogLevel } from "@slack/bolt";
import type { Logger, LogLevel } from "../logger.js";

/**
 * Bolt's and the Web API client's logging, through ours (one format, text or JSON lines, one
 * level). Their debug lines serialise whole request bodies: below debug level they are dropped
 * before any work.
 */
export function boltLogger(log: Logger, logLevel: LogLevel): BoltLogger {
  let level = BoltLogLevel.INFO;
  const text = (parts: unknown[]) => parts.map(part).join(" ");
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

/** One argument of a Bolt log call as text: an error by its message, anything else as JSON if it has one. */
function part(value: unknown): string {
  if (value instanceof Error) return value.message;
  if (typeof value === "string") return value;
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return "[unserialisable]";
  }
}
