import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { parseArgs } from "node:util";
import { type Config, ConfigError, loadConfig } from "../config.js";
import { CryptoError } from "../crypto/errors.js";
import { classifyFault, type Fault } from "../db/faults.js";
import { parseEnvironment } from "../environments.js";
import { UserError } from "../errors.js";
import { onInterrupt } from "../interrupts.js";
import { createLogger } from "../logger.js";
import { openRuntime } from "../runtime.js";
import type { CliIO, Command } from "./command.js";
import { auditExport, auditPublish, auditVerify } from "./commands/audit.js";
import { backupCheck } from "./commands/backup.js";
import { clients } from "./commands/clients.js";
import { clustersList, clustersPrune } from "./commands/clusters.js";
import { demoSeed } from "./commands/demo.js";
import { keysActivate, keysCompromised, keysGenerate, keysRetire, keysStatus } from "./commands/keys.js";
import { keysExport } from "./commands/keys-export.js";
import { keysImport } from "./commands/keys-import.js";
import { reauthList } from "./commands/reauth.js";
import { rotate, verify } from "./commands/rotation.js";

export const COMMANDS: Command[] = [
  keysStatus,
  keysGenerate,
  keysActivate,
  keysRetire,
  keysCompromised,
  keysExport,
  keysImport,
  reauthList,
  rotate,
  verify,
  backupCheck,
  clients,
  auditVerify,
  auditExport,
  auditPublish,
  demoSeed,
  clustersList,
  clustersPrune,
];

export const EXIT = { ok: 0, failedRows: 1, usage: 2, internal: 70, diskFull: 74, resumable: 75 } as const;

export function usage(): string {
  return [
    "usage:",
    ...COMMANDS.flatMap((c) => [`  ${c.usage}`, `      ${c.summary}`]),
    "",
    "environments: development (default, or KEYOPS_ENVIRONMENT), staging, production",
    "exit codes: 0 done, 1 rows failed or audit chain broken, 2 bad input, 3 a rotation is running, 4 refused, 130 interrupted,",
    "  75 database connection lost, refused or timed out (run it again to resume), 74 disk full, 70 internal error",
  ].join("\n");
}

function findCommand(words: string[]): Command | undefined {
  return COMMANDS.find((c) => c.path.every((word, i) => words[i] === word));
}

/** Runs one CLI invocation; returns the exit code. Users see one-line errors, never a stack trace. */
export async function runCli(
  argv: string[],
  io: CliIO,
  env: NodeJS.ProcessEnv = process.env,
): Promise<number> {
  const json = argv.includes("--json");
  const fail = (message: string, code: number) => {
    io.stderr.write(`keyops: ${message}\n`);
    // --json promises one JSON object on stdout, errors included.
    if (json) io.stdout.write(`${JSON.stringify({ error: message, exitCode: code })}\n`);
    return code;
  };
  if (argv.length === 0 || argv[0] === "help" || argv[0] === "--help" || argv[0] === "-h") {
    io.stdout.write(`${usage()}\n`);
    return argv.length === 0 ? EXIT.usage : EXIT.ok;
  }
  const command = findCommand(argv);
  if (!command)
    return fail(`unknown command "${argv.slice(0, 2).join(" ")}" (keyops help lists them)`, EXIT.usage);

  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({
      args: argv.slice(command.path.length),
      options: { env: { type: "string" }, json: { type: "boolean" }, ...command.options },
      allowPositionals: true,
      strict: true,
    });
  } catch (error) {
    return fail(`${describeParseError(error as Error)}; usage: ${command.usage}`, EXIT.usage);
  }
  const { min, max } = command.positionals ?? { min: 0, max: 0 };
  if (parsed.positionals.length < min || parsed.positionals.length > max) {
    return fail(`wrong number of arguments; usage: ${command.usage}`, EXIT.usage);
  }

  let runtime: Awaited<ReturnType<typeof openRuntime>> | undefined;
  const interrupt = interruptOnSignals();
  let config: Config | undefined;
  let code: number;
  try {
    const loaded = loadConfig(env);
    config = loaded;
    const environment = parseEnvironment(
      (parsed.values.env as string | undefined) ?? loaded.defaultEnvironment,
    );
    const log = createLogger(
      env.KEYOPS_LOG_LEVEL ? loaded.logLevel : "warn",
      (line) => io.stderr.write(line),
      loaded.logFormat,
    );
    code = await interrupt.race(
      command.run({
        runtime: async () => {
          interrupt.signal.throwIfAborted();
          runtime ??= await openRuntime(loaded, log);
          return runtime;
        },
        config: loaded,
        io,
        environment,
        json: parsed.values.json === true,
        positionals: parsed.positionals,
        values: parsed.values as Record<string, string | boolean | undefined>,
        signal: interrupt.signal,
      }),
    );
  } catch (error) {
    code = failWith(error);
  }
  // Closing can fail too (a full disk leaves the embedded server's lock files unwritable): that
  // never hides how the command ended, and a command that succeeded reports it. The signal
  // handlers stay until it is closed: a signal's relayed copy must not kill the close half-way.
  const closeError = await runtime?.close().then(
    () => undefined,
    (error: unknown) => error ?? new Error("closing failed"),
  );
  interrupt.dispose();
  return closeError !== undefined && code === EXIT.ok ? failWith(closeError) : code;

  function failWith(error: unknown): number {
    if (error instanceof ConfigError)
      return fail(`invalid configuration: ${error.problems.join("; ")}`, EXIT.usage);
    if (error instanceof UserError) return fail(error.message, error.exitCode);
    if (error instanceof CryptoError) return fail(error.message, EXIT.usage);
    const fault = classifyFault(error);
    if (fault)
      return fail(describeFault(fault, config), fault.kind === "disk-full" ? EXIT.diskFull : EXIT.resumable);
    if (error instanceof Error && error.name === "AbortError")
      return fail("interrupted; run the same command again to resume", 130);
    return fail(`internal error: ${(error as Error).message ?? String(error)}`, EXIT.internal);
  }
}

/** How long an interrupted command gets to stop at a safe point before its runtime is closed under it. */
const INTERRUPT_GRACE_MS = 5000;

/**
 * SIGINT and SIGTERM abort the command (a rotation stops after its batch), and the runtime is
 * closed as on any other end, so an embedded server this command started is stopped. A command
 * that does not stop within the grace is left; one more signal later exits at once.
 */
function interruptOnSignals() {
  const controller = new AbortController();
  const dispose = onInterrupt(
    () => controller.abort(Object.assign(new Error("interrupted"), { name: "AbortError" })),
    { exitCode: () => 130 },
  );
  const aborted = new Promise<never>((_, reject) =>
    controller.signal.addEventListener("abort", () => reject(controller.signal.reason), { once: true }),
  );
  aborted.catch(() => undefined);
  return {
    signal: controller.signal,
    /** The command's result, or once interrupted, its result within the grace (else the interruption). */
    race<T>(running: Promise<T>): Promise<T> {
      running.catch(() => undefined);
      return Promise.race([
        running,
        aborted.catch((reason: unknown) =>
          Promise.race([running, sleep(INTERRUPT_GRACE_MS)]).then(() => {
            throw reason;
          }),
        ),
      ]);
    },
    dispose,
  };
}

function describeParseError(error: Error): string {
  const option = /option '([^']+)'/i.exec(error.message)?.[1];
  const code = (error as { code?: string }).code;
  // `--rows -5`: node reads "-5" as another option and calls the value ambiguous.
  if (code === "ERR_PARSE_ARGS_INVALID_OPTION_VALUE" && option && /ambiguous/.test(error.message))
    return `${option} must be a positive number, not a value starting with "-"`;
  if (code === "ERR_PARSE_ARGS_UNKNOWN_OPTION" && option) return `unknown option ${option}`;
  if (code === "ERR_PARSE_ARGS_INVALID_OPTION_VALUE" && option)
    return `option ${option.split(" ")[0]} needs a value`;
  return error.message.split(".")[0] ?? "bad arguments";
}

const AGAIN = "run the same command again to resume (nothing committed is lost)";

/** One line for a resumable failure: what happened, where, and that running it again resumes. */
export function describeFault(
  fault: Fault,
  config: Pick<Config, "databaseUrl" | "dataDir"> | undefined,
): string {
  const detail = fault.detail ? ` (${fault.detail})` : "";
  switch (fault.kind) {
    case "disk-full":
      return config && !config.databaseUrl
        ? `the disk holding the embedded database is full${detail}: free space where ${path.resolve(config.dataDir)} ` +
            `(KEYOPS_DATA_DIR) lives or move it to a larger volume, then ${AGAIN}`
        : `the database server's disk is full${detail}: free space on the volume of the database of ` +
            `DATABASE_URL (or grow it), then ${AGAIN}`;
    case "timeout":
      return `the database did not answer in time${detail}; ${AGAIN}`;
    case "connection":
      return /ECONNREFUSED|not reachable|can't reach|starting up/i.test(fault.detail)
        ? `cannot reach the database${detail}; once it is up, ${AGAIN}`
        : `lost the connection to the database${detail}; ${AGAIN}`;
  }
}
