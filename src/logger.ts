// A small structured logger writing one line per entry to stderr. Callers pass facts, never
// secrets: keys are named by fingerprint (SecretKey prints only that even when passed by mistake).
export type LogLevel = "debug" | "info" | "warn" | "error" | "silent";

/** text: `<time> <level> <message> {fields}`; json: one object per line, as log shippers expect. */
export type LogFormat = "text" | "json";
export const LOG_FORMATS: readonly LogFormat[] = ["text", "json"];

const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 99 };

/** The JSON format's own keys: a field of the same name is written as `field.<name>` instead. */
const RESERVED = new Set(["time", "level", "message"]);

export interface Logger {
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

export function createLogger(
  level: LogLevel = "info",
  write: (line: string) => void = (line) => process.stderr.write(line),
  format: LogFormat = "text",
): Logger {
  const log = (at: Exclude<LogLevel, "silent">) => (message: string, fields?: Record<string, unknown>) => {
    if (ORDER[at] < ORDER[level]) return;
    const time = new Date().toISOString();
    if (format === "json") {
      const entry: Record<string, unknown> = { time, level: at, message };
      for (const [name, value] of Object.entries(fields ?? {}))
        entry[RESERVED.has(name) ? `field.${name}` : name] = value;
      write(`${stringify(entry)}\n`);
      return;
    }
    const extra = fields && Object.keys(fields).length > 0 ? ` ${stringify(fields)}` : "";
    write(`${time} ${at.padEnd(5)} ${message}${extra}\n`);
  };
  return { debug: log("debug"), info: log("info"), warn: log("warn"), error: log("error") };
}

/**
 * JSON that never throws: an Error becomes its message, a bigint a string, a value met again
 * inside itself "[circular]". JSON escapes line breaks, so an entry stays on one line.
 */
function stringify(value: unknown): string {
  const ancestors: object[] = [];
  return JSON.stringify(value, function (this: unknown, _key, v: unknown) {
    if (typeof v === "bigint") return v.toString();
    if (v instanceof Error) return v.message;
    if (typeof v !== "object" || v === null) return v;
    // `this` is the object holding v: what is above it on the stack is not its ancestor.
    while (ancestors.length > 0 && ancestors.at(-1) !== this) ancestors.pop();
    if (ancestors.includes(v)) return "[circular]";
    ancestors.push(v);
    return v;
  });
}

export const silentLogger: Logger = createLogger("silent");
