import { setTimeout as sleep } from "node:timers/promises";
import type pg from "pg";
import { versionPrefix } from "../crypto/ciphertext.js";
import type { Logger } from "../logger.js";
import { countInKeysetChunks } from "./keyset-count.js";
import { AdaptivePacer, type Pacer, type ProgressListener, ProgressMeter, RateLimiter } from "./progress.js";
import type { ReencryptedBatch, ReencryptedRow, StoredRow } from "./reencrypt.js";
import type { BatchTransform } from "./reencrypt-workers.js";
import type { ResolvedTarget } from "./target.js";

export interface ReencryptOptions {
  runId: number;
  /** The version every row must end under (the keyring's active one). */
  activeVersion: number;
  batchSize: number;
  /** A fixed rate limit, or "auto": back off when the database slows. */
  maxRowsPerSecond?: number | "auto";
  /** Where a resumed run starts: the checkpoint of the interrupted one. */
  cursor: string | null;
  pass: number;
  onProgress?: ProgressListener;
  signal?: AbortSignal;
  /**
   * Runs once after the first pass, before the sweeps: the engine waits there until every live
   * application instance writes the active version, so the sweeps catch what they wrote before.
   */
  beforeSweep?: () => Promise<void>;
  /** After each committed batch: the rows it moved onto the active version (the engine's observers). */
  onBatch?: (rows: number) => void;
  /**
   * How long a pass waits for rows the application holds locked before leaving them (verify then
   * names them and the same command resumes); default 10 minutes.
   */
  lockWaitMs?: number;
  /** The rows left to rotate as the run knows them, for progress (else counted first). */
  expectedRows?: number;
}

/** Where the target's rows live, and where the run's checkpoint is kept (the KeyOps database). */
export interface ReencryptPools {
  target: pg.Pool;
  runs: pg.Pool;
}

export interface ReencryptOutcome {
  reencrypted: number;
  conflicts: number;
  /** Rows no known version decrypts, met in the first pass (verify has the exact figure). */
  undecryptable: number;
}

/** Sweeps after the first pass pick up rows written under an old version behind the cursor. */
export const MAX_PASSES = 5;
/** Rows whose compare-and-swap lost to an application write are re-read and retried this often. */
const CONFLICT_RETRIES = 3;
/** Batches read ahead of the one being written (bounds memory to this many batches). */
const READ_AHEAD = 3;
/**
 * A batch's UPDATE waits at most this long for a row the application holds locked (a lock it
 * waits on would also hold up the application's writes to the rows of the batch it already
 * changed); the batch is then written again skipping the locked rows, which a later look retries.
 */
const BATCH_LOCK_TIMEOUT_MS = 100;
const DEFAULT_LOCK_WAIT_MS = 10 * 60_000;
const LOCK_TIMEOUT_RETRIES = 20;
const RUN_ROW_LOCK_TIMEOUT_MS = 5000;

interface PreparedBatch {
  cursor: string;
  read: number;
  batch: ReencryptedBatch;
}

/**
 * Moves every row of the target that is not yet under the active version onto it, batch by
 * batch in keyset order. Each batch is one compare-and-swap UPDATE that also writes the run's
 * checkpoint (one statement, so atomic): a crash loses at most the batch in flight and a restart
 * resumes after the last committed one. Reading (one connection), re-encryption (`transform`,
 * worker threads) and writing (another connection) overlap, a few batches deep.
 */
export async function reencryptTarget(
  pools: ReencryptPools,
  transform: BatchTransform,
  target: ResolvedTarget,
  options: ReencryptOptions,
  log: Logger,
): Promise<ReencryptOutcome> {
  const onActive = `${versionPrefix(options.activeVersion)}%`;
  const outcome: ReencryptOutcome = { reencrypted: 0, conflicts: 0, undecryptable: 0 };
  const pool = pools.target;
  const runs = pools.target === pools.runs ? null : pools.runs;
  const meter = new ProgressMeter(
    "reencrypt",
    options.expectedRows ?? (await countNotOnActive(pool, target, onActive)),
    options.onProgress,
  );
  const limiter: Pacer =
    options.maxRowsPerSecond === "auto"
      ? new AdaptivePacer(meter)
      : new RateLimiter(options.maxRowsPerSecond);
  const reader = await pool.connect();
  const writer = await pool.connect();
  const write: BatchWriter = { writer, runs, transform, target, runId: options.runId, onActive };
  try {
    await writer.query(`SET lock_timeout = '${BATCH_LOCK_TIMEOUT_MS}ms'`);
    let cursor = options.cursor;
    const firstPass = options.pass;
    for (let pass = firstPass; pass <= MAX_PASSES; pass++) {
      let passWrites = 0;
      const locked = new Set<string>();
      for await (const prepared of readAhead(
        reader,
        transform,
        target,
        onActive,
        cursor,
        options.batchSize,
      )) {
        options.signal?.throwIfAborted();
        await limiter.take(prepared.read, options.signal);
        // Sweeps meet the first pass's undecryptable rows again: count them once.
        const failed = pass === 1 ? prepared.batch.undecryptable : [];
        const writeStarted = performance.now();
        const written =
          prepared.read === 0
            ? { updated: 0, conflicts: 0, locked: [] }
            : await writeBatch(write, prepared.batch.rows, prepared.cursor, pass, failed);
        limiter.observe(prepared.read, performance.now() - writeStarted);
        outcome.reencrypted += written.updated;
        options.onBatch?.(written.updated);
        outcome.conflicts += written.conflicts;
        outcome.undecryptable += failed.length;
        passWrites += written.updated;
        for (const id of written.locked) locked.add(id);
        meter.add(prepared.read);
        cursor = prepared.cursor;
      }
      if (locked.size > 0) {
        const retried = await rotateLockedRows(write, locked, cursor, pass, meter, options);
        outcome.reencrypted += retried.updated;
        outcome.conflicts += retried.conflicts;
        passWrites += retried.updated;
      }
      log.debug("re-encryption pass finished", { runId: options.runId, pass, rows: passWrites });
      if (pass === firstPass) await options.beforeSweep?.();
      const remaining = await countNotOnActive(pool, target, onActive);
      // Done, or a sweep found nothing it could rotate (what is left does not decrypt).
      // The last pass allowed: the run's pass stays at MAX_PASSES (verify names what is left).
      if (remaining === 0 || (passWrites === 0 && pass > firstPass) || pass >= MAX_PASSES) break;
      // Rows written under an old version behind the cursor (a stale client, a lost
      // compare-and-swap before a crash): sweep again from the start.
      cursor = null;
      await pools.runs.query(
        `UPDATE "RotationRun" SET "cursor" = NULL, "pass" = $2, "updatedAt" = now() WHERE id = $1`,
        [options.runId, pass + 1],
      );
    }
    return outcome;
  } finally {
    reader.release();
    await writer.query("RESET lock_timeout").then(
      () => writer.release(),
      (error: Error) => writer.release(error),
    );
  }
}

/**
 * Rows the application held locked when their batch was written: looked at again until they are
 * rotated (or the application wrote them under the active version), waiting with a progress note
 * while they stay locked, up to `lockWaitMs`; what is left then is named by verify.
 */
async function rotateLockedRows(
  write: BatchWriter,
  locked: Set<string>,
  cursor: string | null,
  pass: number,
  meter: ProgressMeter,
  options: ReencryptOptions,
): Promise<{ updated: number; conflicts: number }> {
  const { writer, transform, target, onActive } = write;
  const deadline = performance.now() + (options.lockWaitMs ?? DEFAULT_LOCK_WAIT_MS);
  const total = { updated: 0, conflicts: 0 };
  let waitMs = 50;
  let ids = [...locked];
  for (;;) {
    options.signal?.throwIfAborted();
    const { rows } = await writer.query<StoredRow>(
      `SELECT ${storedColumns(target)} FROM ${target.sqlTable} AS t
        WHERE t.${target.sqlId} = ANY($1::${target.idType}[]) AND t.${target.sqlCiphertext} NOT LIKE $2`,
      [ids, onActive],
    );
    if (rows.length === 0) return total;
    const batch = await transform(rows);
    const written = await writeBatch(write, batch.rows, cursor, pass, [], { skipLocked: true });
    total.updated += written.updated;
    options.onBatch?.(written.updated);
    total.conflicts += written.conflicts;
    ids = written.locked;
    if (ids.length === 0) return total;
    if (performance.now() >= deadline) {
      meter.notify(`left ${ids.length} locked ${ids.length === 1 ? "row" : "rows"} for a later run`);
      return total;
    }
    meter.notify(`waiting on ${ids.length} locked ${ids.length === 1 ? "row" : "rows"}`);
    await sleep(waitMs, undefined, options.signal ? { signal: options.signal } : {});
    waitMs = Math.min(2000, waitMs * 2);
  }
}

/**
 * Yields re-encrypted batches in keyset order while up to READ_AHEAD further batches are being
 * read and re-encrypted. Reads are sent before any crypto runs, so the database works meanwhile.
 */
async function* readAhead(
  reader: pg.PoolClient,
  transform: BatchTransform,
  target: ResolvedTarget,
  onActive: string,
  start: string | null,
  batchSize: number,
): AsyncGenerator<PreparedBatch> {
  let cursor = start;
  let exhausted = false;
  let lastRead: Promise<unknown> = Promise.resolve();
  const queue: Promise<PreparedBatch | null>[] = [];
  const enqueue = () => {
    const read = lastRead.then(async () => {
      if (exhausted) return null;
      // A window of batchSize rows in keyset order, whatever they hold: a sweep over rows that
      // are mostly rotated reads as short statements as the first pass. "t." matters: a bare
      // ORDER BY "id" would sort by the output column (the id as text) and break keyset order
      // for numeric ids.
      const { rows: window } = await reader.query<{
        id: string;
        ciphertext: string | null;
        rowVersion: string;
      }>({
        text: `SELECT t.${target.sqlId}::text AS id,
                      CASE WHEN t.${target.sqlCiphertext} NOT LIKE $2 THEN t.${target.sqlCiphertext} END AS ciphertext,
                      ${ROW_VERSION} AS "rowVersion"
                 FROM ${target.sqlTable} AS t
                WHERE ($1::text IS NULL OR t.${target.sqlId} > $1::${target.idType})
                ORDER BY t.${target.sqlId}
                LIMIT $3`,
        values: [cursor, onActive, batchSize],
      });
      if (window.length < batchSize) exhausted = true;
      if (window.length === 0) return null;
      cursor = (window.at(-1) as StoredRow).id;
      const rows = window.filter((row): row is StoredRow => row.ciphertext !== null);
      return { rows, cursor };
    });
    lastRead = read.catch(() => undefined);
    const prepared = read.then(async (got) =>
      got
        ? {
            cursor: got.cursor,
            read: got.rows.length,
            batch: got.rows.length > 0 ? await transform(got.rows) : { rows: [], undecryptable: [] },
          }
        : null,
    );
    prepared.catch(() => undefined); // awaited in order below; this only avoids an early unhandled rejection
    queue.push(prepared);
  };
  try {
    for (let i = 0; i < READ_AHEAD; i++) enqueue();
    for (;;) {
      const next = await (queue.shift() as Promise<PreparedBatch | null>);
      if (!next) return;
      enqueue();
      yield next;
    }
  } finally {
    await Promise.allSettled(queue);
  }
}

/** Rows not yet under the active version (in keyset chunks: no statement grows with the table). */
function countNotOnActive(pool: pg.Pool, target: ResolvedTarget, onActive: string): Promise<number> {
  return countInKeysetChunks(pool, target, `t.${target.sqlCiphertext} NOT LIKE $3`, [onActive]);
}

const FAILED_IDS_KEPT = 100;

/** The run's checkpoint, with each value given as a placeholder or SQL expression. */
function checkpointSql(p: {
  runId: string;
  cursor: string;
  pass: string;
  done: string;
  failed: string;
}): string {
  return `UPDATE "RotationRun"
             SET "cursor" = ${p.cursor}, "pass" = ${p.pass}, "rowsDone" = "rowsDone" + ${p.done},
                 "rowsFailed" = "rowsFailed" + cardinality(${p.failed}::text[]),
                 "failedRowIds" = (COALESCE("failedRowIds", '{}') || ${p.failed}::text[])[1:${FAILED_IDS_KEPT}],
                 "updatedAt" = now()
           WHERE id = ${p.runId}`;
}

/** What writing a batch needs: the connections, the crypto, the target and the run. */
interface BatchWriter {
  writer: pg.PoolClient;
  /** The KeyOps database when the target lives elsewhere; null when they are one database. */
  runs: pg.Pool | null;
  transform: BatchTransform;
  target: ResolvedTarget;
  runId: number;
  onActive: string;
}

interface Written {
  updated: number;
  conflicts: number;
  /** Rows the application held locked: left as they are, for a later look. */
  locked: string[];
}

const isLockTimeout = (error: unknown) => (error as { code?: string }).code === "55P03";

/**
 * The batch's compare-and-swap UPDATE and the run's checkpoint: one statement when the target
 * lives in the KeyOps database (atomic). With the target in another database the checkpoint
 * follows the batch's commit; a crash between the two only makes the resumed run re-read rows
 * that its filter then skips (they are already under the active version). A row the application
 * changed since it was read is not overwritten; those rows are re-read under a row lock and
 * retried if still on an old version, in a short transaction of their own. The UPDATE waits on
 * a row lock only briefly (the writer's lock_timeout); it is then written again without the rows
 * that are locked (SKIP LOCKED), which are returned for a later look.
 */
async function writeBatch(
  write: BatchWriter,
  rows: ReencryptedRow[],
  cursor: string | null,
  pass: number,
  failed: string[],
  options: { skipLocked?: boolean } = {},
): Promise<Written> {
  const { writer, runs, target, runId } = write;
  const swap = async (skipLocked: boolean) => {
    const cas = compareAndSwapCtes(target, skipLocked);
    if (runs === null) {
      const checkpoint = checkpointSql({
        runId: "$4",
        cursor: "$5",
        pass: "$6",
        done: "(SELECT count(*) FROM swapped)",
        failed: "$7",
      });
      return (
        await writer.query<{ id: string }>(
          `WITH ${cas}, checkpoint AS (${checkpoint}) SELECT id FROM swapped`,
          [...casParameters(rows), runId, cursor, pass, failed],
        )
      ).rows;
    }
    const swapped = (
      await writer.query<{ id: string }>(`WITH ${cas} SELECT id FROM swapped`, casParameters(rows))
    ).rows;
    await runs.query(checkpointSql({ runId: "$1", cursor: "$2", pass: "$3", done: "$4", failed: "$5" }), [
      runId,
      cursor,
      pass,
      swapped.length,
      failed,
    ]);
    return swapped;
  };
  let swapped: { id: string }[] | undefined;
  let skipLocked = options.skipLocked ?? false;
  // Skipping locked rows leaves only the run's own row to wait on (a heartbeat's short update):
  // a lock timeout there is retried.
  for (let attempt = 1; swapped === undefined; attempt++) {
    try {
      swapped = await swap(skipLocked);
    } catch (error) {
      if (!isLockTimeout(error) || attempt >= LOCK_TIMEOUT_RETRIES) throw error;
      if (skipLocked) await sleep(20 * attempt);
      skipLocked = true;
    }
  }
  if (swapped.length === rows.length) return { updated: rows.length, conflicts: 0, locked: [] };
  const done = new Set(swapped.map((row) => row.id));
  const lost = rows.filter((row) => !done.has(row.id));
  // A row first met locked counts as a conflict once, as a changed one does; not again while waited on.
  const retried = await retryLost(write, lost, !options.skipLocked);
  return { ...retried, updated: swapped.length + retried.updated };
}

/**
 * Rows whose swap did not happen: changed by the application since they were read, or locked
 * by it. The changed ones still on an old version are re-read under a row lock and swapped; the
 * locked ones are skipped (SKIP LOCKED) and returned.
 */
async function retryLost(
  write: BatchWriter,
  lost: ReencryptedRow[],
  countLocked: boolean,
): Promise<Written & { updated: number }> {
  const { writer, runs, transform, target, runId, onActive } = write;
  await writer.query("BEGIN");
  try {
    // The rows are taken with SKIP LOCKED; what is left to wait on is the run's own row, which a
    // heartbeat holds only for its commit.
    await writer.query(`SET LOCAL lock_timeout = '${RUN_ROW_LOCK_TIMEOUT_MS}ms'`);
    let updated = 0;
    let todo = lost.map((row) => row.id);
    const seen = new Set<string>();
    for (let attempt = 0; attempt < CONFLICT_RETRIES && todo.length > 0; attempt++) {
      const { rows: current } = await writer.query<StoredRow>(
        `SELECT ${storedColumns(target)} FROM ${target.sqlTable} AS t
          WHERE t.${target.sqlId} = ANY($1::${target.idType}[]) AND t.${target.sqlCiphertext} NOT LIKE $2
          ORDER BY t.${target.sqlId}
          FOR UPDATE OF t SKIP LOCKED`,
        [todo, onActive],
      );
      if (current.length === 0) break; // written under the active version, or locked
      for (const row of current) seen.add(row.id);
      const again = await transform(current);
      const { rows: swapped } = await writer.query<{ id: string }>(
        `WITH ${compareAndSwapCtes(target, false)} SELECT id FROM swapped`,
        casParameters(again.rows),
      );
      updated += swapped.length;
      const done = new Set(swapped.map((row) => row.id));
      todo = again.rows.filter((row) => !done.has(row.id)).map((row) => row.id);
    }
    const unseen = lost.map((row) => row.id).filter((id) => !seen.has(id));
    // Not returned under SKIP LOCKED yet still on an old version: someone holds them locked.
    const locked =
      unseen.length === 0
        ? []
        : (
            await writer.query<{ id: string }>(
              `SELECT ${target.sqlId}::text AS id FROM ${target.sqlTable}
                WHERE ${target.sqlId} = ANY($1::${target.idType}[]) AND ${target.sqlCiphertext} NOT LIKE $2`,
              [unseen, onActive],
            )
          ).rows.map((row) => row.id);
    const conflicts = countLocked ? lost.length : lost.length - locked.length;
    const countSql = `UPDATE "RotationRun" SET "rowsDone" = "rowsDone" + $2, "rowsConflicted" = "rowsConflicted" + $3,
                             "updatedAt" = now() WHERE id = $1`;
    const counts = [runId, updated, conflicts];
    // In the KeyOps database the counts commit with the rows; elsewhere they follow the commit.
    if (runs === null) await writer.query(countSql, counts);
    await writer.query("COMMIT");
    if (runs !== null) await runs.query(countSql, counts);
    return { updated, conflicts, locked };
  } catch (error) {
    await writer.query("ROLLBACK").catch(() => undefined);
    throw error;
  }
}

/**
 * A row's version: the transaction that wrote it (xmin). Any later write of the row, by whatever
 * transaction, makes a new version with another xmin, and an xmin is never reused while a row
 * holds it, so "still this xmin" means "not written since it was read". Comparing it instead of
 * the ciphertext read spares sending every old ciphertext back (a quarter of the database's
 * work per batch, measured).
 */
const ROW_VERSION = "t.xmin::text";

/** A row as re-encryption reads it (the table aliased `t`). */
function storedColumns(target: ResolvedTarget): string {
  return `t.${target.sqlId}::text AS id, t.${target.sqlCiphertext} AS ciphertext, ${ROW_VERSION} AS "rowVersion"`;
}

/**
 * The compare-and-swap as CTEs ending in `swapped` (ids written). Parameters $1..$3: ids, the
 * row versions as read, the new ciphertexts. With `skipLocked` the rows are locked first, in id
 * order, skipping those another transaction holds.
 */
function compareAndSwapCtes(target: ResolvedTarget, skipLocked: boolean): string {
  const v = `v AS (SELECT * FROM unnest($1::text[], $2::xid[], $3::text[]) AS v(id, row_version, new_ciphertext))`;
  const matches = `t.${target.sqlId} = v.id::${target.idType} AND t.xmin = v.row_version`;
  if (!skipLocked) {
    return `${v}, swapped AS (
      UPDATE ${target.sqlTable} AS t SET ${target.sqlCiphertext} = v.new_ciphertext FROM v
       WHERE ${matches}
   RETURNING t.${target.sqlId}::text AS id)`;
  }
  return `${v}, free AS (
      SELECT t.${target.sqlId} AS key FROM ${target.sqlTable} AS t JOIN v ON ${matches}
       ORDER BY t.${target.sqlId} FOR UPDATE OF t SKIP LOCKED),
    swapped AS (
      UPDATE ${target.sqlTable} AS t SET ${target.sqlCiphertext} = v.new_ciphertext FROM v, free
       WHERE ${matches} AND t.${target.sqlId} = free.key
   RETURNING t.${target.sqlId}::text AS id)`;
}

function casParameters(rows: ReencryptedRow[]): [string[], string[], string[]] {
  return [rows.map((r) => r.id), rows.map((r) => r.rowVersion), rows.map((r) => r.newCiphertext)];
}
