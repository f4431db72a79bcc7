// Who uses an embedded PostgreSQL, and one process at a time deciding to start or stop it.
//
// Every process using the server of a data directory registers an owner file
// `<dataDir>/owners/<pid>-<random>` holding its pid and start time; the last owner out stops the
// server. An owner whose process is gone (SIGKILL, crash) is pruned by the next process to look, so
// a server whose owners are all dead is a leftover. Start and stop decisions are taken under an
// exclusive-create lock file, `<dataDir>/owners.lock`, whose holder is also checked for liveness.
// Owner files are only registered, listed, pruned and removed under that lock (embedded.ts), so a
// half-written owner file is never seen, and "am I the last one?" is never answered twice at once.
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { link, mkdir, readdir, readFile, rm, stat, unlink, writeFile } from "node:fs/promises";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { BusyError } from "../errors.js";

/** A process, told apart from a later one that reuses its pid by its start time. */
export interface ProcessId {
  pid: number;
  /** Field 22 of /proc/<pid>/stat (clock ticks since boot); "?" where /proc cannot tell. */
  start: string;
}

/**
 * The start time of a live process, undefined when it is gone (a zombie is gone: it only waits for
 * its parent to reap it, which an orphan's new parent may never do).
 */
export function processStart(pid: number): string | undefined {
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    if (procAvailable()) return undefined;
    try {
      process.kill(pid, 0);
      return "?";
    } catch (error) {
      return (error as NodeJS.ErrnoException).code === "EPERM" ? "?" : undefined;
    }
  }
  // "pid (comm) state ppid ...": comm may hold spaces and parentheses, so split after the last ")".
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  if (fields[0] === "Z" || fields[0] === "X") return undefined;
  return fields[19] ?? "?";
}

let hasProc: boolean | undefined;
function procAvailable(): boolean {
  if (hasProc === undefined) {
    try {
      readFileSync("/proc/self/stat");
      hasProc = true;
    } catch {
      hasProc = false;
    }
  }
  return hasProc;
}

export function isRunning(id: ProcessId): boolean {
  const start = processStart(id.pid);
  return start !== undefined && (start === "?" || id.start === "?" || start === id.start);
}

export function thisProcess(): ProcessId {
  return { pid: process.pid, start: processStart(process.pid) ?? "?" };
}

function format(id: ProcessId): string {
  return `${id.pid} ${id.start}\n`;
}

function parse(text: string): ProcessId | undefined {
  const [pid, start] = text.trim().split(" ");
  const n = Number(pid);
  return Number.isInteger(n) && n > 0 && start ? { pid: n, start } : undefined;
}

function code(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException).code;
}

/** The owner files of one data directory. */
export class Owners {
  constructor(readonly dir: string) {}

  /** Registers this process (once per call: one process may hold several servers' handles). */
  async register(): Promise<string> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    const file = path.join(this.dir, `${process.pid}-${randomBytes(4).toString("hex")}`);
    await writeFile(file, format(thisProcess()), { mode: 0o600, flag: "wx" });
    return file;
  }

  async unregister(file: string): Promise<void> {
    await rm(file, { force: true });
  }

  /** The owner files of live processes; those of dead ones are deleted. */
  async live(): Promise<string[]> {
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch (error) {
      if (code(error) === "ENOENT") return [];
      throw error;
    }
    const live: string[] = [];
    for (const name of names) {
      const file = path.join(this.dir, name);
      let owner: ProcessId | undefined;
      try {
        owner = parse(await readFile(file, "utf8"));
      } catch {
        continue; // deleted meanwhile
      }
      if (owner && isRunning(owner)) live.push(file);
      else await rm(file, { force: true });
    }
    return live;
  }
}

export interface LockOptions {
  /** Named in the error when the lock is not granted in time. */
  what: string;
  timeoutMs?: number;
}

/**
 * Runs `fn` holding the lock `file`, created exclusively (link(2) of a complete temporary file, so a
 * reader never sees it empty). A lock whose holder is dead is broken, under a second lock
 * `<file>.break` so that two processes breaking it at once cannot delete a lock just taken by a
 * third. (A breaker itself dying inside those few microseconds leaves a `.break` that is broken the
 * same way, without a third level: that window is accepted.)
 */
export async function withLock<T>(file: string, options: LockOptions, fn: () => Promise<T>): Promise<T> {
  const content = format(thisProcess());
  const deadline = Date.now() + (options.timeoutMs ?? 120_000);
  let holder: ProcessId | undefined;
  for (let attempt = 0; !(await tryCreate(file, content)); attempt++) {
    let text: string;
    try {
      text = await readFile(file, "utf8");
    } catch {
      continue; // released meanwhile: try again at once
    }
    holder = parse(text);
    if (!holder || !isRunning(holder)) {
      await breakStale(file, text, content);
      continue;
    }
    if (Date.now() > deadline)
      throw new BusyError(
        `another keyops process (pid ${holder.pid}) keeps ${options.what} locked (${file}); try again when it is done`,
      );
    await sleep(Math.min(10 + attempt * 5, 100));
  }
  try {
    return await fn();
  } finally {
    try {
      if ((await readFile(file, "utf8")) === content) await unlink(file);
    } catch {
      // already gone
    }
  }
}

async function tryCreate(file: string, content: string): Promise<boolean> {
  const temp = `${file}.${process.pid}-${randomBytes(4).toString("hex")}`;
  await writeFile(temp, content, { mode: 0o600, flag: "wx" });
  try {
    await link(temp, file);
    return true;
  } catch (error) {
    if (code(error) === "EEXIST") return false;
    throw error;
  } finally {
    await rm(temp, { force: true });
  }
}

async function breakStale(file: string, staleText: string, content: string): Promise<void> {
  const breaker = `${file}.break`;
  if (!(await tryCreate(breaker, content))) {
    try {
      const text = await readFile(breaker, "utf8");
      const holder = parse(text);
      const age = Date.now() - (await stat(breaker)).mtimeMs;
      if ((!holder && age > 10_000) || (holder && !isRunning(holder))) await rm(breaker, { force: true });
    } catch {
      // gone meanwhile
    }
    await sleep(5);
    return;
  }
  try {
    // Still the same stale lock? Then nobody took it since we looked: delete it.
    if ((await readFile(file, "utf8").catch(() => "")) === staleText) await rm(file, { force: true });
  } finally {
    await rm(breaker, { force: true });
  }
}
