import type pg from "pg";
import { countByInKeysetChunks } from "./keyset-count.js";
import { PLATFORM_CREDENTIALS, quoteIdent, type ResolvedTarget } from "./target.js";

/** The guide's `"PlatformIntegration"` table, read for the audit query and the per-platform counts. */

const TABLE = quoteIdent(PLATFORM_CREDENTIALS.table);

export interface PlatformCount {
  platform: string;
  count: number;
}

export interface UpdatedIntegration {
  id: string;
  platform: string;
  displayName: string;
  updatedAt: Date;
}

/** Integrations per platform of the guide table, counted in keyset chunks. */
export async function countPerPlatform(pool: pg.Pool, target: ResolvedTarget): Promise<PlatformCount[]> {
  return countsByPlatform(await countByInKeysetChunks(pool, target, `t."platform"::text`));
}

/** Counts keyed by platform, as a list in platform order. */
export function countsByPlatform(counts: Map<string, number>): PlatformCount[] {
  return [...counts]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([platform, count]) => ({ platform, count }));
}

/** Rows updated in the last `hours`, newest first. */
export async function updatedWithin(pool: pg.Pool, hours: number): Promise<UpdatedIntegration[]> {
  const { rows } = await pool.query<UpdatedIntegration>(
    `SELECT "id", "platform"::text AS platform, "displayName", "updatedAt" FROM ${TABLE}
      WHERE "updatedAt" > NOW() - make_interval(hours => $1) ORDER BY "updatedAt" DESC`,
    [hours],
  );
  return rows;
}
