// An environment with several targets: the guide's table in the KeyOps database and a second
// column in another database. Each target gets its own run, checkpoint, compare-and-swap,
// fail-closed rule and digest; verify reports per target and overall.
import { describe, expect, it } from "vitest";
import { encryptLegacy, seedPlatformIntegrations } from "../../src/demo/seed.js";
import { RotationEngine, type TargetBinding } from "../../src/engine/engine.js";
import { KeyStore } from "../../src/engine/key-store.js";
import { PLATFORM_CREDENTIALS, type Target } from "../../src/engine/target.js";
import { createEmptyDatabase, newTestKey, useTestDatabase } from "../support/database.js";
import { testLogger } from "../support/engine.js";

const t = useTestDatabase();

const WEBHOOKS: Target = {
  name: "webhook secrets",
  table: "Webhook",
  idColumn: "id",
  ciphertextColumn: "secret",
};

async function setup() {
  const other = await createEmptyDatabase();
  await other.pool.query(`CREATE TABLE "Webhook" ("id" integer PRIMARY KEY, "secret" text NOT NULL)`);
  const keys = new KeyStore(t.db.prisma, t.masterKey, testLogger);
  const legacy = newTestKey();
  await keys.adoptLegacyKey("production", legacy);
  await seedPlatformIntegrations(t.db.pool, legacy, { rows: 120 });
  for (let id = 1; id <= 80; id++) {
    await other.pool.query(`INSERT INTO "Webhook" VALUES ($1, $2)`, [
      id,
      encryptLegacy(legacy, `whsec_${id}`),
    ]);
  }
  const bindings: TargetBinding[] = [
    { target: PLATFORM_CREDENTIALS, pool: t.db.pool },
    { target: WEBHOOKS, pool: other.pool },
  ];
  const engine = new RotationEngine(t.db, keys, testLogger, undefined, undefined, {
    targets: (environment) => (environment === "production" ? bindings : []),
  });
  return { engine, keys, other, legacy };
}

describe("several targets in one environment", () => {
  it("rotates each with its own run and digest, verifies per target, and keeps a bad row of one target", async () => {
    const { engine, other } = await setup();
    const before = await engine.verify("production");
    expect(before.rows).toBe(200);
    expect(before.targets.map((r) => [r.target, r.rows])).toEqual([
      ["PlatformIntegration.credentials", 120],
      ["webhook secrets", 80],
    ]);

    // One row of the second target no key decrypts: that target fails closed, the other succeeds.
    const bad = `${"a".repeat(24)}:${"b".repeat(32)}:${"c".repeat(40)}`;
    await other.pool.query(`INSERT INTO "Webhook" VALUES (999, $1)`, [bad]);
    const report = await engine.rotate("production");
    expect(report.targets.map((p) => [p.target, p.status, p.reencrypted, p.failed])).toEqual([
      ["PlatformIntegration.credentials", "SUCCEEDED", 120, 0],
      ["webhook secrets", "FAILED_WITH_ROWS", 80, 1],
    ]);
    expect(report.status).toBe("FAILED_WITH_ROWS");
    expect(report.targets[0]?.digestUnchanged).toBe(true);
    const runs = await t.db.prisma.rotationRun.findMany({ orderBy: { id: "asc" } });
    expect(runs.map((r) => [r.targetName, r.status])).toEqual([
      ["PlatformIntegration.credentials", "SUCCEEDED"],
      ["webhook secrets", "FAILED_WITH_ROWS"],
    ]);
    const kept = await other.pool.query(`SELECT "secret" FROM "Webhook" WHERE "id" = 999`);
    expect(kept.rows[0].secret).toBe(bad);
    await expect(engine.retire("production", 1)).rejects.toThrow(/still holds 1 row of "Webhook"."secret"/);

    // Fixed, rotated again: both targets on v2, each digest unchanged.
    await other.pool.query(`DELETE FROM "Webhook" WHERE "id" = 999`);
    const again = await engine.rotate("production", { generate: false });
    expect(again.status).toBe("SUCCEEDED");
    const after = await engine.verify("production");
    expect(after.perVersion).toEqual({ "2": 200 });
    expect(after.targets.find((r) => r.target === "PlatformIntegration.credentials")?.plaintextDigest).toBe(
      before.targets.find((r) => r.target === "PlatformIntegration.credentials")?.plaintextDigest,
    );
    await engine.retire("production", 1);
    await other.drop();
  });

  it("refuses an environment without any target instead of using another environment's table", async () => {
    const keys = new KeyStore(t.db.prisma, t.masterKey, testLogger);
    const engine = new RotationEngine(t.db, keys, testLogger, undefined, undefined, { targets: () => [] });
    await expect(engine.verify("staging")).rejects.toThrow(
      "staging has no target configured (KEYOPS_TARGET_DATABASE_URL_STAGING or KEYOPS_TARGETS_FILE); environments never share a table",
    );
    await expect(engine.rotate("staging")).rejects.toThrow(/staging has no target configured/);
    expect((await engine.status("staging")).target).toBe("no target configured");
  });
});
