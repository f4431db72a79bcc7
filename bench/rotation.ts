// Rotation throughput benchmark (npm run bench:rotation -- [--rows N] [--batch-size N] [--sample N]
// [--crypto-workers N] [--keep]).
//
// On a throw-away embedded PostgreSQL with default durability (fsync and synchronous_commit on),
// seeded with N legacy rows, it measures on the same table state, restored before each phase:
//   (a) naive: the guide's way, per row SELECT by id, decrypt, encrypt, UPDATE, autocommit (on --sample rows);
//   (c) a real `engine.rotate`, its re-encryption phase timed apart from verify-before/after;
//   (b) the database ceiling: the engine's own reencryptTarget (same SQL, batching, read-ahead and
//       checkpointing) with the crypto replaced by look-ups of ciphertexts prepared beforehand.
//   (d) PostgreSQL's own single-statement rewrite of the same rows (UPDATE ... SET credentials = 'v2:' ||
//       credentials): the physical ceiling for rewriting this table on this machine.
// (b) runs after (c) so that its in-memory prepared ciphertexts do not count in the rotation's peak RSS.
// RSS is sampled every 100 ms through the rotation; its peak is what the last line reports.
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import type pg from "pg";
import { Keyring, type KeyringVersion } from "../src/crypto/keyring.js";
import { SecretKey } from "../src/crypto/secret-key.js";
import { type Database, openDatabase } from "../src/db/database.js";
import type { EmbeddedServer } from "../src/db/embedded.js";
import { seedPlatformIntegrations } from "../src/demo/seed.js";
import { DEFAULT_BATCH_SIZE, MAX_BATCH_SIZE, RotationEngine } from "../src/engine/engine.js";
import { KeyStore } from "../src/engine/key-store.js";
import type { Progress } from "../src/engine/progress.js";
import { type BatchTransform, defaultWorkerCount } from "../src/engine/reencrypt-workers.js";
import { reencryptTarget } from "../src/engine/rotation.js";
import { PLATFORM_CREDENTIALS, type ResolvedTarget, resolveTarget } from "../src/engine/target.js";
import { createLogger, type Logger } from "../src/logger.js";
import { note, runInScratchDir, startScratchPostgres } from "./scratch-run.js";
import { delta, postmasterPid, type Usage, type UsageDelta, UsageProbe } from "./system.js";

const ENVIRONMENT = "development";
const TABLE = `"PlatformIntegration"`;
const SEED_COPY = `"_bench_seed"`;

interface Options {
  rows: number;
  batchSize: number;
  sample: number;
  /** Crypto threads for the rotation; default the engine's own choice (all cores but one). */
  cryptoWorkers?: number;
  keep: boolean;
}

interface Row {
  label: string;
  rows: number;
  usage: UsageDelta;
  walBytes?: number;
}

function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      rows: { type: "string" },
      "batch-size": { type: "string" },
      sample: { type: "string" },
      "crypto-workers": { type: "string" },
      keep: { type: "boolean", default: false },
    },
    strict: true,
    allowPositionals: false,
  });
  const int = (value: string | undefined, flag: string, fallback: number) => {
    if (value === undefined) return fallback;
    const n = Number(value.replaceAll("_", ""));
    if (!Number.isSafeInteger(n) || n < 1) throw new Error(`${flag} must be a positive integer`);
    return n;
  };
  const batchSize = int(values["batch-size"], "--batch-size", DEFAULT_BATCH_SIZE);
  if (batchSize > MAX_BATCH_SIZE) throw new Error(`--batch-size must be at most ${MAX_BATCH_SIZE}`);
  return {
    rows: int(values.rows, "--rows", 200_000),
    batchSize,
    sample: int(values.sample, "--sample", 5000),
    ...(values["crypto-workers"] !== undefined
      ? { cryptoWorkers: int(values["crypto-workers"], "--crypto-workers", 1) }
      : {}),
    keep: values.keep ?? false,
  };
}

const mb = (bytes: number) => Math.round(bytes / (1024 * 1024));

async function walPosition(pool: pg.Pool): Promise<number> {
  const { rows } = await pool.query<{ b: string }>(
    "SELECT (pg_current_wal_insert_lsn() - '0/0'::pg_lsn)::text AS b",
  );
  return Number(rows[0]?.b ?? 0);
}

/** Puts the seeded table back as it was: same rows, same physical order, fresh statistics, clean buffers. */
async function restore(pool: pg.Pool): Promise<void> {
  await pool.query(`TRUNCATE ${TABLE}`);
  await pool.query(`INSERT INTO ${TABLE} SELECT * FROM ${SEED_COPY}`);
  await pool.query(`VACUUM ANALYZE ${TABLE}`);
  await pool.query("CHECKPOINT");
}

/** v1 = a legacy key (decrypt-only), v2 = a new active key: what the naive script and the ceiling write. */
function benchVersions(legacyKey: SecretKey): KeyringVersion[] {
  return [
    { version: 1, state: "DECRYPT_ONLY", legacy: true, key: legacyKey },
    { version: 2, state: "ACTIVE", legacy: false, key: SecretKey.generate() },
  ];
}

/** (a) The guide's way: one SELECT and one autocommitted UPDATE per row. */
async function naivePhase(pool: pg.Pool, keyring: Keyring, sample: number, probe: UsageProbe): Promise<Row> {
  const { rows: ids } = await pool.query<{ id: string }>(`SELECT id FROM ${TABLE} ORDER BY id LIMIT $1`, [
    sample,
  ]);
  const wal = await walPosition(pool);
  const start = probe.sample();
  for (const { id } of ids) {
    const { rows } = await pool.query<{ credentials: string }>(
      `SELECT credentials FROM ${TABLE} WHERE id = $1`,
      [id],
    );
    const stored = rows[0];
    if (!stored) throw new Error(`row ${id} vanished`);
    const plaintext = keyring.decryptToString(stored.credentials);
    await pool.query(`UPDATE ${TABLE} SET credentials = $1 WHERE id = $2`, [keyring.encrypt(plaintext), id]);
  }
  const end = probe.sample();
  return {
    label: "(a) naive, row by row",
    rows: ids.length,
    usage: delta(start, end),
    walBytes: (await walPosition(pool)) - wal,
  };
}

interface RotationResult {
  rows: Row[];
  reencrypted: number;
  rssBefore: number;
  rssPeakSampled: number;
  maxRssAfter: number;
}

/** (c) A real rotation, split into its phases by the progress events' timestamps. */
async function rotationPhase(
  engine: RotationEngine,
  pool: pg.Pool,
  options: Options,
  probe: UsageProbe,
): Promise<RotationResult> {
  const last = new Map<Progress["phase"], Usage>();
  const rssBefore = process.memoryUsage.rss();
  let rssPeak = rssBefore;
  const sampler = setInterval(() => {
    rssPeak = Math.max(rssPeak, process.memoryUsage.rss());
  }, 100);
  const wal = await walPosition(pool);
  const start = probe.sample();
  let report: Awaited<ReturnType<RotationEngine["rotate"]>>;
  let end: Usage;
  try {
    report = await engine.rotate(ENVIRONMENT, {
      batchSize: options.batchSize,
      ...(options.cryptoWorkers !== undefined ? { cryptoWorkers: options.cryptoWorkers } : {}),
      requestedBy: "bench",
      onProgress: (progress) => last.set(progress.phase, probe.sample()),
    });
    end = probe.sample();
  } finally {
    clearInterval(sampler);
  }
  rssPeak = Math.max(rssPeak, process.memoryUsage.rss());
  const maxRssAfter = process.resourceUsage().maxRSS * 1024;
  const walBytes = (await walPosition(pool)) - wal;
  if (report.status !== "SUCCEEDED" || !report.digestUnchanged || report.reencrypted !== options.rows) {
    throw new Error(
      `the rotation did not rotate every row cleanly (status ${report.status}, ${report.reencrypted}/${options.rows} rows, digest unchanged: ${report.digestUnchanged})`,
    );
  }
  const verifiedBefore = last.get("verify-before");
  const reencrypted = last.get("reencrypt");
  if (!verifiedBefore || !reencrypted) throw new Error("the rotation sent no progress for some phase");
  return {
    rows: [
      { label: "(c) rotate: verify-before", rows: options.rows, usage: delta(start, verifiedBefore) },
      {
        label: "(c) rotate: re-encrypt",
        rows: report.reencrypted,
        usage: delta(verifiedBefore, reencrypted),
      },
      { label: "(c) rotate: verify-after +", rows: options.rows, usage: delta(reencrypted, end) },
      { label: "(c) rotate: whole run", rows: report.reencrypted, usage: delta(start, end), walBytes },
    ],
    reencrypted: report.reencrypted,
    rssBefore,
    rssPeakSampled: rssPeak,
    maxRssAfter,
  };
}

/**
 * (b) The database ceiling: the engine's reencryptTarget itself, so the same keyset SELECT,
 * compare-and-swap UPDATE ... FROM unnest(...) RETURNING, checkpoint UPDATE of "RotationRun" in
 * the same statement and read-ahead, with the crypto replaced by what (d) writes ('v2:' before
 * each ciphertext): no AES, and the same bytes as the single statement, at any table size.
 */
async function ceilingPhase(
  pool: pg.Pool,
  target: ResolvedTarget,
  options: Options,
  probe: UsageProbe,
  log: Logger,
): Promise<Row> {
  const transform: BatchTransform = async (rows) => ({
    rows: rows.map((row) => ({
      id: row.id,
      rowVersion: row.rowVersion,
      newCiphertext: `v2:${row.ciphertext}`,
    })),
    undecryptable: [],
  });
  const { rows: run } = await pool.query<{ id: number }>(
    `INSERT INTO "RotationRun" ("environment", "targetTable", "idColumn", "ciphertextColumn", "toVersion",
                                "status", "rowsTotal", "batchSize", "requestedBy")
     VALUES ($1, $2, $3, $4, 2, 'RUNNING', $5, $6, 'bench ceiling') RETURNING id`,
    [ENVIRONMENT, target.table, target.idColumn, target.ciphertextColumn, options.rows, options.batchSize],
  );
  const runId = (run[0] as { id: number }).id;
  let lastBatch: Usage | undefined;
  const wal = await walPosition(pool);
  const start = probe.sample();
  const outcome = await reencryptTarget(
    { target: pool, runs: pool },
    transform,
    target,
    {
      runId,
      activeVersion: 2,
      batchSize: options.batchSize,
      cursor: null,
      pass: 1,
      onProgress: () => {
        lastBatch = probe.sample();
      },
    },
    log,
  );
  const walBytes = (await walPosition(pool)) - wal;
  await pool.query(`DELETE FROM "RotationRun" WHERE id = $1`, [runId]);
  if (outcome.reencrypted !== options.rows || !lastBatch) {
    throw new Error(`the ceiling run wrote ${outcome.reencrypted} of ${options.rows} rows`);
  }
  return {
    label: "(b) db ceiling, no crypto",
    rows: outcome.reencrypted,
    usage: delta(start, lastBatch),
    walBytes,
  };
}

/** (d) The physical ceiling: one UPDATE rewriting every row of the same restored table. */
async function rewritePhase(pool: pg.Pool, rows: number, probe: UsageProbe): Promise<Row> {
  const wal = await walPosition(pool);
  const start = probe.sample();
  const { rowCount } = await pool.query(`UPDATE ${TABLE} SET credentials = 'v2:' || credentials`);
  const end = probe.sample();
  if (rowCount !== rows) throw new Error(`the single-statement rewrite wrote ${rowCount} of ${rows} rows`);
  return {
    label: "(d) single-statement rewrite",
    rows,
    usage: delta(start, end),
    walBytes: (await walPosition(pool)) - wal,
  };
}

/** A phase's figures as soon as it ends: a long run that fails later keeps what it measured. */
function noteRows(row: Row): void {
  const wal = row.walBytes === undefined ? "" : `, WAL ${mb(row.walBytes)} MB`;
  note(
    `${row.label}: ${row.rows} rows in ${row.usage.seconds.toFixed(1)} s, ${Math.round(rate(row))} rows/s${wal}`,
  );
}

function rate(row: Row): number {
  return row.usage.seconds > 0 ? row.rows / row.usage.seconds : 0;
}

function printTable(rows: Row[]): void {
  const pct = (cpu: number | null, seconds: number) =>
    cpu === null ? "-" : `${cpu.toFixed(1)}s ${seconds > 0 ? Math.round((100 * cpu) / seconds) : 0}%`;
  const header = ["phase", "rows", "seconds", "rows/s", "node cpu", "pg cpu", "iowait", "WAL MB"];
  const lines = rows.map((row) => [
    row.label,
    String(row.rows),
    row.usage.seconds.toFixed(2),
    String(Math.round(rate(row))),
    pct(row.usage.nodeCpu, row.usage.seconds),
    pct(row.usage.pgCpu, row.usage.seconds),
    row.usage.iowait === null ? "-" : `${row.usage.iowait.toFixed(1)}s`,
    row.walBytes === undefined ? "" : String(mb(row.walBytes)),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((line) => (line[i] ?? "").length)));
  const format = (cells: string[]) =>
    cells
      .map((cell, i) => (i === 0 ? cell.padEnd(widths[i] ?? 0) : cell.padStart(widths[i] ?? 0)))
      .join("  ");
  console.log(format(header));
  for (const line of lines) console.log(format(line));
}

async function run(options: Options, dir: string, log: Logger): Promise<void> {
  let server: EmbeddedServer | undefined;
  let db: Database | undefined;
  try {
    const started = await startScratchPostgres(dir, log);
    server = started.server;
    const port = started.port;
    db = await openDatabase({ databaseUrl: server.url, dataDir: dir, embeddedPostgresPort: port }, log);
    const pool = db.pool;
    const probe = new UsageProbe(postmasterPid(path.join(dir, "postgres")));
    const { rows: settings } = await pool.query<Record<string, string>>(
      `SELECT current_setting('server_version') AS version, current_setting('fsync') AS fsync,
              current_setting('synchronous_commit') AS sync, current_setting('shared_buffers') AS buffers,
              current_setting('max_wal_size') AS wal, current_setting('data_checksums') AS checksums`,
    );
    const s = settings[0] ?? {};

    const keys = new KeyStore(db.prisma, SecretKey.generate(), log);
    const legacyKey = SecretKey.generate();
    await keys.adoptLegacyKey(ENVIRONMENT, legacyKey);
    const engine = new RotationEngine(db, keys, log);
    const target = await resolveTarget(pool, PLATFORM_CREDENTIALS);

    note(`seeding ${options.rows} rows`);
    let seeded = performance.now();
    await seedPlatformIntegrations(pool, legacyKey, { rows: options.rows });
    await pool.query(`VACUUM ANALYZE ${TABLE}`);
    await pool.query(`CREATE TABLE ${SEED_COPY} AS SELECT * FROM ${TABLE}`);
    const { rows: size } = await pool.query<{ table: string }>(
      `SELECT pg_size_pretty(pg_total_relation_size('${TABLE}')) AS table`,
    );
    seeded = (performance.now() - seeded) / 1000;
    note(`seeded in ${seeded.toFixed(1)}s (table with index and TOAST: ${size[0]?.table})`);

    const table: Row[] = [];
    const sample = Math.min(options.sample, options.rows);
    note("restoring the seeded table; (a) naive");
    await restore(pool);
    const naive = await naivePhase(pool, new Keyring(ENVIRONMENT, benchVersions(legacyKey)), sample, probe);
    table.push(naive);
    noteRows(naive);

    note("restoring the seeded table; (c) engine.rotate");
    await restore(pool);
    const rotation = await rotationPhase(engine, pool, options, probe);
    for (const row of rotation.rows) noteRows(row);
    note(`(c) rss peak ${mb(rotation.rssPeakSampled)} MB (sampled), ${mb(rotation.rssBefore)} MB before`);

    note("restoring the seeded table; (b) the db ceiling");
    await restore(pool);
    const ceiling = await ceilingPhase(pool, target, options, probe, log);
    noteRows(ceiling);

    note("restoring the seeded table; (d) single-statement rewrite");
    await restore(pool);
    const rewrite = await rewritePhase(pool, options.rows, probe);
    noteRows(rewrite);
    table.push(ceiling, rewrite, ...rotation.rows);

    const reencrypt = rotation.rows[1] as Row;
    const whole = rotation.rows[3] as Row;
    const rotationRate = rate(reencrypt);
    const wholeRate = rate(whole);
    const ofRewrite = (r: number) => Math.round((100 * r) / rate(rewrite));
    const maxRssEnd = process.resourceUsage().maxRSS * 1024;
    console.log(
      `KeyOps rotation benchmark: ${options.rows} rows, batch ${options.batchSize}, naive sample ${sample}, ` +
        `crypto workers ${options.cryptoWorkers ?? `${defaultWorkerCount()} (default)`}; ` +
        `PostgreSQL ${s.version} (fsync ${s.fsync}, synchronous_commit ${s.sync}, shared_buffers ${s.buffers}, ` +
        `max_wal_size ${s.wal}, data_checksums ${s.checksums}), table ${size[0]?.table}, ${os.cpus().length} CPUs`,
    );
    printTable(table);
    console.log(
      `cpu: % of one core over the phase's wall time; pg = postmaster + all its processes; iowait system-wide. ` +
        `"verify-after +" includes the run's closing count and updates.`,
    );
    console.log(
      `memory: rss ${mb(rotation.rssBefore)} MB before the rotation, ${mb(rotation.rssPeakSampled)} MB peak during it ` +
        `(100 ms samples); process peak (maxRSS) ${mb(rotation.maxRssAfter)} MB through the rotation, ` +
        `${mb(maxRssEnd)} MB at the end`,
    );
    console.log(
      `rotation: ${Math.round(rotationRate)} rows/s, ${(rotationRate / rate(naive)).toFixed(1)}x naive, ` +
        `${Math.round((100 * rotationRate) / rate(ceiling))}% of db ceiling, ` +
        `${ofRewrite(rotationRate)}% of single-statement rewrite, ` +
        `whole run ${Math.round(wholeRate)} rows/s (${ofRewrite(wholeRate)}% of single-statement rewrite), ` +
        `rss ${mb(rotation.rssPeakSampled)} MB`,
    );
  } finally {
    await db?.close();
    await server?.stop().catch((error: unknown) => note(`could not stop PostgreSQL: ${String(error)}`));
  }
}

runInScratchDir("rotation", () => {
  const options = parseOptions(process.argv.slice(2));
  const log = createLogger("warn");
  return { keep: options.keep, work: (dir) => run(options, dir, log) };
});
