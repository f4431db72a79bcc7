import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import { startEmbeddedPostgres } from "../../src/db/embedded.js";
import { silentLogger } from "../../src/logger.js";
import { freePort } from "../../src/net.js";
import { recordOutput } from "../support/artifacts.js";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const FIXTURE = fileURLToPath(new URL("./fixtures/start-embedded.ts", import.meta.url));

const dataDirs: string[] = [];
const children: ChildProcess[] = [];

async function tempDataDir(): Promise<string> {
  // startEmbeddedPostgres itself makes dataDir traversable (0755) for the `postgres` user.
  const dir = await mkdtemp(path.join(os.tmpdir(), "keyops-embedded-"));
  dataDirs.push(dir);
  return dir;
}

function pidFile(dataDir: string): string {
  return path.join(dataDir, "postgres", "postmaster.pid");
}

/** The postmaster's pid from postmaster.pid (first line), while the file exists. */
function postmasterPid(dataDir: string): number | undefined {
  try {
    const pid = Number(readFileSync(pidFile(dataDir), "utf8").split("\n")[0]);
    return pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch {
    // already gone
  }
}

async function waitFor(condition: () => boolean, ms: number): Promise<boolean> {
  for (let waited = 0; !condition() && waited < ms; waited += 50) await sleep(50);
  return condition();
}

async function query<T extends pg.QueryResultRow>(url: string, sql: string): Promise<T[]> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5_000 });
  await client.connect();
  try {
    return (await client.query<T>(sql)).rows;
  } finally {
    await client.end();
  }
}

/** The error code of connecting to `url` (e.g. ECONNREFUSED), or "connected". */
async function connectOutcome(url: string): Promise<string> {
  try {
    await query(url, "SELECT 1");
    return "connected";
  } catch (error) {
    return (error as NodeJS.ErrnoException).code ?? String(error);
  }
}

// Whatever happened in the tests: no child and no PostgreSQL outlives this file, no data dir stays.
afterAll(async () => {
  for (const child of children)
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  for (const dir of dataDirs) {
    const pid = postmasterPid(dir);
    if (pid && isAlive(pid)) {
      signal(pid, "SIGINT"); // fast shutdown, then the hard way
      if (!(await waitFor(() => !isAlive(pid), 10_000))) signal(pid, "SIGKILL");
      await waitFor(() => !isAlive(pid), 5_000);
    }
    await rm(dir, { recursive: true, force: true });
  }
}, 60_000);

describe("embedded PostgreSQL", () => {
  it("starts, answers, stops, and keeps its data for the next start", async () => {
    const dataDir = await tempDataDir();
    const port = await freePort();

    const first = await startEmbeddedPostgres({ dataDir, port, log: silentLogger });
    expect(new URL(first.url).port).toBe(String(port));
    expect(await query(first.url, "SELECT 1 AS one")).toEqual([{ one: 1 }]);
    await query(first.url, "CREATE TABLE kept (note text); INSERT INTO kept VALUES ('still here')");
    const firstPid = postmasterPid(dataDir);
    expect(firstPid).toBeGreaterThan(0);

    await first.stop();
    expect(isAlive(firstPid as number)).toBe(false);
    expect(existsSync(pidFile(dataDir))).toBe(false);
    expect(await connectOutcome(first.url)).toBe("ECONNREFUSED");

    const second = await startEmbeddedPostgres({ dataDir, port, log: silentLogger });
    expect(second.url).toBe(first.url); // same password file, same port
    expect(await query(second.url, "SELECT 1 AS one")).toEqual([{ one: 1 }]);
    expect(await query(second.url, "SELECT note FROM kept")).toEqual([{ note: "still here" }]);
    expect(postmasterPid(dataDir)).not.toBe(firstPid);
    await second.stop();
    expect(existsSync(pidFile(dataDir))).toBe(false);
  }, 180_000);

  it("after its owner is SIGKILLed, the stray server is reused and then stopped by the new owner", async () => {
    const dataDir = await tempDataDir();
    const port = await freePort();

    const child = spawn(process.execPath, ["--import", "tsx", FIXTURE, dataDir, String(port)], {
      cwd: ROOT,
      stdio: ["ignore", "pipe", "pipe"],
    });
    children.push(child);
    child.stdout.setEncoding("utf8");
    child.stderr.setEncoding("utf8");
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: string) => {
      stdout += chunk;
      recordOutput(chunk);
    });
    child.stderr.on("data", (chunk: string) => {
      stderr += chunk;
      recordOutput(chunk);
    });
    const exited = new Promise<NodeJS.Signals | null>((resolve) =>
      child.on("exit", (_code, signal) => resolve(signal)),
    );

    await waitFor(() => /^URL \S+\n/m.test(stdout) || child.exitCode !== null, 90_000);
    const url = /^URL (\S+)\n/m.exec(stdout)?.[1];
    expect(url, `the child printed no URL; stderr: ${stderr}`).toBeDefined();
    expect(new URL(url as string).port).toBe(String(port));
    const strayPid = postmasterPid(dataDir);
    expect(strayPid).toBeGreaterThan(0);
    expect(strayPid).not.toBe(child.pid);

    child.kill("SIGKILL");
    expect(await exited).toBe("SIGKILL");

    // The server outlives its owner: still answering on the URL the child printed.
    const [where] = await query<{ dir: string }>(
      url as string,
      "SELECT setting AS dir FROM pg_settings WHERE name = 'data_directory'",
    );
    expect(where?.dir).toBe(path.join(dataDir, "postgres"));
    expect(isAlive(strayPid as number)).toBe(true);

    // A new owner asks for another port: it must find and reuse the stray server instead.
    const recovered = await startEmbeddedPostgres({ dataDir, port: await freePort(), log: silentLogger });
    expect(recovered.url).toBe(url);
    expect(await query(recovered.url, "SELECT 1 AS one")).toEqual([{ one: 1 }]);
    expect(postmasterPid(dataDir)).toBe(strayPid);

    await recovered.stop();
    expect(isAlive(strayPid as number)).toBe(false);
    expect(await waitFor(() => !existsSync(pidFile(dataDir)), 5_000)).toBe(true);
    expect(await connectOutcome(recovered.url)).toBe("ECONNREFUSED");
  }, 180_000);
});
