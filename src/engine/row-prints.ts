import { createHmac } from "node:crypto";
import type pg from "pg";
import { quoteIdent, type ResolvedTarget } from "./target.js";

/**
 * Row prints: the proof that a rotation changed no secret, row by row, while the application
 * writes. When a run starts, its first verify records for each row the first 16 bytes of
 * HMAC-SHA256(id, "\n", plaintext) under a key derived from the master key (KeyStore.rowPrintKey). Later, every row whose print differs must have been written by the
 * application since the run started (its writtenAtColumn says so); any other difference is a
 * secret that changed without the application writing it, and verify says which rows.
 * Keyed, because a credential may be guessable (a short password): a plain hash in the KeyOps
 * database would let whoever reads it test guesses offline; without the master key a print says
 * nothing about its plaintext.
 */
export function rowPrint(key: Buffer, id: string, plaintext: Uint8Array): Buffer {
  return createHmac("sha256", key).update(id).update("\n").update(plaintext).digest().subarray(0, 16);
}

/** Collects the prints of rows as verify reads them (its onRow). */
export class PrintCollector {
  readonly prints = new Map<string, Buffer>();
  constructor(private readonly key: Buffer) {}
  readonly add = (id: string, plaintext: Uint8Array): void => {
    this.prints.set(id, rowPrint(this.key, id, plaintext));
  };
}

const INSERT_CHUNK = 5000;

/** Stores the prints of a run's start. */
export async function storePrints(pool: pg.Pool, runId: number, collector: PrintCollector): Promise<void> {
  const entries = [...collector.prints];
  for (let i = 0; i < entries.length; i += INSERT_CHUNK) {
    const chunk = entries.slice(i, i + INSERT_CHUNK);
    await pool.query(
      `INSERT INTO "RotationRowPrint" ("runId", "rowId", "print")
       SELECT $1, r.id, r.print FROM unnest($2::text[], $3::bytea[]) AS r(id, print)
       ON CONFLICT DO NOTHING`,
      [runId, chunk.map(([id]) => id), chunk.map(([, print]) => print)],
    );
  }
}

export interface PrintComparison {
  /** Rows whose secret differs from the run's start (or that were added or removed). */
  changed: number;
  /** Of those, the ones the application wrote since the run started (writtenAtColumn). */
  byApplication: number;
  /** The rest: secrets that changed without the application writing them. */
  unexplained: number;
  unexplainedIds: string[];
}

const IDS_REPORTED = 20;

/**
 * Compares the rows as read now with the prints of the run's start; null when the run has none
 * (started before prints were kept).
 */
export async function comparePrints(
  runs: pg.Pool,
  targetPool: pg.Pool,
  target: ResolvedTarget,
  runId: number,
  since: Date,
  now: PrintCollector,
): Promise<PrintComparison | null> {
  const { rows } = await runs.query<{ rowId: string; print: Buffer }>(
    `SELECT "rowId", "print" FROM "RotationRowPrint" WHERE "runId" = $1`,
    [runId],
  );
  if (rows.length === 0) return null;
  const before = new Map(rows.map((r) => [r.rowId, r.print]));
  const changed: string[] = [];
  for (const [id, print] of now.prints) {
    const was = before.get(id);
    if (!was?.equals(print)) changed.push(id);
    before.delete(id);
  }
  // Rows gone since the start (or that no longer decrypt: verify counts those as failed).
  changed.push(...before.keys());
  const written = await writtenSince(targetPool, target, changed, since);
  const unexplained = changed.filter((id) => !written.has(id));
  return {
    changed: changed.length,
    byApplication: changed.length - unexplained.length,
    unexplained: unexplained.length,
    unexplainedIds: unexplained.slice(0, IDS_REPORTED),
  };
}

/** Which of `ids` the application wrote after `since` (deleted rows count as its writes). */
async function writtenSince(
  pool: pg.Pool,
  target: ResolvedTarget,
  ids: string[],
  since: Date,
): Promise<Set<string>> {
  if (ids.length === 0 || !target.writtenAtColumn) return new Set();
  // The column is timestamp without time zone holding UTC (as Prisma writes it).
  const { rows } = await pool.query<{ id: string }>(
    `SELECT r.id FROM unnest($1::text[]) AS r(id)
       LEFT JOIN ${target.sqlTable} AS t ON t.${target.sqlId} = r.id::${target.idType}
      WHERE t.${target.sqlId} IS NULL
         OR t.${quoteIdent(target.writtenAtColumn)} > ($2::timestamptz AT TIME ZONE 'UTC')`,
    [ids, since.toISOString()],
  );
  return new Set(rows.map((r) => r.id));
}
