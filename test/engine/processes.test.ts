import { setTimeout as sleep } from "node:timers/promises";
import { describe, expect, it } from "vitest";
import { seedPlatformIntegrations } from "../../src/demo/seed.js";
import { runKeyops, spawnKeyops } from "../support/cli.js";
import { newTestKey, useTestDatabase } from "../support/database.js";
import { engineFor } from "../support/engine.js";

const t = useTestDatabase();

/** Every UPDATE of a credential that commits leaves one row here (rolled-back ones leave none). */
async function countCommittedWrites() {
  await t.db.pool.query(`
    CREATE TABLE IF NOT EXISTS credential_writes (id text NOT NULL);
    CREATE OR REPLACE FUNCTION log_credential_write() RETURNS trigger AS $$
      BEGIN INSERT INTO credential_writes(id) VALUES (NEW.id); RETURN NEW; END $$ LANGUAGE plpgsql;
    DROP TRIGGER IF EXISTS log_credential_write ON "PlatformIntegration";
    CREATE TRIGGER log_credential_write AFTER UPDATE OF credentials ON "PlatformIntegration"
      FOR EACH ROW EXECUTE FUNCTION log_credential_write();`);
}

async function setUp(rows: number) {
  await t.db.pool.query(`TRUNCATE "PlatformIntegration", "KeyVersion", "RotationRun" RESTART IDENTITY`);
  const { keys, engine } = engineFor(t);
  const legacy = newTestKey();
  await keys.adoptLegacyKey("development", legacy);
  await seedPlatformIntegrations(t.db.pool, legacy, { rows });
  const env = {
    DATABASE_URL: t.url,
    KEYOPS_MASTER_KEY: t.masterKey.exposeBase64(),
    ENCRYPTION_KEY: legacy.exposeBase64(),
  };
  return { engine, env };
}

async function runningRun() {
  return t.db.prisma.rotationRun.findFirst({ where: { status: "RUNNING" } });
}

describe("crash safety", () => {
  it("a rotation SIGKILLed at random points resumes, re-encrypts every row exactly once and loses none", async () => {
    const rows = 4000;
    const { engine, env } = await setUp(rows);
    await countCommittedWrites();
    const original = await engine.verify("development");
    const args = ["rotate", "--json", "--batch-size", "50", "--max-rows-per-second", "5000"];

    let kills = 0;
    for (let attempt = 0; attempt < 8 && kills < 4; attempt++) {
      const child = spawnKeyops(args, env);
      const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
      // Kill once the run has committed a random number of rows (or at a random moment of start-up).
      const killAfterRows = attempt === 0 ? -1 : Math.floor(Math.random() * rows * 0.8);
      const deadline = Date.now() + 20_000;
      let finished: number | null | undefined;
      const startupDelay = 200 + Math.random() * 800;
      const started = Date.now();
      while (Date.now() < deadline) {
        const run = await runningRun();
        const due =
          killAfterRows < 0 ? Date.now() - started > startupDelay : (run?.rowsDone ?? -1) >= killAfterRows;
        if (due) break;
        const done = await Promise.race([exited, sleep(10).then(() => undefined)]);
        if (done !== undefined) {
          finished = done;
          break;
        }
      }
      if (finished !== undefined) {
        expect([0, 3]).toContain(finished);
        if (finished === 0) break;
        continue;
      }
      child.kill("SIGKILL");
      await exited;
      kills++;
      // Whatever the moment of the kill: every row still decrypts under a known version.
      const now = await engine.verify("development");
      expect(now.rows).toBe(rows);
      expect(now.failed).toBe(0);
      expect(now.plaintextDigest).toBe(original.plaintextDigest);
      await sleep(100); // the killed backend lets go of its advisory lock
    }
    expect(kills).toBeGreaterThanOrEqual(2);

    let last = await runKeyops(args, env);
    for (let i = 0; last.code === 3 && i < 20; i++) {
      await sleep(200);
      last = await runKeyops(args, env);
    }
    expect(last.code).toBe(0);
    const report = JSON.parse(last.stdout);
    expect(report.status).toBe("SUCCEEDED");

    const final = await engine.verify("development");
    expect(final.failed).toBe(0);
    expect(final.notOnActive).toBe(0);
    expect(final.plaintextDigest).toBe(original.plaintextDigest);
    expect(Object.keys(final.perVersion)).toEqual([String(final.activeVersion)]);
    const { rows: writes } = await t.db.pool.query<{ total: number; distinct_ids: number }>(
      `SELECT count(*)::int AS total, count(DISTINCT id)::int AS distinct_ids FROM credential_writes`,
    );
    // Committed batches are never redone: each row was rewritten exactly once across all attempts.
    expect(writes[0]).toEqual({ total: rows, distinct_ids: rows });
    expect(await t.db.prisma.rotationRun.count({ where: { status: "RUNNING" } })).toBe(0);
  });
});

describe("one run per environment across processes", () => {
  it("a second process is refused with a clear message while the first rotates", async () => {
    const { engine, env } = await setUp(2000);
    // Slow enough (about 5 s) that the second process, which takes a second or two to start, meets it running.
    const args = ["rotate", "--json", "--batch-size", "100", "--max-rows-per-second", "400"];
    const first = spawnKeyops(args, env);
    let stdout = "";
    first.stdout?.on("data", (chunk) => {
      stdout += chunk;
    });
    const firstExit = new Promise<number | null>((resolve) => first.on("exit", (code) => resolve(code)));
    const deadline = Date.now() + 20_000;
    while (!(await runningRun()) && Date.now() < deadline) await sleep(20);
    expect(await runningRun()).not.toBeNull();

    const second = await runKeyops(args, env);
    expect(second.code).toBe(3);
    // The args include --json: the error is one JSON object on stdout too.
    expect(JSON.parse(second.stdout)).toMatchObject({
      exitCode: 3,
      error: expect.stringMatching(/already running/),
    });
    expect(second.stderr.trim()).toMatch(
      /^keyops: a rotation of development is already running \(run #1, \d+ rows/,
    );
    expect(second.stderr.trim().split("\n")).toHaveLength(1);

    expect(await firstExit).toBe(0);
    expect(JSON.parse(stdout)).toMatchObject({ status: "SUCCEEDED", runId: 1 });
    expect(await t.db.prisma.rotationRun.count()).toBe(1);
    expect((await engine.verify("development")).perVersion).toEqual({ "2": 2000 });
  });
});
