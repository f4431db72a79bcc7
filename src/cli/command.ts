import type { ParseArgsConfig } from "node:util";
import type { Config } from "../config.js";
import type { Environment } from "../environments.js";
import type { Runtime } from "../runtime.js";
import { createProgressBar, type ProgressLine } from "./progress-bar.js";

export interface CliIO {
  /** Where `keys import` reads a key from; process.stdin when absent. */
  stdin?: NodeJS.ReadableStream & { isTTY?: boolean };
  stdout: NodeJS.WriteStream;
  stderr: NodeJS.WriteStream;
}

export interface CommandContext {
  /** Opens the database and keyring on first use: commands check their arguments before calling it. */
  runtime(): Promise<Runtime>;
  config: Config;
  io: CliIO;
  environment: Environment;
  json: boolean;
  positionals: string[];
  values: Record<string, string | boolean | undefined>;
  /** Aborted on SIGINT or SIGTERM: a long command stops at its next safe point. */
  signal: AbortSignal;
}

export interface Command {
  /** Words after `keyops`, e.g. ["keys", "status"]. */
  path: string[];
  usage: string;
  summary: string;
  options?: NonNullable<ParseArgsConfig["options"]>;
  positionals?: { min: number; max: number };
  /** Returns the exit code. */
  run(context: CommandContext): Promise<number>;
}

/** Prints the command's result: one JSON object for --json, else the human text. */
export function print(context: CommandContext, json: unknown, human: string): void {
  context.io.stdout.write(context.json ? `${JSON.stringify(json, null, 2)}\n` : `${human}\n`);
}

/**
 * The command's progress line on a terminal (none with --json). Every update is also a point where
 * an interrupt stops the work: a long verify or seed ends there, as a rotation does after its batch.
 */
export function progressOf(context: CommandContext) {
  const bar = context.json ? undefined : createProgressBar(context.io.stderr);
  return {
    update(progress: ProgressLine): void {
      context.signal.throwIfAborted();
      bar?.update(progress);
    },
    finish(): void {
      bar?.finish();
    },
  };
}
