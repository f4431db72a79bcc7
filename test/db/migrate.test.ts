import { createHash, randomBytes } from "node:crypto";
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import pg from "pg";
import { describe, expect, inject, it } from "vitest";
import { migrate } from "../../src/db/migrate.js";
import { silentLogger } from "../../src/logger.js";
import { createTestDatabase } from "../support/database.js";

const MIGRATIONS = fileURLToPath(new URL("../../prisma/migrations", import.meta.url));

/** The migrations on disk, read independently of the migrator: name and sha256 of migration.sql. */
async function migrationFiles(): Promise<{ name: string; checksum: string }[]> {
  const entries = await readdir(MIGRATIONS, { withFileTypes: true });
  const names = entries
    .filter((e) => e.isDirectory())
    .map((e) => e.name)
    .sort();
  return Promise.all(
    names.map(async (name) => {
      const content = await readFile(path.join(MIGRATIONS, name, "migration.sql"));
      return { name, checksum: createHash("sha256").update(content).digest("hex") };
    }),
  );
}

/** A brand-new database made with a plain CREATE DATABASE on the run's server (nothing in it). */
async function withEmptyDatabase(work: (url: string) => Promise<void>): Promise<void> {
  const admin = new URL(inject("adminDatabaseUrl"));
  const name = `keyops_migrate_${randomBytes(6).toString("hex")}`;
  const adminQuery = async (sql: string) => {
    const client = new pg.Client({ connectionString: admin.toString() });
    await client.connect();
    try {
      await client.query(sql);
    } finally {
      await client.end();
    }
  };
  await adminQuery(`CREATE DATABASE ${name}`);
  const url = new URL(admin);
  url.pathname = `/${name}`;
  try {
    await work(url.toString());
  } finally {
    await adminQuery(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  }
}

/** A pool whose idle connections may be cut by the forced DROP DATABASE without an unhandled error. */
function poolOn(url: string): pg.Pool {
  const pool = new pg.Pool({ connectionString: url, max: 2 });
  pool.on("error", () => undefined);
  return pool;
}

describe("migrator", () => {
  it("records every migration as Prisma Migrate does, and a second run applies nothing", async () => {
    const files = await migrationFiles();
    expect(files.length).toBeGreaterThan(0);
    const fresh = await createTestDatabase();
    try {
      const select = `SELECT migration_name, checksum, finished_at, started_at, rolled_back_at, applied_steps_count
                        FROM "_prisma_migrations" ORDER BY migration_name`;
      const { rows } = await fresh.db.pool.query(select);
      expect(
        rows.map((r) => ({
          name: r.migration_name,
          checksum: r.checksum,
          steps: r.applied_steps_count,
          rolledBack: r.rolled_back_at,
        })),
      ).toEqual(files.map((f) => ({ name: f.name, checksum: f.checksum, steps: 1, rolledBack: null })));
      for (const row of rows) {
        expect(row.finished_at).toBeInstanceOf(Date);
        expect(row.finished_at.getTime()).toBeGreaterThanOrEqual(row.started_at.getTime());
      }

      expect(await migrate(fresh.db.pool, silentLogger)).toEqual([]);
      const { rows: after } = await fresh.db.pool.query(select);
      expect(after).toEqual(rows);
    } finally {
      await fresh.drop();
    }
  });

  it("two migrators starting together on an empty database apply each migration exactly once", async () => {
    const names = (await migrationFiles()).map((f) => f.name);
    await withEmptyDatabase(async (url) => {
      const pools = [poolOn(url), poolOn(url)] as const;
      try {
        // Both must succeed: the one that waits on Prisma's advisory lock finds everything applied.
        const applied = await Promise.all(pools.map((pool) => migrate(pool, silentLogger)));
        expect(applied.flat().sort()).toEqual(names);

        const { rows } = await pools[1].query(
          `SELECT migration_name, count(*)::int AS n, bool_and(finished_at IS NOT NULL) AS finished
             FROM "_prisma_migrations" GROUP BY migration_name ORDER BY migration_name`,
        );
        expect(rows).toEqual(names.map((name) => ({ migration_name: name, n: 1, finished: true })));
        const { rows: tables } = await pools[0].query(
          `SELECT count(*)::int AS n FROM information_schema.tables
            WHERE table_schema = 'public' AND table_name IN ('KeyVersion', 'RotationRun', 'PlatformIntegration')`,
        );
        expect(tables[0].n).toBe(3);
      } finally {
        await Promise.all(pools.map((pool) => pool.end()));
      }
    });
  });

  it("a failing migration rolls back whole, is not recorded as finished, and is named in the error", async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), "keyops-migrations-"));
    try {
      const write = async (name: string, sql: string) => {
        await mkdir(path.join(dir, name));
        await writeFile(path.join(dir, name, "migration.sql"), sql);
      };
      await write("20260101000000_good", `CREATE TABLE good (id int);`);
      await write(
        "20260102000000_broken",
        `CREATE TABLE half_done (id int);\nINSERT INTO good VALUES (1);\nSELECT * FROM no_such_table;`,
      );
      await write("20260103000000_after", `CREATE TABLE after_broken (id int);`);

      await withEmptyDatabase(async (url) => {
        const pool = poolOn(url);
        try {
          const error = await migrate(pool, silentLogger, dir).then(
            () => undefined,
            (e: unknown) => e,
          );
          expect(error).toBeInstanceOf(Error);
          expect((error as Error).message).toMatch(/migration 20260102000000_broken failed: .*no_such_table/);

          const { rows: tables } = await pool.query(
            `SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1`,
          );
          // Neither the broken migration's table nor anything after it.
          expect(tables.map((r) => r.table_name)).toEqual(["_prisma_migrations", "good"]);
          expect((await pool.query(`SELECT count(*)::int AS n FROM good`)).rows[0].n).toBe(0);
          const { rows } = await pool.query(
            `SELECT migration_name, finished_at IS NOT NULL AS finished FROM "_prisma_migrations" ORDER BY 1`,
          );
          expect(rows).toEqual([{ migration_name: "20260101000000_good", finished: true }]);
        } finally {
          await pool.end();
        }
      });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
