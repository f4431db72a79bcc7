import type pg from "pg";
import type { ResolvedTarget } from "./target.js";

/** Rows counted per statement, so that no count grows with the table. */
const COUNT_CHUNK = 10_000;

/**
 * The target's rows for which `predicate` holds (SQL on the row `t`, its parameters from $3 in
 * `params`), counted in keyset chunks along the id's index: many short statements instead of one
 * that grows with the table.
 */
export async function countInKeysetChunks(
  db: pg.Pool | pg.PoolClient,
  target: ResolvedTarget,
  predicate = "true",
  params: unknown[] = [],
): Promise<number> {
  let total = 0;
  let after: string | null = null;
  for (;;) {
    const result: pg.QueryResult<{ n: string; scanned: string; last: string | null }> = await db.query(
      `WITH chunk AS (
         SELECT t.${target.sqlId} AS key, (${predicate}) AS counted
           FROM ${target.sqlTable} AS t
          WHERE ($1::text IS NULL OR t.${target.sqlId} > $1::${target.idType})
          ORDER BY t.${target.sqlId}
          LIMIT $2)
       SELECT count(*) FILTER (WHERE counted) AS n, count(*) AS scanned,
              (SELECT key::text FROM chunk ORDER BY key DESC LIMIT 1) AS last
         FROM chunk`,
      [after, COUNT_CHUNK, ...params],
    );
    const chunk = result.rows[0];
    total += Number(chunk?.n ?? 0);
    if (Number(chunk?.scanned ?? 0) < COUNT_CHUNK) return total;
    after = chunk?.last ?? null;
  }
}

/** The planner's estimate of the target's rows, for progress (counted when the table was never analysed). */
export async function estimatedRows(db: pg.Pool | pg.PoolClient, target: ResolvedTarget): Promise<number> {
  const { rows } = await db.query<{ n: number }>(
    "SELECT reltuples::float8 AS n FROM pg_class WHERE oid = to_regclass($1)",
    [target.sqlTable],
  );
  const estimate = Number(rows[0]?.n ?? -1);
  return estimate >= 0 ? Math.round(estimate) : countInKeysetChunks(db, target);
}
