import type pg from "pg";
import { versionPrefix } from "../crypto/ciphertext.js";
import type { Keyring } from "../crypto/keyring.js";
import type { Logger } from "../logger.js";
import { type ProgressListener, ProgressMeter, RateLimiter } from "./progress.js";
import { type ReencryptedRow, reencryptRows, type StoredRow } from "./reencrypt.js";
import type { ResolvedTarget } from "./target.js";

export interface ReencryptOptions {
  runId: number;
  batchSize: number;
  maxRowsPerSecond?: number;
  /** Where a resumed run starts: the checkpoint of the interrupted one. */
  cursor: string | null;
  pass: number;
  onProgress?: ProgressListener;
  signal?: AbortSignal;
}

export interface ReencryptOutcome {
  reencrypted: number;
  conflicts: number;
  /** Rows no known version decrypts (counted per pass they were met in; verify has the exact figure). */
  undecryptable: number;
}

/** Sweeps after the first pass pick up rows written under an old version behind the cursor. */
const MAX_PASSES = 5;
/** Rows whose compare-and-swap lost to an application write are re-read and retried this often. */
const CONFLICT_RETRIES = 3;

/**
 * Moves every row of the target that is not yet under the keyring's active version onto it,
 * batch by batch in keyset order. Each batch is one multi-row compare-and-swap UPDATE committed
 * together with the run's checkpoint, so a crash loses at most the batch in flight and a
 * restart resumes after the last committed one. The next batch is read and re-encrypted while
 * the current one is written.
 */
export async function reencryptTarget(
  pool: pg.Pool,
  keyring: Keyring,
  target: ResolvedTarget,
  options: ReencryptOptions,
  log: Logger,
): Promise<ReencryptOutcome> {
  const active = keyring.activeVersion;
  if (active === null) throw new Error(`no active key version for ${keyring.environment}`);
  const onActive = `${versionPrefix(active)}%`;
  const outcome: ReencryptOutcome = { reencrypted: 0, conflicts: 0, undecryptable: 0 };
  const limiter = new RateLimiter(options.maxRowsPerSecond);
  const total = await countNotOnActive(pool, target, onActive);
  const meter = new ProgressMeter("reencrypt", total, options.onProgress);

  const selectBatch = (cursor: string | null) =>
    pool
      .query<StoredRow>({
        text: `SELECT ${target.sqlId}::text AS id, ${target.sqlCiphertext} AS ciphertext
                 FROM ${target.sqlTable}
                WHERE ($1::text IS NULL OR ${target.sqlId} > $1::${target.idType})
                  AND ${target.sqlCiphertext} NOT LIKE $2
                ORDER BY ${target.sqlId}
                LIMIT $3`,
        values: [cursor, onActive, options.batchSize],
      })
      .then((result) => result.rows);

  let cursor = options.cursor;
  for (let pass = options.pass; pass <= MAX_PASSES; pass++) {
    let passWrites = 0;
    let pending: Promise<void> = Promise.resolve();
    let next = selectBatch(cursor);
    try {
      for (;;) {
        const rows = await next;
        if (rows.length === 0) break;
        cursor = (rows.at(-1) as StoredRow).id;
        next = rows.length < options.batchSize ? Promise.resolve([]) : selectBatch(cursor);
        next.catch(() => undefined); // observed below; avoid an unhandled rejection meanwhile
        const prepared = reencryptRows(keyring, target, rows);
        // Sweeps meet the first pass's undecryptable rows again: count them once.
        if (pass > 1) prepared.undecryptable.length = 0;
        outcome.undecryptable += prepared.undecryptable.length;
        await pending;
        await limiter.take(rows.length, options.signal);
        options.signal?.throwIfAborted();
        const checkpoint = { cursor, pass, undecryptable: prepared.undecryptable };
        pending = writeBatch(pool, keyring, target, options.runId, prepared.rows, checkpoint, onActive).then(
          (written) => {
            outcome.reencrypted += written.updated;
            outcome.conflicts += written.conflicts;
            passWrites += written.updated;
            meter.add(rows.length);
          },
        );
        pending.catch(() => undefined);
      }
      await pending;
    } catch (error) {
      await pending.catch(() => undefined);
      throw error;
    }
    log.debug("re-encryption pass finished", { runId: options.runId, pass, rows: passWrites });
    if (passWrites === 0) break;
    // Rows the application wrote under an old version behind the cursor: sweep again from the start.
    cursor = null;
    await pool.query(
      `UPDATE "RotationRun" SET "cursor" = NULL, "pass" = $2, "updatedAt" = now() WHERE id = $1`,
      [options.runId, pass + 1],
    );
    if ((await countNotOnActive(pool, target, onActive)) === 0) break;
  }
  return outcome;
}

async function countNotOnActive(pool: pg.Pool, target: ResolvedTarget, onActive: string): Promise<number> {
  const { rows } = await pool.query<{ n: string }>(
    `SELECT count(*) AS n FROM ${target.sqlTable} WHERE ${target.sqlCiphertext} NOT LIKE $1`,
    [onActive],
  );
  return Number(rows[0]?.n ?? 0);
}

interface Checkpoint {
  cursor: string;
  pass: number;
  undecryptable: string[];
}

/**
 * One transaction: compare-and-swap UPDATE of the batch (a row changed by the application since
 * it was read is not overwritten), a locked re-read and retry of those rows if still on an old
 * version, and the run's checkpoint.
 */
async function writeBatch(
  pool: pg.Pool,
  keyring: Keyring,
  target: ResolvedTarget,
  runId: number,
  rows: ReencryptedRow[],
  checkpoint: Checkpoint,
  onActive: string,
): Promise<{ updated: number; conflicts: number }> {
  const client = await pool.connect();
  try {
    await client.query("BEGIN");
    let updated = 0;
    let conflicts = 0;
    let todo = rows;
    for (let attempt = 0; todo.length > 0; attempt++) {
      const swapped = new Set(await compareAndSwap(client, target, todo));
      updated += swapped.size;
      const lost = todo.filter((row) => !swapped.has(row.id));
      if (lost.length === 0) break;
      conflicts += lost.length;
      if (attempt >= CONFLICT_RETRIES) break; // left for the sweep pass
      const { rows: current } = await client.query<StoredRow>(
        `SELECT ${target.sqlId}::text AS id, ${target.sqlCiphertext} AS ciphertext
           FROM ${target.sqlTable}
          WHERE ${target.sqlId} = ANY($1::${target.idType}[]) AND ${target.sqlCiphertext} NOT LIKE $2
          FOR UPDATE`,
        [lost.map((row) => row.id), onActive],
      );
      const again = reencryptRows(keyring, target, current);
      checkpoint.undecryptable.push(...again.undecryptable);
      todo = again.rows;
    }
    await client.query(
      `UPDATE "RotationRun"
          SET "cursor" = $2, "pass" = $3, "rowsDone" = "rowsDone" + $4, "rowsConflicted" = "rowsConflicted" + $5,
              "rowsFailed" = "rowsFailed" + $6,
              "failedRowIds" = (COALESCE("failedRowIds", '{}') || $7::text[])[1:100],
              "updatedAt" = now()
        WHERE id = $1`,
      [
        runId,
        checkpoint.cursor,
        checkpoint.pass,
        updated,
        conflicts,
        checkpoint.undecryptable.length,
        checkpoint.undecryptable,
      ],
    );
    await client.query("COMMIT");
    return { updated, conflicts };
  } catch (error) {
    await client.query("ROLLBACK").catch(() => undefined);
    throw error;
  } finally {
    client.release();
  }
}

async function compareAndSwap(
  client: pg.PoolClient,
  target: ResolvedTarget,
  rows: ReencryptedRow[],
): Promise<string[]> {
  const { rows: swapped } = await client.query<{ id: string }>(
    `UPDATE ${target.sqlTable} AS t
        SET ${target.sqlCiphertext} = v.new_ciphertext
       FROM unnest($1::text[], $2::text[], $3::text[]) AS v(id, old_ciphertext, new_ciphertext)
      WHERE t.${target.sqlId} = v.id::${target.idType} AND t.${target.sqlCiphertext} = v.old_ciphertext
      RETURNING t.${target.sqlId}::text AS id`,
    [rows.map((r) => r.id), rows.map((r) => r.oldCiphertext), rows.map((r) => r.newCiphertext)],
  );
  return swapped.map((row) => row.id);
}
