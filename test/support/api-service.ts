// The example application (examples/api-service) as a user runs it: installed from an `npm pack`
// tarball of this repository into a directory of its own, started as separate processes, and
// driven with steady read and write load.
import { type ChildProcess, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { cp, mkdtemp, readdir, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { recordOutput } from "./artifacts.js";
import { spawnNode } from "./cli.js";

export const REPO_ROOT = fileURLToPath(new URL("../..", import.meta.url));
const EXAMPLE_DIR = path.join(REPO_ROOT, "examples", "api-service");
const NPM_TIMEOUT_MS = 240_000;

// ---------------------------------------------------------------------------------------------
// npm pack / npm install

let tarball: Promise<{ file: string; remove(): Promise<void> }> | undefined;
const tempDirs = new Set<string>();
const services = new Set<ChildProcess>();

// Whatever a test leaves behind (a failed assertion before its cleanup) goes when the worker exits
// normally; tests still clean up in afterAll.
process.once("exit", () => {
  for (const child of services) child.kill("SIGKILL");
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
});

/** A temporary directory, removed at the latest when this process exits. */
export async function tempDir(prefix: string): Promise<{ dir: string; remove(): Promise<void> }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), prefix));
  tempDirs.add(dir);
  return {
    dir,
    async remove() {
      await rm(dir, { recursive: true, force: true });
      tempDirs.delete(dir);
    },
  };
}

/**
 * `npm pack` of this repository (which runs `prepare`, building dist/), once per process; the
 * tarball's path. Packs of several test workers take turns: two builds writing dist/ at once
 * could pack a half-written file.
 */
export async function packKeyops(): Promise<string> {
  tarball ??= (async () => {
    const temp = await tempDir("keyops-pack-");
    await withRepoLock(() => run("npm", ["pack", "--pack-destination", temp.dir], REPO_ROOT));
    const file = (await readdir(temp.dir)).find((name) => name.endsWith(".tgz"));
    if (!file) throw new Error(`npm pack left no tarball in ${temp.dir}`);
    return { file: path.join(temp.dir, file), remove: temp.remove };
  })();
  tarball.catch(() => {
    tarball = undefined;
  });
  return (await tarball).file;
}

/**
 * Removes the packed tarball (call it in afterAll: vitest may end a worker without running its
 * exit handlers); the next packKeyops packs again.
 */
export async function removePack(): Promise<void> {
  const packed = tarball;
  tarball = undefined;
  await (await packed?.catch(() => undefined))?.remove();
}

export interface Installed {
  dir: string;
  remove(): Promise<void>;
}

/** A fresh temporary directory, filled by `populate`, with `npm install <keyops tarball> ...extra` run in it. */
export async function installInto(
  prefix: string,
  populate: (dir: string) => Promise<void>,
  extra: string[] = [],
): Promise<Installed> {
  const pack = await packKeyops();
  const temp = await tempDir(prefix);
  try {
    await populate(temp.dir);
    await run("npm", ["install", "--prefer-offline", "--no-audit", "--no-fund", pack, ...extra], temp.dir);
  } catch (error) {
    await temp.remove();
    throw error;
  }
  return temp;
}

/** examples/api-service copied to a fresh temporary directory, with KeyOps installed from the tarball. */
export function installApiService(): Promise<Installed> {
  return installInto("keyops-api-service-", async (dir) => {
    await cp(EXAMPLE_DIR, dir, {
      recursive: true,
      filter: (source) => !source.includes(`${path.sep}node_modules`),
    });
  });
}

/** Runs a command to completion; its output is recorded (for the secret scan) and shown if it fails. */
function run(command: string, args: string[], cwd: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd,
      env: { ...process.env, npm_config_update_notifier: "false" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    const collect = (chunk: Buffer) => {
      recordOutput(chunk);
      output += chunk.toString("utf8");
    };
    child.stdout.on("data", collect);
    child.stderr.on("data", collect);
    const timer = setTimeout(() => child.kill("SIGKILL"), NPM_TIMEOUT_MS);
    child.on("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve();
      else
        reject(
          new Error(
            `${command} ${args.join(" ")} failed (${signal ?? code}) in ${cwd}:\n${output.slice(-4000)}`,
          ),
        );
    });
  });
}

/** A lock over this checkout shared by every process (a directory; a dead holder's lock is taken over). */
async function withRepoLock<T>(work: () => Promise<T>): Promise<T> {
  const id = createHash("sha256").update(REPO_ROOT).digest("hex").slice(0, 12);
  const lock = path.join(os.tmpdir(), `keyops-pack-${id}.lock`);
  const deadline = Date.now() + NPM_TIMEOUT_MS;
  for (;;) {
    try {
      mkdirSync(lock);
      writeFileSync(path.join(lock, "pid"), String(process.pid));
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
      if (holderIsGone(lock)) {
        rmSync(lock, { recursive: true, force: true });
        continue;
      }
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${lock}`);
      await sleep(200);
    }
  }
  try {
    return await work();
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

function holderIsGone(lock: string): boolean {
  let pid: number;
  try {
    pid = Number(readFileSync(path.join(lock, "pid"), "utf8"));
  } catch {
    // Just created, pid not written yet: only stale if it stays that way.
    try {
      return readdirSync(lock).length === 0 && Date.now() - statSync(lock).mtimeMs > 10_000;
    } catch {
      return false;
    }
  }
  try {
    process.kill(pid, 0);
    return false;
  } catch {
    return true;
  }
}

// ---------------------------------------------------------------------------------------------
// Running instances

export interface ApiService {
  url: string;
  pid: number;
  /** SIGTERM, and waits for the exit; the exit code (null if it died of a signal). */
  stop(): Promise<number | null>;
  /** SIGKILL, and waits for the exit. */
  kill(): Promise<void>;
  /** Everything it printed so far (stdout and stderr). */
  output(): string;
}

const START_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 20_000;

/** `node server.mjs` in `installDir` as its own process, with only `env` (and PATH, HOME); waits until it listens. */
export async function startApiService(installDir: string, env: Record<string, string>): Promise<ApiService> {
  const child = spawnNode([path.join(installDir, "server.mjs")], { PORT: "0", ...env }, { cwd: installDir });
  services.add(child);
  let output = "";
  const exited = new Promise<number | null>((resolve) => {
    child.on("exit", (code) => {
      services.delete(child);
      resolve(code);
    });
  });
  child.stdout?.on("data", (chunk: string) => {
    output += chunk;
  });
  child.stderr?.on("data", (chunk: string) => {
    output += chunk;
  });
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`the api service did not listen within ${START_TIMEOUT_MS} ms:\n${output}`));
    }, START_TIMEOUT_MS);
    const onData = () => {
      const match = /^listening on (\d+)$/m.exec(output);
      if (match) {
        clearTimeout(timer);
        child.stdout?.off("data", onData);
        resolve(Number(match[1]));
      }
    };
    child.stdout?.on("data", onData);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`the api service exited (${code}) before listening:\n${output}`));
    });
  });
  const waitExit = async (what: string) => {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        child.kill("SIGKILL");
        reject(new Error(`the api service did not exit within ${STOP_TIMEOUT_MS} ms of ${what}:\n${output}`));
      }, STOP_TIMEOUT_MS);
    });
    try {
      return await Promise.race([exited, timeout]);
    } finally {
      clearTimeout(timer);
    }
  };
  return {
    url: `http://127.0.0.1:${port}`,
    pid: child.pid as number,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
      return waitExit("SIGTERM");
    },
    async kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
      await waitExit("SIGKILL");
    },
    output: () => output,
  };
}

// ---------------------------------------------------------------------------------------------
// Load

export interface LoadOptions {
  /** Base URLs of the instances; requests go to them in turn. */
  urls: string[];
  /** Integration ids to read and write. */
  ids: string[];
  readsPerSecond: number;
  writesPerSecond: number;
  /** Requests in flight at most; a tick that would exceed it skips (counted), so a slow machine is not buried. */
  maxInFlight?: number;
  /** Per request; default 15 s. */
  timeoutMs?: number;
}

export interface FailedRequest {
  method: string;
  url: string;
  /** HTTP status, or the network error's name/code. */
  status: number | string;
  body: string;
}

export interface LoadResult {
  requests: number;
  reads: number;
  writes: number;
  /** Non-2xx answers and network errors. */
  failed: number;
  /** A few of them. */
  failures: FailedRequest[];
  /** Requests not sent because maxInFlight were in flight. */
  skipped: number;
  /** The value of the last acknowledged (200) PUT per id. */
  acknowledged: Map<string, unknown>;
  durationMs: number;
}

export interface Load {
  /** Requests done so far. */
  progress(): { requests: number; failed: number; writes: number };
  /** Stops sending, waits for requests in flight, and returns the counts. */
  stop(): Promise<LoadResult>;
}

/**
 * Steady load until stopped: reads alternate between the list and one integration, writes put a
 * fresh credential set to an id no other write is in flight for (so the last acknowledged value
 * per id is the stored one), each request to the next instance in turn.
 */
export function runLoad(options: LoadOptions): Load {
  const maxInFlight = options.maxInFlight ?? 32;
  const timeoutMs = options.timeoutMs ?? 15_000;
  const started = Date.now();
  const result: LoadResult = {
    requests: 0,
    reads: 0,
    writes: 0,
    failed: 0,
    failures: [],
    skipped: 0,
    acknowledged: new Map(),
    durationMs: 0,
  };
  const inFlight = new Set<Promise<void>>();
  const writing = new Set<string>();
  let next = 0;
  let readTurn = 0;
  let writeTurn = 0;
  let sequence = 0;
  let stopped = false;

  const instance = () => options.urls[next++ % options.urls.length] as string;
  const fail = (method: string, url: string, status: number | string, body: string) => {
    result.failed++;
    if (result.failures.length < 10) result.failures.push({ method, url, status, body: body.slice(0, 300) });
  };
  const track = (work: Promise<void>) => {
    inFlight.add(work);
    void work.finally(() => inFlight.delete(work));
  };
  const request = async (method: string, url: string, body?: unknown): Promise<boolean> => {
    result.requests++;
    try {
      const response = await fetch(url, {
        method,
        headers: body === undefined ? {} : { "content-type": "application/json" },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(timeoutMs),
      });
      const text = await response.text();
      if (response.status < 200 || response.status > 299) {
        fail(method, url, response.status, text);
        return false;
      }
      return true;
    } catch (error) {
      const e = error as { name?: string; cause?: { code?: string } };
      fail(method, url, e.cause?.code ?? e.name ?? "error", String((error as Error).message));
      return false;
    }
  };

  const read = () => {
    if (inFlight.size >= maxInFlight) {
      result.skipped++;
      return;
    }
    result.reads++;
    const turn = readTurn++;
    const id = options.ids[turn % options.ids.length] as string;
    const url =
      turn % 2 === 0
        ? `${instance()}/api/platforms`
        : `${instance()}/api/platforms/${encodeURIComponent(id)}`;
    track(request("GET", url).then(() => undefined));
  };
  const write = () => {
    if (inFlight.size >= maxInFlight) {
      result.skipped++;
      return;
    }
    let id: string | undefined;
    for (let i = 0; i < options.ids.length && id === undefined; i++) {
      const candidate = options.ids[writeTurn++ % options.ids.length] as string;
      if (!writing.has(candidate)) id = candidate;
    }
    if (id === undefined) {
      result.skipped++;
      return;
    }
    const key = id;
    const seq = ++sequence;
    const value = {
      shopDomain: `load-${seq}.myshopify.com`,
      accessToken: `shpat_load_${seq.toString().padStart(8, "0")}`,
      scope: "read_products,write_products,read_orders",
      seq,
    };
    writing.add(key);
    result.writes++;
    track(
      request("PUT", `${instance()}/api/platforms/${encodeURIComponent(key)}`, value).then((ok) => {
        if (ok) result.acknowledged.set(key, value);
        writing.delete(key);
      }),
    );
  };

  // A 50 ms tick owes the requests due since the start: a late tick (a busy machine) catches up
  // instead of silently lowering the rate.
  let readsSent = 0;
  let writesSent = 0;
  const tick = setInterval(() => {
    if (stopped) return;
    const elapsed = (Date.now() - started) / 1000;
    const readsDue = Math.floor(elapsed * options.readsPerSecond);
    const writesDue = Math.floor(elapsed * options.writesPerSecond);
    for (; readsSent < readsDue; readsSent++) read();
    for (; writesSent < writesDue; writesSent++) write();
  }, 50);

  return {
    progress: () => ({ requests: result.requests, failed: result.failed, writes: result.writes }),
    async stop() {
      stopped = true;
      clearInterval(tick);
      while (inFlight.size > 0) await Promise.allSettled([...inFlight]);
      result.durationMs = Date.now() - started;
      return result;
    },
  };
}

/** GETs a JSON document; throws on a non-2xx answer unless `allow` lists its status. */
export async function getJson<T = unknown>(
  url: string,
  allow: number[] = [],
): Promise<{ status: number; body: T }> {
  const response = await fetch(url, { signal: AbortSignal.timeout(15_000) });
  const text = await response.text();
  if (!response.ok && !allow.includes(response.status)) {
    throw new Error(`GET ${url} answered ${response.status}: ${text.slice(0, 500)}`);
  }
  return { status: response.status, body: JSON.parse(text) as T };
}

/** PUTs a JSON body; the status and the parsed answer. */
export async function putJson<T = unknown>(url: string, body: unknown): Promise<{ status: number; body: T }> {
  const response = await fetch(url, {
    method: "PUT",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(15_000),
  });
  return { status: response.status, body: JSON.parse(await response.text()) as T };
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
