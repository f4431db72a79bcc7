import type { ChildProcess } from "node:child_process";
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { chmod, mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { removeEmbeddedDataDir } from "../../src/db/embedded.js";
import { freePort } from "../../src/net.js";
import { recordOutput } from "../support/artifacts.js";
import { keyopsEnv } from "../support/cli.js";

export const ROOT = fileURLToPath(new URL("../..", import.meta.url));
export const SCREENSHOTS = path.join(ROOT, ".test-artifacts", "sandbox");
const NPM = process.platform === "win32" ? "npm.cmd" : "npm";

export interface SandboxProcess {
  url: string;
  dataDir: string;
  stdout: () => string;
  stderr: () => string;
  /** SIGTERM to the whole process group, its exit code, and the data directory removed. */
  stop(): Promise<number | null>;
}

/** `npm start` as a new user runs it: no Slack, database or key settings, a fresh data directory. */
export async function startSandboxProcess(
  env: Record<string, string | undefined> = {},
  args: string[] = [],
): Promise<SandboxProcess> {
  const dir = await mkdtemp(path.join(os.tmpdir(), "keyops-sandbox-"));
  await chmod(dir, 0o755);
  const dataDir = path.join(dir, ".data");
  const child: ChildProcess = spawn(NPM, ["start", ...(args.length ? ["--", ...args] : [])], {
    cwd: ROOT,
    env: keyopsEnv({
      KEYOPS_DATA_DIR: dataDir,
      KEYOPS_EMBEDDED_PG_PORT: String(await freePort()),
      PORT: "0",
      ...env,
    }),
    stdio: ["ignore", "pipe", "pipe"],
    // Its own process group: npm's `sh -c` does not pass SIGTERM on, so the group gets it.
    detached: true,
  });
  let stdout = "";
  let stderr = "";
  child.stdout?.setEncoding("utf8");
  child.stderr?.setEncoding("utf8");
  child.stdout?.on("data", (chunk: string) => {
    stdout += chunk;
    recordOutput(chunk);
  });
  child.stderr?.on("data", (chunk: string) => {
    stderr += chunk;
    recordOutput(chunk);
  });
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  const cleanUp = async () => {
    const group = child.pid;
    if (group) signalGroup(group, "SIGTERM");
    const code = await exited;
    // npm may exit before the bot has stopped its database: wait for the whole group.
    if (group) await groupGone(group, 60_000);
    // Throws while its PostgreSQL still runs (a stop that left it behind); removes the cluster
    // kept outside a private data directory as root.
    await removeEmbeddedDataDir(dataDir).finally(() =>
      rm(dir, { recursive: true, force: true, maxRetries: 5 }),
    );
    return code;
  };
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`no sandbox line within 120 s; stderr: ${stderr}`)),
      120_000,
    );
    const check = () => {
      const found = /^KeyOps sandbox: (http:\/\/127\.0\.0\.1:\d+\/)$/m.exec(stdout)?.[1];
      if (found) {
        clearTimeout(timer);
        resolve(found);
      }
    };
    child.stdout?.on("data", check);
    exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`npm start exited ${code} before the sandbox line; stderr: ${stderr}`));
    });
  }).catch(async (error: Error) => {
    await cleanUp();
    throw error;
  });
  return { url, dataDir, stdout: () => stdout, stderr: () => stderr, stop: cleanUp };
}

function signalGroup(group: number, signal: NodeJS.Signals | 0): boolean {
  try {
    process.kill(-group, signal);
    return true;
  } catch {
    return false;
  }
}

/** Waits until no process of the group is left; SIGKILLs what is left after `timeoutMs`. */
async function groupGone(group: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (signalGroup(group, 0)) {
    if (Date.now() > deadline) {
      signalGroup(group, "SIGKILL");
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Debian's chromium (installed by .ci/run), or KEYOPS_CHROMIUM. */
export function chromiumPath(): string {
  const candidates = [process.env.KEYOPS_CHROMIUM, "/usr/bin/chromium", "/usr/bin/chromium-browser"];
  const found = candidates.find((candidate): candidate is string => !!candidate && existsSync(candidate));
  if (!found)
    throw new Error(
      "no chromium: apt-get install chromium (bash .ci/run installs it), or set KEYOPS_CHROMIUM",
    );
  return found;
}
