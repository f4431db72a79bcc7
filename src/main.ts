import { startBot } from "./bot.js";
import { loadBotConfig } from "./bot-config.js";
import { ConfigError } from "./config.js";
import { UserError } from "./errors.js";
import { createLogger } from "./logger.js";
import { startMode } from "./sandbox/mode.js";
import { startSandbox } from "./sandbox/start.js";

/**
 * `npm start`: the Slack bot, or the sandbox when no Slack setting is set (or `--sandbox`).
 * Stops at once, naming each missing or bad setting.
 */
async function main(): Promise<void> {
  let config: ReturnType<typeof loadBotConfig>;
  try {
    const mode = startMode(process.argv.slice(2), process.env);
    if (mode.kind === "sandbox") return await runSandbox(mode.port);
    config = loadBotConfig();
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(
      `keyops: cannot start: ${error.message}\nSee README.md, "The sandbox", "Bot settings" and "Configuration".\n`,
    );
    process.exitCode = 2;
    return;
  }
  const log = createLogger(config.logLevel, undefined, config.logFormat);
  // pg-boss settles a finished job without awaiting it: a database error there must not end the bot.
  process.on("unhandledRejection", (reason) => {
    log.error("unhandled rejection", { error: reason instanceof Error ? reason.message : String(reason) });
  });
  const bot = await startBot(config, log);
  stopOnSignals(bot, log);
}

/** The sandbox prints its one line, its address, and runs until a signal. */
async function runSandbox(port: number): Promise<void> {
  const sandbox = await startSandbox(port);
  process.stdout.write(`KeyOps sandbox: ${sandbox.url}\n`);
  stopOnSignals(sandbox, createLogger("error"));
}

/**
 * A graceful stop on SIGTERM or SIGINT. Signals that come while it runs are ignored: `npm start`
 * under a process-group signal delivers one directly and one relayed by tsx, and a second signal
 * must not kill the process before it has stopped the embedded PostgreSQL.
 */
function stopOnSignals(running: { stop(): Promise<void> }, log: ReturnType<typeof createLogger>): void {
  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) {
      log.info("already shutting down", { signal });
      return;
    }
    stopping = true;
    log.info("shutting down", { signal });
    running.stop().then(
      () => process.exit(0),
      (error: Error) => {
        log.error("shutdown failed", { error: error.message });
        process.exit(1);
      },
    );
  };
  for (const signal of ["SIGTERM", "SIGINT"] as const) process.on(signal, stop);
}

main().catch((error: unknown) => {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === "EADDRINUSE") {
    // A configuration problem, like a bad setting: exit 2.
    process.stderr.write(
      `keyops: cannot start: port ${process.env.PORT ?? 3000} is in use; set PORT to a free port\n`,
    );
    process.exitCode = 2;
    return;
  }
  const message = error instanceof UserError ? error.message : "internal error";
  process.stderr.write(`keyops: cannot start: ${message}\n`);
  if (!(error instanceof UserError) && error instanceof Error) process.stderr.write(`${error.message}\n`);
  process.exitCode = error instanceof UserError ? error.exitCode : 1;
});
