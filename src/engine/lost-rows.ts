import type pg from "pg";
import { countsByPlatform, type PlatformCount } from "./guide-table.js";
import { countByInKeysetChunks, countInKeysetChunks } from "./keyset-count.js";
import { PLATFORM_CREDENTIALS, type ResolvedTarget } from "./target.js";

/**
 * Rows under one key version, told from the version prefix of their ciphertext (`v<n>:…`, or the
 * guide's unversioned `iv:tag:ct` for the legacy version): nothing is decrypted, so this works for
 * a version whose key is lost. Read in keyset chunks along the id's index (short statements).
 */

export interface RowUnderVersion {
  rowId: string;
  /** The guide table's platform; null for other targets. */
  platform: string | null;
}

const CHUNK = 5000;

/** Whether the row `t` is under the version (`param`: the `$n` holding the `v<n>:%` pattern). */
function underVersion(target: ResolvedTarget, legacy: boolean, param: string): string {
  const column = `t.${target.sqlCiphertext}`;
  return legacy ? `(${column} LIKE ${param} OR ${column} NOT LIKE 'v%')` : `${column} LIKE ${param}`;
}

const isGuideTable = (target: ResolvedTarget) =>
  target.table === PLATFORM_CREDENTIALS.table &&
  target.ciphertextColumn === PLATFORM_CREDENTIALS.ciphertextColumn &&
  !target.schema;

/** How many rows of `target` are under `version`. */
export function countUnderVersion(
  pool: pg.Pool,
  target: ResolvedTarget,
  version: number,
  legacy: boolean,
): Promise<number> {
  return countInKeysetChunks(pool, target, underVersion(target, legacy, "$3"), [`v${version}:%`]);
}

/** The rows of `target` under `version`, chunk by chunk in id order (the guide table's with their platform). */
export async function* rowsUnderVersion(
  pool: pg.Pool,
  target: ResolvedTarget,
  version: number,
  legacy: boolean,
  chunk = CHUNK,
): AsyncGenerator<RowUnderVersion[]> {
  const platform = isGuideTable(target) ? `t."platform"::text` : "NULL::text";
  let after: string | null = null;
  for (;;) {
    const { rows }: pg.QueryResult<{ id: string; platform: string | null; under: boolean }> =
      await pool.query(
        `SELECT t.${target.sqlId}::text AS id, ${platform} AS platform, ${underVersion(target, legacy, "$3")} AS under
         FROM ${target.sqlTable} AS t
        WHERE ($1::text IS NULL OR t.${target.sqlId} > $1::${target.idType})
        ORDER BY t.${target.sqlId}
        LIMIT $2`,
        [after, chunk, `v${version}:%`],
      );
    const under = rows.filter((r) => r.under).map((r) => ({ rowId: r.id, platform: r.platform }));
    if (under.length > 0) yield under;
    if (rows.length < chunk) return;
    after = rows.at(-1)?.id ?? null;
  }
}

/** Integrations per platform of the guide table under `version`. */
export async function platformCountsUnderVersion(
  pool: pg.Pool,
  target: ResolvedTarget,
  version: number,
  legacy: boolean,
): Promise<PlatformCount[]> {
  const counts = await countByInKeysetChunks(
    pool,
    target,
    `CASE WHEN ${underVersion(target, legacy, "$3")} THEN t."platform"::text END`,
    [`v${version}:%`],
  );
  return countsByPlatform(counts);
}

/**
 * Which of `ids` are still rows of `target` under `version`: a row the application rewrote since
 * (its user re-authenticated: the ciphertext names another version) or deleted is not.
 */
export async function idsStillUnderVersion(
  pool: pg.Pool,
  target: ResolvedTarget,
  version: number,
  legacy: boolean,
  ids: string[],
  chunk = CHUNK,
): Promise<Set<string>> {
  const still = new Set<string>();
  for (let at = 0; at < ids.length; at += chunk) {
    const { rows } = await pool.query<{ id: string }>(
      `SELECT t.${target.sqlId}::text AS id FROM ${target.sqlTable} AS t
        WHERE t.${target.sqlId} = ANY($1::${target.idType}[]) AND ${underVersion(target, legacy, "$2")}`,
      [ids.slice(at, at + chunk), `v${version}:%`],
    );
    for (const r of rows) still.add(r.id);
  }
  return still;
}
