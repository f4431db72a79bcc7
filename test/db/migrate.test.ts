import { mkdir, mkdtemp, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import pg from "pg";
import { describe, expect, it } from "vitest";
import { migrate, readMigrations } from "../../src/db/migrate.js";
import { silentLogger } from "../../src/logger.js";
import { createEmptyDatabase, useTestDatabase } from "../support/database.js";

const t = useTestDatabase();

/** An empty database on the run's server, dropped afterwards; `work` gets its URL. */
async function withEmptyDatabase(work: (url: string) => Promise<void>) {
  const empty = await createEmptyDatabase();
  try {
    await work(empty.url);
  } finally {
    await empty.drop();
  }
}

/** A pool whose idle connections may be cut by the forced DROP DATABASE at the end without an unhandled error. */
function poolOn(url: string): pg.Pool {
  const pool = new pg.Pool({ connectionString: url });
  pool.on("error", () => undefined);
  return pool;
}

describe("migrator", () => {
  it("records each migration as Prisma Migrate does, and applies nothing twice", async () => {
    const files = await readMigrations();
    expect(files.length).toBeGreaterThan(0);
    const { rows } = await t.db.pool.query(
      `SELECT migration_name, checksum, finished_at, rolled_back_at, applied_steps_count
         FROM "_prisma_migrations" ORDER BY migration_name`,
    );
    expect(rows.map((r) => [r.migration_name, r.checksum, r.applied_steps_count, r.rolled_back_at])).toEqual(
      files.map((f) => [f.name, f.checksum, 1, null]),
    );
    expect(rows.every((r) => r.finished_at instanceof Date)).toBe(true);
    expect(files[0]?.checksum).toMatch(/^[0-9a-f]{64}$/);
    expect(await migrate(t.db.pool, silentLogger)).toEqual([]);
  });

  it("two processes starting together migrate once (Prisma's advisory lock)", async () => {
    await withEmptyDatabase(async (url) => {
      const pools = [poolOn(url), poolOn(url)];
      try {
        const applied = await Promise.all(pools.map((pool) => migrate(pool, silentLogger)));
        const names = (await readMigrations()).map((m) => m.name);
        expect(applied.flat().sort()).toEqual(names);
        const { rows } = await (pools[0] as pg.Pool).query(
          `SELECT count(*)::int AS n FROM "_prisma_migrations"`,
        );
        expect(rows[0].n).toBe(names.length);
      } finally {
        await Promise.all(pools.map((pool) => pool.end()));
      }
    });
  });

  it("a failing migration rolls back whole, is not recorded as finished, and is named in the error", async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), "keyops-migrations-"));
    await mkdir(path.join(dir, "20260101000000_good"));
    await writeFile(path.join(dir, "20260101000000_good", "migration.sql"), `CREATE TABLE good (id int);`);
    await mkdir(path.join(dir, "20260102000000_broken"));
    await writeFile(
      path.join(dir, "20260102000000_broken", "migration.sql"),
      `CREATE TABLE half_done (id int);\nSELECT * FROM no_such_table;`,
    );
    await withEmptyDatabase(async (url) => {
      const pool = poolOn(url);
      try {
        await expect(migrate(pool, silentLogger, dir)).rejects.toThrow(
          /migration 20260102000000_broken failed/,
        );
        const { rows: tables } = await pool.query(
          `SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1`,
        );
        expect(tables.map((r) => r.table_name)).toEqual(["_prisma_migrations", "good"]);
        const { rows } = await pool.query(`SELECT migration_name, finished_at FROM "_prisma_migrations"`);
        expect(rows.map((r) => r.migration_name)).toEqual(["20260101000000_good"]);
      } finally {
        await pool.end();
      }
    });
  });
});
