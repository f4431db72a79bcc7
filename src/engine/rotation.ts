import type pg from "pg";
import { versionPrefix } from "../crypto/ciphertext.js";
import type { Logger } from "../logger.js";
import { type ProgressListener, ProgressMeter, RateLimiter } from "./progress.js";
import type { ReencryptedBatch, ReencryptedRow, StoredRow } from "./reencrypt.js";
import type { BatchTransform } from "./reencrypt-workers.js";
import type { ResolvedTarget } from "./target.js";

export interface ReencryptOptions {
  runId: number;
  /** The version every row must end under (the keyring's active one). */
  activeVersion: number;
  batchSize: number;
  maxRowsPerSecond?: number;
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
const MAX_PASSES = 5;
/** Rows whose compare-and-swap lost to an application write are re-read and retried this often. */
const CONFLICT_RETRIES = 3;
/** Batches read ahead of the one being written (bounds memory to this many batches). */
const READ_AHEAD = 3;

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
  const limiter = new RateLimiter(options.maxRowsPerSecond);
  const pool = pools.target;
  const runs = pools.target === pools.runs ? null : pools.runs;
  const meter = new ProgressMeter(
    "reencrypt",
    await countNotOnActive(pool, target, onActive),
    options.onProgress,
  );
  const reader = await pool.connect();
  const writer = await pool.connect();
  try {
    let cursor = options.cursor;
    const firstPass = options.pass;
    for (let pass = firstPass; pass <= MAX_PASSES; pass++) {
      let passWrites = 0;
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
        const written = await writeBatch(
          writer,
          runs,
          transform,
          target,
          options.runId,
          prepared,
          pass,
          failed,
          onActive,
        );
        outcome.reencrypted += written.updated;
        options.onBatch?.(written.updated);
        outcome.conflicts += written.conflicts;
        outcome.undecryptable += failed.length;
        passWrites += written.updated;
        meter.add(prepared.read);
      }
      log.debug("re-encryption pass finished", { runId: options.runId, pass, rows: passWrites });
      if (pass === firstPass) await options.beforeSweep?.();
      const remaining = await countNotOnActive(pool, target, onActive);
      // Done, or a sweep found nothing it could rotate (what is left does not decrypt).
      if (remaining === 0 || (passWrites === 0 && pass > firstPass)) break;
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
    writer.release();
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
      const { rows } = await reader.query<StoredRow>({
        // "t." matters: a bare ORDER BY "id" would sort by the output column (the id as text)
        // and break keyset order for numeric ids.
        text: `SELECT t.${target.sqlId}::text AS id, t.${target.sqlCiphertext} AS ciphertext
                 FROM ${target.sqlTable} AS t
                WHERE ($1::text IS NULL OR t.${target.sqlId} > $1::${target.idType})
                  AND t.${target.sqlCiphertext} NOT LIKE $2
                ORDER BY t.${target.sqlId}
                LIMIT $3`,
        values: [cursor, onActive, batchSize],
      });
      if (rows.length < batchSize) exhausted = true;
      if (rows.length === 0) return null;
      cursor = (rows.at(-1) as StoredRow).id;
      return { rows, cursor };
    });
    lastRead = read.catch(() => undefined);
    const prepared = read.then(async (got) =>
      got ? { cursor: got.cursor, read: got.rows.length, batch: await transform(got.rows) } : null,
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

async function countNotOnActive(pool: pg.Pool, target: ResolvedTarget, onActive: string): Promise<number> {
  const { rows } = await pool.query<{ n: string }>(
    `SELECT count(*) AS n FROM ${target.sqlTable} WHERE ${target.sqlCiphertext} NOT LIKE $1`,
    [onActive],
  );
  return Number(rows[0]?.n ?? 0);
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

/**
 * The batch's compare-and-swap UPDATE and the run's checkpoint: one statement when the target
 * lives in the KeyOps database (atomic). With the target in another database the checkpoint
 * follows the batch's commit; a crash between the two only makes the resumed run re-read rows
 * that its filter then skips (they are already under the active version). A row the application
 * changed since it was read is not overwritten; those rows are re-read under a row lock and
 * retried if still on an old version, in a short transaction of their own.
 */
async function writeBatch(
  writer: pg.PoolClient,
  runs: pg.Pool | null,
  transform: BatchTransform,
  target: ResolvedTarget,
  runId: number,
  prepared: PreparedBatch,
  pass: number,
  failed: string[],
  onActive: string,
): Promise<{ updated: number; conflicts: number }> {
  const rows = prepared.batch.rows;
  let swapped: { id: string }[];
  if (runs === null) {
    const checkpoint = checkpointSql({
      runId: "$4",
      cursor: "$5",
      pass: "$6",
      done: "(SELECT count(*) FROM swapped)",
      failed: "$7",
    });
    swapped = (
      await writer.query<{ id: string }>(
        `WITH swapped AS (${compareAndSwapSql(target)}), checkpoint AS (${checkpoint}) SELECT id FROM swapped`,
        [...casParameters(rows), runId, prepared.cursor, pass, failed],
      )
    ).rows;
  } else {
    swapped = (await writer.query<{ id: string }>(compareAndSwapSql(target), casParameters(rows))).rows;
    await runs.query(checkpointSql({ runId: "$1", cursor: "$2", pass: "$3", done: "$4", failed: "$5" }), [
      runId,
      prepared.cursor,
      pass,
      swapped.length,
      failed,
    ]);
  }
  if (swapped.length === rows.length) return { updated: rows.length, conflicts: 0 };
  const done = new Set(swapped.map((row) => row.id));
  const lost = rows.filter((row) => !done.has(row.id));

  const retried = await retryLost(writer, runs, transform, target, runId, lost, onActive);
  return { updated: swapped.length + retried, conflicts: lost.length };
}

async function retryLost(
  writer: pg.PoolClient,
  runs: pg.Pool | null,
  transform: BatchTransform,
  target: ResolvedTarget,
  runId: number,
  lost: ReencryptedRow[],
  onActive: string,
): Promise<number> {
  await writer.query("BEGIN");
  try {
    let updated = 0;
    let todo = lost;
    for (let attempt = 0; attempt < CONFLICT_RETRIES && todo.length > 0; attempt++) {
      const { rows: current } = await writer.query<StoredRow>(
        `SELECT ${target.sqlId}::text AS id, ${target.sqlCiphertext} AS ciphertext
           FROM ${target.sqlTable}
          WHERE ${target.sqlId} = ANY($1::${target.idType}[]) AND ${target.sqlCiphertext} NOT LIKE $2
          FOR UPDATE`,
        [todo.map((row) => row.id), onActive],
      );
      if (current.length === 0) break; // the application already wrote them under the active version
      const again = await transform(current);
      const { rows: swapped } = await writer.query<{ id: string }>(
        compareAndSwapSql(target),
        casParameters(again.rows),
      );
      updated += swapped.length;
      const done = new Set(swapped.map((row) => row.id));
      todo = again.rows.filter((row) => !done.has(row.id));
    }
    const countSql = `UPDATE "RotationRun" SET "rowsDone" = "rowsDone" + $2, "rowsConflicted" = "rowsConflicted" + $3,
                             "updatedAt" = now() WHERE id = $1`;
    const counts = [runId, updated, lost.length];
    // In the KeyOps database the counts commit with the rows; elsewhere they follow the commit.
    if (runs === null) await writer.query(countSql, counts);
    await writer.query("COMMIT");
    if (runs !== null) await runs.query(countSql, counts);
    return updated;
  } catch (error) {
    await writer.query("ROLLBACK").catch(() => undefined);
    throw error;
  }
}

/** Parameters $1..$3: ids, the ciphertexts as read, their replacements. */
function compareAndSwapSql(target: ResolvedTarget): string {
  return `UPDATE ${target.sqlTable} AS t
             SET ${target.sqlCiphertext} = v.new_ciphertext
            FROM unnest($1::text[], $2::text[], $3::text[]) AS v(id, old_ciphertext, new_ciphertext)
           WHERE t.${target.sqlId} = v.id::${target.idType} AND t.${target.sqlCiphertext} = v.old_ciphertext
       RETURNING t.${target.sqlId}::text AS id`;
}

function casParameters(rows: ReencryptedRow[]): [string[], string[], string[]] {
  return [rows.map((r) => r.id), rows.map((r) => r.oldCiphertext), rows.map((r) => r.newCiphertext)];
}
