// A drill's scratch copy: the targets' tables (in their own databases) and the keyring copied,
// rotated for real, the live rows and key states untouched, dropped and swept afterwards.
import { randomUUID } from "node:crypto";
import type pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import { seedPlatformIntegrations } from "../../src/demo/seed.js";
import { RotationEngine, type TargetBinding } from "../../src/engine/engine.js";
import { KeyStore } from "../../src/engine/key-store.js";
import { associatedData, PLATFORM_CREDENTIALS, type Target } from "../../src/engine/target.js";
import { createEmptyDatabase, newTestKey, useTestDatabase } from "../support/database.js";
import { testLogger } from "../support/engine.js";

const t = useTestDatabase();
afterAll(async () => {
  if (ready) await (await ready).other.drop();
});

/** Bound to its row: the copy must decrypt under the same table name in another schema. */
const WEBHOOKS: Target = { table: "Webhook", idColumn: "id", ciphertextColumn: "secret", bindToRow: true };

/** The live environment, set up once for the file (its rows and keys are what each test checks stay put). */
let ready: ReturnType<typeof createLive> | undefined;
const setup = () => {
  ready ??= createLive();
  return ready;
};

async function createLive() {
  const other = await createEmptyDatabase();
  await other.pool.query(`CREATE TABLE "Webhook" ("id" integer PRIMARY KEY, "secret" text NOT NULL)`);
  const keys = new KeyStore(t.db.prisma, t.masterKey, testLogger);
  const legacy = newTestKey();
  await keys.adoptLegacyKey("production", legacy);
  await seedPlatformIntegrations(t.db.pool, legacy, { rows: 60 });
  const keyring = await keys.loadKeyring("production");
  for (let id = 1; id <= 40; id++) {
    const sealed = keyring.encrypt(`whsec_${id}`, associatedData(WEBHOOKS, String(id)));
    await other.pool.query(`INSERT INTO "Webhook" VALUES ($1, $2)`, [id, sealed]);
  }
  const bindings: TargetBinding[] = [
    { target: PLATFORM_CREDENTIALS, pool: t.db.pool },
    { target: WEBHOOKS, pool: other.pool },
  ];
  const engine = new RotationEngine(t.db, keys, testLogger, undefined, undefined, {
    targets: (environment) => (environment === "production" ? bindings : []),
  });
  // Live rows under v2 first (the webhook secrets bound to their rows), as after any rotation.
  const live = await engine.rotate("production");
  expect(live.failed).toBe(0);
  return { engine, keys, other };
}

async function rowsOf(pool: pg.Pool, table: string, column: string): Promise<string[]> {
  const { rows } = await pool.query(
    `SELECT "id"::text AS id, "${column}" AS c FROM "${table}" ORDER BY "id"`,
  );
  return rows.map((r) => `${r.id}=${r.c}`);
}

async function schemas(pool: pg.Pool): Promise<string[]> {
  const { rows } = await pool.query(
    "SELECT nspname FROM pg_namespace WHERE nspname LIKE 'keyops\\_drill\\_%'",
  );
  return rows.map((r) => r.nspname as string);
}

describe("a drill's scratch copy", () => {
  it("rotates the copies of every target for real and leaves the live rows and key states byte-identical", async () => {
    const { engine, keys, other } = await setup();
    const liveRows = [
      await rowsOf(t.db.pool, "PlatformIntegration", "credentials"),
      await rowsOf(other.pool, "Webhook", "secret"),
    ];
    const liveKeys = JSON.stringify(await keys.list("production"));
    const drillId = randomUUID();

    const keyring = await engine.openScratch("production", drillId);
    expect(await engine.openScratch("production", drillId)).toBe(keyring);
    expect((await keys.list(keyring)).map((v) => [v.version, v.state, v.fingerprint])).toEqual(
      (await keys.list("production")).map((v) => [v.version, v.state, v.fingerprint]),
    );
    const generated = await engine.generate(keyring);
    await engine.activate(keyring, generated.version);
    const report = await engine.rotate(keyring, { generate: false });
    expect(report.targets.map((r) => [r.target, r.status, r.reencrypted, r.failed])).toEqual([
      ["PlatformIntegration.credentials", "SUCCEEDED", 60, 0],
      ["Webhook.secret", "SUCCEEDED", 40, 0],
    ]);
    expect(await engine.verify(keyring)).toMatchObject({
      rows: 100,
      failed: 0,
      notOnActive: 0,
      activeVersion: 3,
    });
    await engine.markCompromised(keyring, 2);

    expect(await rowsOf(t.db.pool, "PlatformIntegration", "credentials")).toEqual(liveRows[0]);
    expect(await rowsOf(other.pool, "Webhook", "secret")).toEqual(liveRows[1]);
    expect(JSON.stringify(await keys.list("production"))).toBe(liveKeys);
    expect((await engine.status("production")).activeVersion).toBe(2);

    await engine.dropScratch(["production"], drillId);
    expect(await schemas(t.db.pool)).toEqual([]);
    expect(await schemas(other.pool)).toEqual([]);
    expect(await keys.keyringsStartingWith("drill:")).toEqual([]);
    await engine.dropScratch(["production"], drillId);
  });

  it("sweeps the copies of drills no longer open and keeps those of open ones", async () => {
    const { engine, keys, other } = await setup();
    const open = randomUUID();
    const closed = randomUUID();
    await engine.openScratch("production", open);
    await engine.openScratch("production", closed);
    expect(await schemas(other.pool)).toHaveLength(2);
    // Two keyrings and two schemas in each database: the closed drill's three go.
    expect(await engine.sweepScratch([open])).toBe(3);
    expect(await schemas(t.db.pool)).toHaveLength(1);
    expect(await schemas(other.pool)).toHaveLength(1);
    expect(await keys.keyringsStartingWith("drill:")).toHaveLength(1);
    expect(await engine.sweepScratch([])).toBe(3);
    expect(await schemas(t.db.pool)).toEqual([]);
    expect(await keys.keyringsStartingWith("drill:")).toEqual([]);
  });

  it("refuses to drop a live keyring or a schema that is not a drill's", async () => {
    const { keys } = await setup();
    await expect(keys.dropKeyring("production")).rejects.toThrow(/live keyring/);
    expect((await keys.list("production")).length).toBeGreaterThan(0);
  });
});
