import { type ChildProcess, spawn } from "node:child_process";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { recordOutput } from "./artifacts.js";

/** The `keyops` bin, by absolute path: tests may run it from any working directory. */
export const KEYOPS_BIN = fileURLToPath(new URL("../../bin/keyops.mjs", import.meta.url));

export interface CliResult {
  code: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
}

/**
 * The child's environment: PATH, HOME and TMPDIR (the run's own temporary directory, checked at the
 * end for what was left there) of this process, then `env` over them. Nothing else is
 * inherited (no DATABASE_URL, no KEYOPS_*), so a test states every setting the command sees; an
 * `undefined` value leaves the variable out.
 */
export function keyopsEnv(env: Record<string, string | undefined>): Record<string, string> {
  const merged: Record<string, string | undefined> = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    TMPDIR: process.env.TMPDIR,
    // Bots publish the audit chain's head: into the run's temporary directory, not the working tree.
    KEYOPS_AUDIT_HEAD_FILE: path.join(os.tmpdir(), `keyops-audit-heads-${process.pid}.jsonl`),
    ...env,
  };
  return Object.fromEntries(
    Object.entries(merged).filter((entry): entry is [string, string] => entry[1] !== undefined),
  );
}

/** Starts `keyops` as its own process; everything it prints goes into the secret scan's record. */
export function spawnKeyops(
  args: string[],
  env: Record<string, string | undefined>,
  options: { cwd?: string } = {},
): ChildProcess {
  return spawnNode([KEYOPS_BIN, ...args], env, options);
}

/** Node running `argv` with only `env`; its output is recorded for the secret scan. */
export function spawnNode(
  argv: string[],
  env: Record<string, string | undefined>,
  options: { cwd?: string; input?: string } = {},
): ChildProcess {
  const child = spawn(process.execPath, argv, {
    cwd: options.cwd,
    env: keyopsEnv(env),
    stdio: [options.input === undefined ? "ignore" : "pipe", "pipe", "pipe"],
  });
  if (options.input !== undefined) child.stdin?.end(options.input);
  // Decode as UTF-8 once, so a character split across two chunks is not mangled for any listener.
  child.stdout?.setEncoding("utf8");
  child.stderr?.setEncoding("utf8");
  child.stdout?.on("data", (chunk: string) => recordOutput(chunk));
  child.stderr?.on("data", (chunk: string) => recordOutput(chunk));
  return child;
}

/** What a child prints, as it arrives. */
export function captureOutput(child: ChildProcess): { stdout(): string; stderr(): string } {
  let stdout = "";
  let stderr = "";
  child.stdout?.on("data", (chunk: string) => {
    stdout += chunk;
  });
  child.stderr?.on("data", (chunk: string) => {
    stderr += chunk;
  });
  return { stdout: () => stdout, stderr: () => stderr };
}

/**
 * Runs `keyops` to completion (or SIGKILLs it after `timeoutMs`: then `signal` is "SIGKILL");
 * `input` is written to its stdin (else stdin is /dev/null).
 */
export function runKeyops(
  args: string[],
  env: Record<string, string | undefined>,
  options: { cwd?: string; timeoutMs?: number; input?: string } = {},
): Promise<CliResult> {
  return runNode([KEYOPS_BIN, ...args], env, options);
}

/** Node running `argv` with only `env`, to completion (SIGKILLed after `timeoutMs`). */
export function runNode(
  argv: string[],
  env: Record<string, string | undefined>,
  options: { cwd?: string; timeoutMs?: number; input?: string } = {},
): Promise<CliResult> {
  const child = spawnNode(argv, env, options);
  const output = captureOutput(child);
  const timer = setTimeout(() => child.kill("SIGKILL"), options.timeoutMs ?? 60_000);
  return new Promise((resolve, reject) => {
    child.on("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout: output.stdout(), stderr: output.stderr() });
    });
  });
}

/**
 * `run` over every item, at most `limit` at a time, results in the items' order: many short CLI
 * processes side by side instead of one after another (each pays node's and tsx's start-up).
 */
export async function inParallel<T, R>(
  items: readonly T[],
  limit: number,
  run: (item: T) => Promise<R>,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const lane = async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await run(items[index] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
  return results;
}
