import type pg from "pg";
import { PLATFORM_CREDENTIALS, quoteIdent } from "./target.js";

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

export async function countPerPlatform(pool: pg.Pool): Promise<PlatformCount[]> {
  const { rows } = await pool.query<{ platform: string; count: string }>(
    `SELECT "platform"::text AS platform, count(*) AS count FROM ${TABLE} GROUP BY 1 ORDER BY 1`,
  );
  return rows.map((r) => ({ platform: r.platform, count: Number(r.count) }));
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
