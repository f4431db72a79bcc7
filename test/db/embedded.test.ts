import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, lstatSync, readdirSync, readFileSync, realpathSync, statSync, watch } from "node:fs";
import { chmod, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import os from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath, pathToFileURL } from "node:url";
import pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import { LEFTOVER_WARNING, removeEmbeddedDataDir, startEmbeddedPostgres } from "../../src/db/embedded.js";
import { CLUSTERS_ROOT, removeTree } from "../../src/db/embedded-host.js";
import { UserError } from "../../src/errors.js";
import { createLogger, silentLogger } from "../../src/logger.js";
import { freePort } from "../../src/net.js";
import { recordOutput } from "../support/artifacts.js";
import { runKeyops } from "../support/cli.js";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const FIXTURE = fileURLToPath(new URL("./fixtures/start-embedded.ts", import.meta.url));

const dataDirs: string[] = [];
const children: ChildProcess[] = [];

const IS_ROOT = process.getuid?.() === 0;

/** A data dir the `postgres` user can reach (0755 under /tmp): the cluster lives right in it. */
async function tempDataDir(): Promise<string> {
  const dir = await privateDataDir();
  await chmod(dir, 0o755);
  return dir;
}

/** A fresh mkdtemp directory, mode 0700 as made: as root, the `postgres` user cannot reach it. */
async function privateDataDir(): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), "keyops-embedded-"));
  dataDirs.push(dir);
  return dir;
}

/** Every pg-password-* file created in os.tmpdir() while this file runs (even for a moment). */
const passwordFilesSeen = new Set<string>();
const tmpWatcher = watch(os.tmpdir(), (_event, name) => {
  if (name?.startsWith("pg-password-")) passwordFilesSeen.add(name);
});
const passwordFilesBefore = new Set(readdirSync(os.tmpdir()).filter((n) => n.startsWith("pg-password-")));

/** A logger keeping what it writes, for the warnings a start gives. */
function capturingLogger(): { log: ReturnType<typeof createLogger>; lines: string[] } {
  const lines: string[] = [];
  return { log: createLogger("debug", (line) => lines.push(line)), lines };
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

/** A zombie (exited, not yet reaped by whoever inherited it) counts as gone. */
function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return !/^[ZX]/.test(stat.slice(stat.lastIndexOf(")") + 2));
  } catch {
    return !existsSync("/proc/self/stat");
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
  tmpWatcher.close();
  for (const child of children)
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  for (const dir of dataDirs) {
    const pid = postmasterPid(dir);
    if (pid && isAlive(pid)) {
      signal(pid, "SIGINT"); // fast shutdown, then the hard way
      if (!(await waitFor(() => !isAlive(pid), 10_000))) signal(pid, "SIGKILL");
      await waitFor(() => !isAlive(pid), 5_000);
    }
    await removeEmbeddedDataDir(dir).catch(() => rm(dir, { recursive: true, force: true }));
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

    // A new owner asks for another port: it must find and reuse the stray server instead, and say
    // so: this server's only owner is dead, it is a genuine leftover.
    const { log, lines } = capturingLogger();
    const recovered = await startEmbeddedPostgres({ dataDir, port: await freePort(), log });
    expect(lines.filter((line) => line.includes(LEFTOVER_WARNING))).toHaveLength(1);
    expect(recovered.url).toBe(url);
    expect(await query(recovered.url, "SELECT 1 AS one")).toEqual([{ one: 1 }]);
    expect(postmasterPid(dataDir)).toBe(strayPid);

    await recovered.stop();
    expect(isAlive(strayPid as number)).toBe(false);
    expect(await waitFor(() => !existsSync(pidFile(dataDir)), 5_000)).toBe(true);
    expect(await connectOutcome(recovered.url)).toBe("ECONNREFUSED");
  }, 180_000);
});

/** The uid/gid owning `dir` (the server's user: postgres as root), to spawn a process as it. */
function serverUser(dir: string): { uid: number; gid: number } {
  const st = statSync(dir);
  return { uid: st.uid, gid: st.gid };
}

function mode(file: string): number {
  return statSync(file).mode & 0o777;
}

/** The pid of a process that has exited (and been reaped). */
async function deadPid(): Promise<number> {
  const child = spawn("true");
  await new Promise((resolve) => child.on("close", resolve));
  return child.pid as number;
}

// A keyops process using the embedded default through openDatabase, as the CLI and the bot do: it
// prints `URL <url>`, keeps its pool busy, and on SIGTERM closes the database and exits 0.
const SRC = pathToFileURL(path.join(ROOT, "src/")).href;
const OWNER_SCRIPT = `
import { openDatabase } from ${JSON.stringify(`${SRC}db/database.ts`)};
import { createLogger } from ${JSON.stringify(`${SRC}logger.ts`)};
const [dataDir, port] = process.argv.slice(2);
const db = await openDatabase(
  { databaseUrl: undefined, dataDir, embeddedPostgresPort: Number(port) },
  createLogger("info"),
  { poolSize: 3 },
);
process.once("SIGTERM", () => {
  db.close().then(
    () => process.exit(0),
    (error) => {
      process.stderr.write(String(error) + "\\n");
      process.exit(1);
    },
  );
});
setInterval(() => db.pool.query("SELECT 1").catch(() => undefined), 100);
process.stdout.write("URL " + db.url + "\\n");
`;

interface OwnerProcess {
  child: ChildProcess;
  url: Promise<string>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  output(): string;
}

let ownerScript: string | undefined;

async function startOwner(dataDir: string, port: number): Promise<OwnerProcess> {
  if (!ownerScript) {
    const dir = await privateDataDir();
    ownerScript = path.join(dir, "owner.mts");
    await writeFile(ownerScript, OWNER_SCRIPT);
  }
  const child = spawn(process.execPath, ["--import", "tsx", ownerScript, dataDir, String(port)], {
    cwd: ROOT,
    stdio: ["ignore", "pipe", "pipe"],
  });
  children.push(child);
  let stdout = "";
  let stderr = "";
  child.stdout?.setEncoding("utf8");
  child.stderr?.setEncoding("utf8");
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on("exit", (code, signal) => resolve({ code, signal })),
  );
  const url = new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no URL after 90 s; stderr: ${stderr}`)), 90_000);
    child.stdout?.on("data", (chunk: string) => {
      stdout += chunk;
      recordOutput(chunk);
      const found = /^URL (\S+)\n/m.exec(stdout)?.[1];
      if (found) {
        clearTimeout(timer);
        resolve(found);
      }
    });
    child.stderr?.on("data", (chunk: string) => {
      stderr += chunk;
      recordOutput(chunk);
    });
    void exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`the owner exited (${code ?? signal}) before printing a URL; stderr: ${stderr}`));
    });
  });
  url.catch(() => undefined);
  return { child, url, exited, output: () => `${stdout}${stderr}` };
}

describe("the embedded PostgreSQL under a private directory (mode 0700, as mkdtemp makes it)", () => {
  it("starts, answers, stops and restarts; the data dir stays 0700; no password file in os.tmpdir()", async () => {
    const dataDir = await privateDataDir();
    expect(mode(dataDir)).toBe(0o700);
    const port = await freePort();
    // A lock and an owner left by a process that died: neither blocks the start nor makes a leftover.
    const dead = await deadPid();
    await writeFile(path.join(dataDir, "owners.lock"), `${dead} 1\n`);
    await mkdir(path.join(dataDir, "owners"));
    await writeFile(path.join(dataDir, "owners", `${dead}-00000000`), `${dead} 1\n`);

    const { log, lines } = capturingLogger();
    const first = await startEmbeddedPostgres({ dataDir, port, log });
    expect(lines.filter((line) => line.includes(LEFTOVER_WARNING))).toEqual([]);
    expect(await query(first.url, "SELECT 1 AS one")).toEqual([{ one: 1 }]);
    await query(first.url, "CREATE TABLE kept (note text); INSERT INTO kept VALUES ('still here')");
    const [where] = await query<{ dir: string }>(
      first.url,
      "SELECT setting AS dir FROM pg_settings WHERE name = 'data_directory'",
    );
    // <dataDir>/postgres is the cluster, or (as root, the postgres user cannot reach dataDir) a
    // symlink to where it is kept.
    expect(realpathSync(path.join(dataDir, "postgres"))).toBe(where?.dir);
    if (IS_ROOT) {
      expect(lstatSync(path.join(dataDir, "postgres")).isSymbolicLink()).toBe(true);
      expect(where?.dir).toMatch(new RegExp(`^${CLUSTERS_ROOT}/[0-9a-f]{16}/postgres$`));
      expect(mode(where?.dir as string)).toBe(0o700);
      expect(statSync(where?.dir as string).uid).not.toBe(0);
    }
    expect(mode(dataDir)).toBe(0o700);
    expect(readdirSync(path.join(dataDir, "owners"))).toHaveLength(1);
    const firstPid = postmasterPid(dataDir) as number;
    expect(firstPid).toBeGreaterThan(0);

    await first.stop();
    expect(isAlive(firstPid)).toBe(false);
    expect(existsSync(pidFile(dataDir))).toBe(false);
    expect(await connectOutcome(first.url)).toBe("ECONNREFUSED");
    expect(readdirSync(path.join(dataDir, "owners"))).toEqual([]);
    expect(existsSync(path.join(dataDir, "owners.lock"))).toBe(false);

    // A postmaster.pid left by a crash whose pid another process of the server's user now has is
    // neither reused as a server nor in the way of starting one (PostgreSQL itself would refuse).
    const squatter = spawn("sleep", ["60"], { stdio: "ignore", ...serverUser(where?.dir as string) });
    children.push(squatter);
    await writeFile(
      pidFile(dataDir),
      `${squatter.pid}\n${where?.dir}\n0\n${port}\n/tmp\nlocalhost\n0 0\nready\n`,
    );
    const second = await startEmbeddedPostgres({ dataDir, port, log: silentLogger });
    expect(second.url).toBe(first.url);
    expect(postmasterPid(dataDir)).not.toBe(squatter.pid);
    squatter.kill("SIGKILL");
    expect(await query(second.url, "SELECT note FROM kept")).toEqual([{ note: "still here" }]);
    const secondPid = postmasterPid(dataDir) as number;
    await second.stop();
    expect(isAlive(secondPid)).toBe(false);
    expect(mode(dataDir)).toBe(0o700);

    // initdb's password never went through a file in os.tmpdir(), not even for a moment.
    await sleep(200);
    expect([...passwordFilesSeen]).toEqual([]);
    expect(
      readdirSync(os.tmpdir()).filter((n) => n.startsWith("pg-password-") && !passwordFilesBefore.has(n)),
    ).toEqual([]);

    // Removing the data dir removes the cluster kept for it too.
    const home = path.dirname(where?.dir as string);
    await removeEmbeddedDataDir(dataDir);
    expect(existsSync(dataDir)).toBe(false);
    expect(existsSync(home)).toBe(false);
  }, 180_000);

  it("removing a scratch directory removes the clusters kept for the data directories in it, and no other", async () => {
    const scratch = await privateDataDir();
    const dataDir = path.join(scratch, "bench", "data");
    await mkdir(dataDir, { recursive: true, mode: 0o700 });
    const server = await startEmbeddedPostgres({ dataDir, port: await freePort(), log: silentLogger });
    const [where] = await query<{ dir: string }>(
      server.url,
      "SELECT setting AS dir FROM pg_settings WHERE name = 'data_directory'",
    );
    await server.stop();
    const home = path.dirname(where?.dir as string);
    // A cluster kept for a directory whose path only starts like the scratch's stays.
    const other = path.join(CLUSTERS_ROOT, "0000test-sibling");
    if (IS_ROOT) {
      expect(path.dirname(home)).toBe(CLUSTERS_ROOT);
      await mkdir(other, { recursive: true });
      await writeFile(path.join(other, "origin"), `${realpathSync(scratch)}-sibling/data\n`);
    }
    try {
      await removeTree(scratch);
      expect(existsSync(scratch)).toBe(false);
      expect(existsSync(home)).toBe(false);
      if (IS_ROOT) expect(existsSync(other)).toBe(true);
    } finally {
      await rm(other, { recursive: true, force: true });
    }
  }, 180_000);

  it("two processes share one server, the first out leaves it to the second, the last out stops it (9 SIGTERM rounds)", async () => {
    const dataDir = await privateDataDir();
    const port = await freePort();
    const rounds: { round: number; how: string; stopped: boolean }[] = [];
    for (let round = 1; round <= 9; round++) {
      // Round 1 starts both at the same moment on a fresh data dir (one initdb, one server); the
      // others start the second while the first runs, the case that used to warn of a leftover.
      const a = await startOwner(dataDir, port);
      if (round > 1) await a.url;
      const b = await startOwner(dataDir, port);
      const [urlA, urlB] = await Promise.all([a.url, b.url]);
      expect(urlB).toBe(urlA);
      const pid = postmasterPid(dataDir) as number;
      expect(pid).toBeGreaterThan(0);
      expect(readdirSync(path.join(dataDir, "owners"))).toHaveLength(2);

      let how: string;
      if (round % 3 === 0) {
        how = "both SIGTERMed at once";
        a.child.kill("SIGTERM");
        b.child.kill("SIGTERM");
        expect(await Promise.all([a.exited, b.exited])).toEqual([
          { code: 0, signal: null },
          { code: 0, signal: null },
        ]);
      } else {
        const [first, second] = round % 2 === 1 ? [a, b] : [b, a];
        how = round % 2 === 1 ? "first started stops first" : "last started stops first";
        first.child.kill("SIGTERM");
        expect(await first.exited).toEqual({ code: 0, signal: null });
        // Still running for the second owner, on the same pid.
        expect({ round, alive: isAlive(pid) }).toEqual({ round, alive: true });
        expect(await query(urlA, "SELECT 1 AS one")).toEqual([{ one: 1 }]);
        expect(postmasterPid(dataDir)).toBe(pid);
        second.child.kill("SIGTERM");
        expect(await second.exited).toEqual({ code: 0, signal: null });
      }
      const stopped =
        !isAlive(pid) && !existsSync(pidFile(dataDir)) && (await connectOutcome(urlA)) === "ECONNREFUSED";
      rounds.push({ round, how, stopped });
      for (const owner of [a, b]) expect(owner.output()).not.toContain(LEFTOVER_WARNING);
      expect(readdirSync(path.join(dataDir, "owners"))).toEqual([]);
      expect(existsSync(path.join(dataDir, "owners.lock"))).toBe(false);
    }
    process.stdout.write(
      `embedded owners: ${rounds.filter((r) => r.stopped).length} of ${rounds.length} SIGTERM stops stopped the server\n`,
    );
    expect(rounds.filter((r) => !r.stopped)).toEqual([]);
  }, 600_000);

  it("a port in use is a configuration problem: one UserError line naming KEYOPS_EMBEDDED_PG_PORT (exit 2)", async () => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, "127.0.0.1", resolve));
    const port = (blocker.address() as { port: number }).port;
    try {
      const dataDir = await privateDataDir();
      const error = await startEmbeddedPostgres({ dataDir, port, log: silentLogger }).catch(
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(UserError);
      expect((error as UserError).exitCode).toBe(2);
      expect((error as UserError).message).toContain("KEYOPS_EMBEDDED_PG_PORT");
      expect((error as UserError).message).toContain(String(port));
      expect((error as UserError).message).not.toContain("\n");
      expect(readdirSync(path.join(dataDir, "owners"))).toEqual([]);
      expect(existsSync(path.join(dataDir, "owners.lock"))).toBe(false);

      const result = await runKeyops(
        ["keys", "status"],
        { KEYOPS_DATA_DIR: dataDir, KEYOPS_EMBEDDED_PG_PORT: String(port) },
        { cwd: dataDir, timeoutMs: 120_000 },
      );
      expect({ code: result.code, stdout: result.stdout }).toEqual({ code: 2, stdout: "" });
      expect(result.stderr).toMatch(/^keyops: [^\n]*KEYOPS_EMBEDDED_PG_PORT[^\n]*\n$/);
    } finally {
      await new Promise((resolve) => blocker.close(resolve));
    }
  }, 180_000);
});
