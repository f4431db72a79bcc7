import type pg from "pg";
import type { ResolvedTarget } from "./target.js";

/** Rows counted per statement, so that no count grows with the table. */
const COUNT_CHUNK = 10_000;

/**
 * The target's rows counted per label (`label`: SQL on the row `t` giving text, its parameters
 * from $3 in `params`), in keyset chunks along the id's index: many short statements instead of
 * one that grows with the table.
 */
export async function countByInKeysetChunks(
  db: pg.Pool | pg.PoolClient,
  target: ResolvedTarget,
  label: string,
  params: unknown[] = [],
): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  let after: string | null = null;
  for (;;) {
    const result: pg.QueryResult<{ label: string | null; n: string; scanned: string; last: string | null }> =
      await db.query(
        `WITH chunk AS (
           SELECT t.${target.sqlId} AS key, (${label}) AS label
             FROM ${target.sqlTable} AS t
            WHERE ($1::text IS NULL OR t.${target.sqlId} > $1::${target.idType})
            ORDER BY t.${target.sqlId}
            LIMIT $2)
         SELECT label, count(*) AS n, (SELECT count(*) FROM chunk) AS scanned,
                (SELECT key::text FROM chunk ORDER BY key DESC LIMIT 1) AS last
           FROM chunk GROUP BY label`,
        [after, COUNT_CHUNK, ...params],
      );
    for (const row of result.rows) {
      if (row.label !== null) counts.set(row.label, (counts.get(row.label) ?? 0) + Number(row.n));
    }
    const first = result.rows[0];
    if (!first || Number(first.scanned) < COUNT_CHUNK) return counts;
    after = first.last;
  }
}

/** The target's rows for which `predicate` holds (SQL on the row `t`, its parameters from $3), in keyset chunks. */
export async function countInKeysetChunks(
  db: pg.Pool | pg.PoolClient,
  target: ResolvedTarget,
  predicate = "true",
  params: unknown[] = [],
): Promise<number> {
  const counts = await countByInKeysetChunks(
    db,
    target,
    `CASE WHEN (${predicate}) THEN 'counted' END`,
    params,
  );
  return counts.get("counted") ?? 0;
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
