import { setTimeout as sleep } from "node:timers/promises";
import pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import { seedPlatformIntegrations } from "../../src/demo/seed.js";
import { RotationEngine } from "../../src/engine/engine.js";
import { KeyStore } from "../../src/engine/key-store.js";
import type { Progress } from "../../src/engine/progress.js";
import { newTestKey, useTestDatabase } from "../support/database.js";
import { testLogger } from "../support/engine.js";

// Issue 13 #4 and #5: an application's row lock and a low statement_timeout during real rotations.
const t = useTestDatabase();
const pools: pg.Pool[] = [];
afterAll(async () => {
  await Promise.all(pools.map((pool) => pool.end()));
});

/** A pool on the test database whose sessions carry `settings` (as a role or DATABASE_URL options would). */
function poolWith(settings: string): pg.Pool {
  const pool = new pg.Pool({ connectionString: t.url, options: settings });
  pools.push(pool);
  return pool;
}

/** The engine with the target reached through `targetPool` (the KeyOps database stays t.db). */
function engineWith(targetPool?: pg.Pool) {
  const keys = new KeyStore(t.db.prisma, t.masterKey, testLogger);
  const engine = targetPool
    ? new RotationEngine(t.db, keys, testLogger, undefined, () => targetPool)
    : new RotationEngine(t.db, keys, testLogger);
  return { keys, engine };
}

async function seeded(rows: number, targetPool?: pg.Pool) {
  await t.db.pool.query(`TRUNCATE "PlatformIntegration"`);
  await t.db.pool.query(`TRUNCATE "KeyVersion", "RotationRun" RESTART IDENTITY`);
  const { keys, engine } = engineWith(targetPool);
  const legacy = newTestKey();
  await keys.adoptLegacyKey("development", legacy);
  await seedPlatformIntegrations(t.db.pool, legacy, { rows });
  const { rows: ids } = await t.db.pool.query<{ id: string }>(
    `SELECT id FROM "PlatformIntegration" ORDER BY id`,
  );
  return { keys, engine, ids: ids.map((row) => row.id) };
}

/** Another session holding a row lock, as an application transaction does (SELECT ... FOR UPDATE). */
async function holdRowLock(id: string) {
  const client = new pg.Client({ connectionString: t.url });
  await client.connect();
  await client.query("BEGIN");
  await client.query(`SELECT 1 FROM "PlatformIntegration" WHERE id = $1 FOR UPDATE`, [id]);
  return {
    async release() {
      await client.query("COMMIT");
      await client.end();
    },
  };
}

/** Resolves with the first progress note matching `pattern`, or with null after `ms`. */
function noteWatcher(pattern: RegExp, ms: number) {
  let found: (note: string) => void = () => undefined;
  const seen = new Promise<string | null>((resolve) => {
    found = resolve;
    sleep(ms).then(() => resolve(null));
  });
  return {
    onProgress: (p: Progress) => {
      if (p.note && pattern.test(p.note)) found(p.note);
    },
    seen,
  };
}

describe("a row the application holds locked", () => {
  it("is skipped and rotated once released; the rotation says it waits, and never holds up the application's writes to the rest of the batch", async () => {
    const { engine, ids } = await seeded(400);
    const before = await engine.verify("development");
    const lock = await holdRowLock(ids[120] as string);
    // The application keeps writing a row of the same batch (100-149), each write allowed 3 s.
    const writer = new pg.Client({ connectionString: t.url });
    await writer.connect();
    await writer.query("SET lock_timeout = '3s'");
    let writing = true;
    let writes = 0;
    const writeErrors: string[] = [];
    const application = (async () => {
      while (writing) {
        try {
          await writer.query(`UPDATE "PlatformIntegration" SET "updatedAt" = now() WHERE id = $1`, [
            ids[110],
          ]);
          writes++;
        } catch (error) {
          writeErrors.push((error as Error).message);
        }
        await sleep(20);
      }
    })();

    const watch = noteWatcher(/^waiting on 1 locked row$/, 30_000);
    const rotation = engine.rotate("development", {
      batchSize: 50,
      cryptoWorkers: 0,
      onProgress: watch.onProgress,
    });
    const note = await watch.seen;
    await lock.release();
    const report = await rotation;
    writing = false;
    await application;
    await writer.end();

    expect(note).toBe("waiting on 1 locked row");
    expect(writeErrors).toEqual([]);
    expect(writes).toBeGreaterThan(0);
    expect(report).toMatchObject({ status: "SUCCEEDED", perVersion: { "2": 400 }, failed: 0 });
    expect(report.digestAfter).toBe(before.plaintextDigest);
  });

  it("does not abort a run whose sessions have a lock_timeout: the locked row waits, the rest is rotated", async () => {
    const target = poolWith("-c lock_timeout=50ms");
    const { engine, ids } = await seeded(300, target);
    const lock = await holdRowLock(ids[42] as string);
    const watch = noteWatcher(/^waiting on 1 locked row$/, 30_000);
    const rotation = engine.rotate("development", {
      batchSize: 50,
      cryptoWorkers: 0,
      onProgress: watch.onProgress,
    });
    rotation.catch(() => undefined);
    const note = await Promise.race([watch.seen, rotation.then(() => "finished")]);
    await lock.release();
    const report = await rotation;

    expect(note).toBe("waiting on 1 locked row");
    expect(report).toMatchObject({
      status: "SUCCEEDED",
      perVersion: { "2": 300 },
      failed: 0,
      digestUnchanged: true,
    });
  });
});

describe("a statement_timeout lower than a whole-table sort", () => {
  it("lets verify and a whole rotation run: every statement reads a bounded batch", async () => {
    const { keys } = await seeded(2000);
    // 300,000 rows: copies of the seeded ciphertexts under new ids (the guide's table binds no row).
    await t.db.pool.query(
      `INSERT INTO "PlatformIntegration" (id, platform, "displayName", credentials, "updatedAt")
       SELECT id || '_' || g, platform, "displayName", credentials, "updatedAt"
         FROM "PlatformIntegration", generate_series(1, 149) AS g`,
    );
    await t.db.pool.query(`VACUUM ANALYZE "PlatformIntegration"`);
    // How long the old verify's single statement takes here: the first FETCH sorts the table.
    const sortMs = Math.min(await timeWholeTableSort(t.db.pool), await timeWholeTableSort(t.db.pool));
    const timeoutMs = Math.max(50, Math.floor(sortMs / 2));
    const target = poolWith(`-c statement_timeout=${timeoutMs}ms`);
    await expect(timeWholeTableSort(target), "the table is big enough for the timeout").rejects.toThrow(
      /statement timeout/,
    );

    const engine = new RotationEngine(t.db, keys, testLogger, undefined, () => target);
    const before = await engine.verify("development");
    expect(before).toMatchObject({ rows: 300_000, failed: 0, perVersion: { "1": 300_000 } });
    const report = await engine.rotate("development", { batchSize: 2000 });
    expect(report).toMatchObject({ status: "SUCCEEDED", rows: 300_000, perVersion: { "2": 300_000 } });
    expect(report.digestAfter).toBe(before.plaintextDigest);
    // What /key-rotate, keyops keys status and retire count on the way: per version, per platform.
    const status = await engine.status("development");
    expect(status.versions.map((v) => [v.version, v.rows])).toEqual([
      [1, 0],
      [2, 300_000],
    ]);
    const perPlatform = await engine.integrationsPerPlatform("development");
    expect(perPlatform.reduce((sum, p) => sum + p.count, 0)).toBe(300_000);
    expect(await engine.integrationsPerPlatformUnder("development", 2)).toEqual(perPlatform);
    expect(await engine.integrationsPerPlatformUnder("development", 1)).toEqual([]);
  }, 240_000);
});

async function timeWholeTableSort(pool: pg.Pool): Promise<number> {
  const client = await pool.connect();
  try {
    await client.query("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
    await client.query(
      `DECLARE whole NO SCROLL CURSOR FOR SELECT id::text, credentials FROM "PlatformIntegration"
        ORDER BY id::text COLLATE "C"`,
    );
    const started = performance.now();
    await client.query("FETCH 5000 FROM whole");
    return performance.now() - started;
  } finally {
    await client.query("ROLLBACK").catch(() => undefined);
    client.release();
  }
}
