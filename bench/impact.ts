// What a rotation costs the application (npm run bench:impact -- [--rows N] [--idle-seconds S]
// [--reads R] [--writes W] [--throttle-fraction F] [--batch-size N] [--keep]).
//
// On a throw-away embedded PostgreSQL (fsync on) seeded with N legacy rows, the example service
// (examples/api-service, installed from an `npm pack` of this checkout, keyops/client on the
// keyring source) serves steady open-loop load: R reads/s (GET /api/platforms/:id) and W writes/s
// (PUT /api/platforms/:id). Its read and write latencies are measured from this process:
//   idle: no rotation, for S seconds, before the rotations and again after them (counted together);
//   rotating: during `keyops rotate` (its own process, unthrottled);
//   throttled: during `keyops rotate --max-rows-per-second <F x the unthrottled rate>`;
//   auto: during `keyops rotate --max-rows-per-second auto`.
import { type ChildProcess, spawn } from "node:child_process";
import os from "node:os";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { SecretKey } from "../src/crypto/secret-key.js";
import { type Database, openDatabase } from "../src/db/database.js";
import type { EmbeddedServer } from "../src/db/embedded.js";
import { seedPlatformIntegrations } from "../src/demo/seed.js";
import { KeyStore } from "../src/engine/key-store.js";
import { createLogger } from "../src/logger.js";
import {
  type ApiService,
  installApiService,
  removePack,
  startApiService,
} from "../test/support/api-service.js";
import { note, runInScratchDir, startScratchPostgres, stopOnInterrupt } from "./scratch-run.js";

const ENVIRONMENT = "development";
const KEYOPS_BIN = fileURLToPath(new URL("../bin/keyops.mjs", import.meta.url));

interface Options {
  rows: number;
  idleSeconds: number;
  reads: number;
  writes: number;
  throttleFraction: number;
  /** Given to every `keyops rotate` (--batch-size); unset: the engine's own choice. */
  batchSize?: number;
  keep: boolean;
}

function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      rows: { type: "string" },
      "idle-seconds": { type: "string" },
      reads: { type: "string" },
      writes: { type: "string" },
      "throttle-fraction": { type: "string" },
      "batch-size": { type: "string" },
      keep: { type: "boolean", default: false },
    },
    strict: true,
    allowPositionals: false,
  });
  const num = (value: string | undefined, flag: string, fallback: number) => {
    if (value === undefined) return fallback;
    const n = Number(value.replaceAll("_", ""));
    if (!Number.isFinite(n) || n <= 0) throw new Error(`${flag} must be a positive number`);
    return n;
  };
  const fraction = num(values["throttle-fraction"], "--throttle-fraction", 0.25);
  if (fraction >= 1) throw new Error("--throttle-fraction must be below 1");
  return {
    rows: Math.round(num(values.rows, "--rows", 100_000)),
    idleSeconds: num(values["idle-seconds"], "--idle-seconds", 15),
    reads: num(values.reads, "--reads", 40),
    writes: num(values.writes, "--writes", 10),
    throttleFraction: fraction,
    ...(values["batch-size"] !== undefined
      ? { batchSize: Math.round(num(values["batch-size"], "--batch-size", 0)) }
      : {}),
    keep: values.keep ?? false,
  };
}

/** Latencies of one phase, by kind. */
interface Sample {
  reads: number[];
  writes: number[];
  failed: number;
}

/**
 * Open-loop load: requests start on a fixed schedule whatever the answers take (a slow service
 * does not slow the load down), at most 64 in flight; every latency is kept.
 */
function startLoad(url: string, ids: string[], options: Options) {
  let sample: Sample = { reads: [], writes: [], failed: 0 };
  const inFlight = new Set<Promise<void>>();
  let turn = 0;
  const timed = async (kind: "reads" | "writes", request: () => Promise<Response>) => {
    const into = sample;
    const started = performance.now();
    try {
      const response = await request();
      await response.arrayBuffer();
      if (!response.ok) into.failed++;
      else into[kind].push(performance.now() - started);
    } catch {
      into.failed++;
    }
  };
  const launch = (work: Promise<void>) => {
    inFlight.add(work);
    void work.finally(() => inFlight.delete(work));
  };
  const every = (perSecond: number, fire: () => void) => setInterval(fire, 1000 / perSecond);
  const pick = () => ids[(turn++ * 7919) % ids.length] as string;
  const timers = [
    every(options.reads, () => {
      if (inFlight.size >= 64) return void sample.failed++;
      const id = pick();
      launch(timed("reads", () => fetch(`${url}/api/platforms/${encodeURIComponent(id)}`)));
    }),
    every(options.writes, () => {
      if (inFlight.size >= 64) return void sample.failed++;
      const id = pick();
      const body = JSON.stringify({ accessToken: `shpat_${turn}`, shopDomain: "bench.myshopify.com" });
      launch(
        timed("writes", () =>
          fetch(`${url}/api/platforms/${encodeURIComponent(id)}`, {
            method: "PUT",
            headers: { "content-type": "application/json" },
            body,
          }),
        ),
      );
    }),
  ];
  return {
    /** Starts a new phase; returns what the previous one measured. */
    next(): Sample {
      const done = sample;
      sample = { reads: [], writes: [], failed: 0 };
      return done;
    },
    async stop(): Promise<void> {
      for (const timer of timers) clearInterval(timer);
      await Promise.allSettled(inFlight);
    },
  };
}

function percentile(values: number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number;
}

/** `keyops rotate --json` as its own process; its report. */
async function rotate(
  env: Record<string, string>,
  extra: string[],
): Promise<{ rowsPerSecond: number; seconds: number; status: string }> {
  const started = performance.now();
  const child: ChildProcess = spawn(
    process.execPath,
    [KEYOPS_BIN, "rotate", "--env", ENVIRONMENT, "--json", ...extra],
    {
      env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "", ...env },
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  const forget = stopOnInterrupt(() => child.kill("SIGTERM"));
  let stdout = "";
  let stderr = "";
  child.stdout?.on("data", (chunk: Buffer) => {
    stdout += chunk.toString("utf8");
  });
  child.stderr?.on("data", (chunk: Buffer) => {
    stderr += chunk.toString("utf8");
  });
  const code = await new Promise<number | null>((resolve) => child.on("close", resolve));
  forget();
  if (code !== 0)
    throw new Error(
      `keyops rotate ${extra.join(" ")} exited ${code}: ${(stdout + stderr).trim().split("\n").at(-1)}`,
    );
  const report = JSON.parse(stdout) as { rowsPerSecond: number; status: string };
  return { ...report, seconds: (performance.now() - started) / 1000 };
}

interface PhaseRow {
  label: string;
  sample: Sample;
  seconds: number;
  rotation?: { rowsPerSecond: number };
}

function printTable(rows: PhaseRow[]): void {
  const ms = (v: number) => (Number.isNaN(v) ? "-" : v.toFixed(1));
  const header = [
    "phase",
    "seconds",
    "reads",
    "read p50",
    "read p99",
    "writes",
    "write p50",
    "write p99",
    "failed",
    "rotation rows/s",
  ];
  const lines = rows.map((r) => [
    r.label,
    r.seconds.toFixed(1),
    String(r.sample.reads.length),
    ms(percentile(r.sample.reads, 50)),
    ms(percentile(r.sample.reads, 99)),
    String(r.sample.writes.length),
    ms(percentile(r.sample.writes, 50)),
    ms(percentile(r.sample.writes, 99)),
    String(r.sample.failed),
    r.rotation ? String(r.rotation.rowsPerSecond) : "",
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((line) => (line[i] ?? "").length)));
  const format = (cells: string[]) =>
    cells
      .map((cell, i) => (i === 0 ? cell.padEnd(widths[i] ?? 0) : cell.padStart(widths[i] ?? 0)))
      .join("  ");
  console.log(format(header));
  for (const line of lines) console.log(format(line));
}

async function run(options: Options, dir: string): Promise<void> {
  const log = createLogger("warn");
  let server: EmbeddedServer | undefined;
  let db: Database | undefined;
  let service: ApiService | undefined;
  let installed: Awaited<ReturnType<typeof installApiService>> | undefined;
  let load: ReturnType<typeof startLoad> | undefined;
  try {
    const started = await startScratchPostgres(dir, log);
    server = started.server;
    const port = started.port;
    db = await openDatabase({ databaseUrl: server.url, dataDir: dir, embeddedPostgresPort: port }, log);
    const masterKey = SecretKey.generate();
    const keys = new KeyStore(db.prisma, masterKey, log);
    const legacyKey = SecretKey.generate();
    await keys.adoptLegacyKey(ENVIRONMENT, legacyKey);
    note(`seeding ${options.rows} rows`);
    await seedPlatformIntegrations(db.pool, legacyKey, { rows: options.rows });
    await db.pool.query(`VACUUM ANALYZE "PlatformIntegration"`);
    const { rows: idRows } = await db.pool.query<{ id: string }>(`SELECT id FROM "PlatformIntegration"`);
    const ids = idRows.map((row) => row.id);

    note("installing examples/api-service from an npm pack of this checkout");
    stopOnInterrupt(removePack);
    installed = await installApiService();
    stopOnInterrupt(() => installed?.remove());
    const keyopsEnv = { DATABASE_URL: server.url, KEYOPS_MASTER_KEY: masterKey.exposeBase64() };
    service = await startApiService(installed.dir, {
      DATABASE_URL: server.url,
      KEYOPS_ENVIRONMENT: ENVIRONMENT,
      KEYOPS_DATABASE_URL: server.url,
      KEYOPS_MASTER_KEY: masterKey.exposeBase64(),
      KEYOPS_KEYRING_REFRESH_SECONDS: "1",
      KEYOPS_REPORT_INTERVAL_SECONDS: "1",
    });
    stopOnInterrupt(() => service?.stop());

    load = startLoad(service.url, ids, options);
    const phases: PhaseRow[] = [];
    const timedPhase = async <T>(
      label: string,
      work: () => Promise<T>,
      rotation?: (value: T) => PhaseRow["rotation"],
    ) => {
      note(label);
      load?.next();
      const started = performance.now();
      const value = await work();
      const row: PhaseRow = {
        label,
        sample: load?.next() as Sample,
        seconds: (performance.now() - started) / 1000,
      };
      if (rotation) row.rotation = rotation(value);
      phases.push(row);
      return value;
    };
    const batch = options.batchSize ? ["--batch-size", String(options.batchSize)] : [];
    // A few seconds of warm-up (connections, JIT) that no phase counts.
    await new Promise((resolve) => setTimeout(resolve, 3000));
    await timedPhase("idle", () => new Promise((resolve) => setTimeout(resolve, options.idleSeconds * 1000)));
    const unthrottled = await timedPhase(
      "rotating (unthrottled)",
      () => rotate(keyopsEnv, batch),
      (r) => r,
    );
    const limit = Math.max(100, Math.round(unthrottled.rowsPerSecond * options.throttleFraction));
    await timedPhase(
      `throttled (--max-rows-per-second ${limit})`,
      () => rotate(keyopsEnv, [...batch, "--max-rows-per-second", String(limit)]),
      (r) => r,
    );
    await timedPhase(
      "auto (--max-rows-per-second auto)",
      () => rotate(keyopsEnv, [...batch, "--max-rows-per-second", "auto"]),
      (r) => r,
    );
    await timedPhase(
      "idle (after)",
      () => new Promise((resolve) => setTimeout(resolve, options.idleSeconds * 1000)),
    );
    await load.stop();
    load = undefined;

    const { rows: settings } = await db.pool.query<Record<string, string>>(
      `SELECT current_setting('server_version') AS version, current_setting('fsync') AS fsync`,
    );
    console.log(
      `KeyOps impact benchmark: ${options.rows} rows, ${options.reads} reads/s + ${options.writes} writes/s open-loop ` +
        `into examples/api-service, batch ${options.batchSize ?? "the engine's default"}; PostgreSQL ${settings[0]?.version} (fsync ${settings[0]?.fsync}), ${os.cpus().length} CPUs`,
    );
    printTable(phases);
    const p99 = (row: PhaseRow | undefined) =>
      percentile([...(row?.sample.reads ?? []), ...(row?.sample.writes ?? [])], 99);
    const [idleBefore, rotating, throttled, auto, idleAfter] = phases;
    // Idle is measured before and after the rotations and counted together: a shared machine's
    // noise then weighs on the baseline as on the rotating phases.
    const base = p99({
      label: "idle",
      seconds: 0,
      sample: {
        reads: [...(idleBefore?.sample.reads ?? []), ...(idleAfter?.sample.reads ?? [])],
        writes: [...(idleBefore?.sample.writes ?? []), ...(idleAfter?.sample.writes ?? [])],
        failed: 0,
      },
    });
    const part = (row: PhaseRow | undefined) =>
      `${p99(row).toFixed(1)} ms (${(p99(row) / base).toFixed(1)}x)`;
    console.log(
      `impact: idle p99 ${base.toFixed(1)} ms, rotating p99 ${part(rotating)}, throttled p99 ${part(throttled)}, auto p99 ${part(auto)}`,
    );
  } finally {
    await load?.stop();
    await service?.stop().catch(() => undefined);
    await installed?.remove();
    await removePack();
    await db?.close();
    await server?.stop().catch((error: unknown) => note(`could not stop PostgreSQL: ${String(error)}`));
  }
}

runInScratchDir("impact", () => {
  const options = parseOptions(process.argv.slice(2));
  return { keep: options.keep, work: (dir) => run(options, dir) };
});
