import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { encryptLegacy } from "../../src/demo/seed.js";
import { RotationEngine } from "../../src/engine/engine.js";
import { KeyStore } from "../../src/engine/key-store.js";
import type { Target } from "../../src/engine/target.js";
import { createEmptyDatabase, newTestKey, useTestDatabase } from "../support/database.js";
import { testLogger } from "../support/engine.js";

// KeyOps keeps its keyring and runs in its own database; staging's credentials live in the
// application's database (KEYOPS_TARGET_DATABASE_URL_STAGING), in a table of its own shape.
const t = useTestDatabase();
let app: Awaited<ReturnType<typeof createEmptyDatabase>>;
beforeAll(async () => {
  app = await createEmptyDatabase();
  await app.pool.query(`CREATE TABLE vault_secret (id integer PRIMARY KEY, secret text NOT NULL)`);
});
afterAll(async () => {
  await app?.drop();
});

const target: Target = { table: "vault_secret", idColumn: "id", ciphertextColumn: "secret" };

describe("a target in another database", () => {
  it("rotates it with the checkpoint kept in the KeyOps database, and keeps a concurrent write", async () => {
    const keys = new KeyStore(t.db.prisma, t.masterKey, testLogger);
    const engine = new RotationEngine(t.db, keys, testLogger, target, (environment) =>
      environment === "staging" ? app.pool : t.db.pool,
    );
    const legacy = newTestKey();
    await keys.adoptLegacyKey("staging", legacy);
    for (let id = 1; id <= 300; id++) {
      await app.pool.query(`INSERT INTO vault_secret VALUES ($1, $2)`, [
        id,
        encryptLegacy(legacy, `secret ${id}`),
      ]);
    }
    const before = await engine.verify("staging");
    expect(before).toMatchObject({ rows: 300, failed: 0 });

    let appWrite: Promise<unknown> | undefined;
    const report = await engine.rotate("staging", {
      batchSize: 20,
      maxRowsPerSecond: 100, // holds each batch ~200 ms between its read and its write
      onProgress: (p) => {
        if (p.phase !== "reencrypt" || appWrite) return;
        // Row 30 is in the batch read and re-encrypted, waiting on the rate limit: the app changes it now.
        appWrite = keys
          .loadKeyring("staging")
          .then((keyring) =>
            app.pool.query(`UPDATE vault_secret SET secret = $2 WHERE id = $1`, [
              30,
              keyring.encrypt("changed by the app"),
            ]),
          );
      },
    });
    await appWrite;

    expect(report).toMatchObject({ status: "SUCCEEDED", toVersion: 2, rows: 300, perVersion: { "2": 300 } });
    expect(report.conflicts).toBe(1);
    const keyring = await keys.loadKeyring("staging");
    const { rows } = await app.pool.query<{ id: number; secret: string }>(
      `SELECT id, secret FROM vault_secret ORDER BY id`,
    );
    for (const row of rows) {
      expect(keyring.decryptToString(row.secret)).toBe(
        row.id === 30 ? "changed by the app" : `secret ${row.id}`,
      );
    }
    const run = await t.db.prisma.rotationRun.findUniqueOrThrow({ where: { id: report.runId } });
    expect(run).toMatchObject({
      status: "SUCCEEDED",
      targetTable: "vault_secret",
      // In one pass, in integer keyset order: the row the app wrote under v2 is not rewritten.
      pass: 1,
      cursor: "300",
      rowsDone: 299,
      rowsConflicted: 1,
    });
    const { rows: appTables } = await app.pool.query(
      `SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'`,
    );
    expect(appTables).toEqual([{ table_name: "vault_secret" }]); // nothing of KeyOps in the app's database
  });
});
