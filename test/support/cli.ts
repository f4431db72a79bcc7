import { type ChildProcess, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { recordOutput } from "./artifacts.js";

const BIN = fileURLToPath(new URL("../../bin/keyops.mjs", import.meta.url));

export interface CliResult {
  code: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
}

/** Starts `keyops` as its own process; everything it prints goes into the secret scan's record. */
export function spawnKeyops(
  args: string[],
  env: Record<string, string | undefined>,
  options: { cwd?: string } = {},
): ChildProcess {
  const child = spawn(process.execPath, [BIN, ...args], {
    cwd: options.cwd,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  child.stdout?.on("data", (chunk: Buffer) => recordOutput(chunk));
  child.stderr?.on("data", (chunk: Buffer) => recordOutput(chunk));
  return child;
}

/** Runs `keyops` to completion (or kills it after `timeoutMs`). */
export function runKeyops(
  args: string[],
  env: Record<string, string | undefined>,
  options: { cwd?: string; timeoutMs?: number } = {},
): Promise<CliResult> {
  const child = spawnKeyops(args, env, options);
  let stdout = "";
  let stderr = "";
  child.stdout?.on("data", (chunk: Buffer) => {
    stdout += chunk.toString();
  });
  child.stderr?.on("data", (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const timer = setTimeout(() => child.kill("SIGKILL"), options.timeoutMs ?? 60_000);
  return new Promise((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}
