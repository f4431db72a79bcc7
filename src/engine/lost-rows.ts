import type pg from "pg";
import type { PlatformCount } from "./guide-table.js";
import { PLATFORM_CREDENTIALS, type ResolvedTarget } from "./target.js";

/**
 * Rows under one key version, told from the version prefix of their ciphertext (`v<n>:…`, or the
 * guide's unversioned `iv:tag:ct` for the legacy version): nothing is decrypted, so this works for
 * a version whose key is lost.
 */

export interface RowUnderVersion {
  rowId: string;
  /** The guide table's platform; null for other targets. */
  platform: string | null;
}

/** The WHERE clause for rows under `version` ($1: the `v<n>:%` pattern). */
function underVersion(target: ResolvedTarget, legacy: boolean): string {
  const column = target.sqlCiphertext;
  return legacy ? `(${column} LIKE $1 OR ${column} NOT LIKE 'v%')` : `${column} LIKE $1`;
}

const isGuideTable = (target: ResolvedTarget) =>
  target.table === PLATFORM_CREDENTIALS.table &&
  target.ciphertextColumn === PLATFORM_CREDENTIALS.ciphertextColumn &&
  !target.schema;

/** Every row of `target` under `version`, by id (the guide table's with their platform). */
export async function rowsUnderVersion(
  pool: pg.Pool,
  target: ResolvedTarget,
  version: number,
  legacy: boolean,
): Promise<RowUnderVersion[]> {
  const platform = isGuideTable(target) ? `"platform"::text` : "NULL::text";
  const { rows } = await pool.query<{ id: string; platform: string | null }>(
    `SELECT ${target.sqlId}::text AS id, ${platform} AS platform FROM ${target.sqlTable}
      WHERE ${underVersion(target, legacy)} ORDER BY 1`,
    [`v${version}:%`],
  );
  return rows.map((r) => ({ rowId: r.id, platform: r.platform }));
}

/** Integrations per platform of the guide table under `version`. */
export async function platformCountsUnderVersion(
  pool: pg.Pool,
  target: ResolvedTarget,
  version: number,
  legacy: boolean,
): Promise<PlatformCount[]> {
  const { rows } = await pool.query<{ platform: string; count: string }>(
    `SELECT "platform"::text AS platform, count(*) AS count FROM ${target.sqlTable}
      WHERE ${underVersion(target, legacy)} GROUP BY 1 ORDER BY 1`,
    [`v${version}:%`],
  );
  return rows.map((r) => ({ platform: r.platform, count: Number(r.count) }));
}
