import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { openCredentials } from "../../src/client/index.js";
import { encrypt } from "../../src/crypto/aes-gcm.js";
import { formatCiphertext } from "../../src/crypto/ciphertext.js";
import { encryptLegacy, seedPlatformIntegrations } from "../../src/demo/seed.js";
import { defaultBatchSize } from "../../src/engine/engine.js";
import type { Target } from "../../src/engine/target.js";
import { BusyError, RefusedError } from "../../src/errors.js";
import { newTestKey, useTestDatabase } from "../support/database.js";
import { engineFor } from "../support/engine.js";

const t = useTestDatabase();

async function plaintexts(environment: "development" | "staging", table = "PlatformIntegration") {
  const { keys } = engineFor(t);
  const keyring = await keys.loadKeyring(environment);
  const { rows } = await t.db.pool.query<{ id: string; credentials: string }>(
    `SELECT id, credentials FROM "${table}" ORDER BY id`,
  );
  return new Map(rows.map((r) => [r.id, keyring.decryptToString(r.credentials)]));
}

async function insertIntegration(id: string, credentials: string) {
  await t.db.pool.query(
    `INSERT INTO "PlatformIntegration" (id, platform, "displayName", credentials, "updatedAt")
     VALUES ($1, 'SHOPIFY', 'test', $2, now())`,
    [id, credentials],
  );
}

/** A fresh table of `rows` legacy rows under development's adopted legacy key (version 1). */
async function seeded(rows: number) {
  await resetTable();
  const { keys, engine } = engineFor(t);
  const legacy = newTestKey();
  await keys.adoptLegacyKey("development", legacy);
  await seedPlatformIntegrations(t.db.pool, legacy, { rows });
  return { keys, engine, legacy };
}

async function resetTable() {
  await t.db.pool.query(`TRUNCATE "PlatformIntegration"`);
  await t.db.pool.query(`TRUNCATE "KeyVersion", "RotationRun" RESTART IDENTITY`);
}

describe("rotation run", () => {
  it("moves every legacy row to a new version, proves the digest unchanged, then allows retiring", async () => {
    const { engine } = await seeded(1234);
    const before = await plaintexts("development");
    const verifyBefore = await engine.verify("development");

    await expect(engine.retire("development", 1)).rejects.toThrow(/version 1 of development is active/);
    const generated = await engine.generate("development");
    expect(generated).toMatchObject({ version: 2, state: "PENDING" });
    await engine.activate("development", 2);
    await expect(engine.retire("development", 1)).rejects.toThrow(/still holds 1234 rows/);

    const phases = new Set<string>();
    const report = await engine.rotate("development", {
      generate: false,
      batchSize: 100,
      cryptoWorkers: 2, // the worker-thread path large tables take
      onProgress: (p) => phases.add(p.phase),
    });
    expect(report).toMatchObject({
      status: "SUCCEEDED",
      resumed: false,
      toVersion: 2,
      rows: 1234,
      reencrypted: 1234,
      failed: 0,
      notOnActive: 0,
      perVersion: { "2": 1234 },
      digestUnchanged: true,
    });
    expect(report.digestBefore).toBe(verifyBefore.plaintextDigest);
    expect([...phases]).toEqual(["verify-before", "reencrypt", "verify-after"]);
    expect(await plaintexts("development")).toEqual(before);

    const { rows } = await t.db.pool.query<{ credentials: string }>(
      `SELECT credentials FROM "PlatformIntegration"`,
    );
    expect(rows.every((r) => r.credentials.startsWith("v2:"))).toBe(true);

    const status = await engine.status("development");
    expect(status.versions.map((v) => [v.version, v.state, v.rows])).toEqual([
      [1, "DECRYPT_ONLY", 0],
      [2, "ACTIVE", 1234],
    ]);
    await engine.retire("development", 1);
    expect((await engine.verify("development")).failed).toBe(0);
  });

  it("fails closed: rows no version decrypts are left byte-identical and named in the report", async () => {
    const { engine, legacy } = await seeded(300);
    const stranger = newTestKey();
    const bad: Record<string, string> = {
      "bad-unknown-key": encryptLegacy(stranger, '{"token":"x"}'),
      "bad-unknown-version": formatCiphertext(9, encrypt(stranger, "y")),
      "bad-garbage": "not a ciphertext at all",
      "bad-tampered": tamper(encryptLegacy(legacy, '{"token":"z"}')),
    };
    for (const [id, credentials] of Object.entries(bad)) {
      await insertIntegration(id, credentials);
    }

    const report = await engine.rotate("development", { batchSize: 64, cryptoWorkers: 1 });

    expect(report.status).toBe("FAILED_WITH_ROWS");
    expect(report.failed).toBe(4);
    expect([...report.failedRowIds].sort()).toEqual(Object.keys(bad).sort());
    expect(report.reencrypted).toBe(300);
    const { rows } = await t.db.pool.query<{ id: string; credentials: string }>(
      `SELECT id, credentials FROM "PlatformIntegration" WHERE id LIKE 'bad-%'`,
    );
    expect(Object.fromEntries(rows.map((r) => [r.id, r.credentials]))).toEqual(bad);
    const run = await t.db.prisma.rotationRun.findUniqueOrThrow({ where: { id: report.runId } });
    expect(run.status).toBe("FAILED_WITH_ROWS");
    expect(run.rowsFailed).toBe(4);
  });

  it("keeps the row binding: a bound ciphertext copied to another row does not decrypt, before or after", async () => {
    await resetTable();
    await t.db.pool.query(
      `CREATE TABLE IF NOT EXISTS bound_secret (id bigint PRIMARY KEY, secret text NOT NULL)`,
    );
    const target: Target = {
      table: "bound_secret",
      idColumn: "id",
      ciphertextColumn: "secret",
      bindToRow: true,
    };
    const { keys, engine } = engineFor(t, target);
    await keys.adoptLegacyKey("staging", newTestKey());
    const keyring = await keys.loadKeyring("staging");
    for (let id = 1; id <= 50; id++) {
      const aad = `bound_secret.secret:${id}`;
      await t.db.pool.query(`INSERT INTO bound_secret VALUES ($1, $2)`, [
        id,
        keyring.encrypt(`secret-${id}`, aad),
      ]);
    }
    // Row 50 gets row 49's ciphertext: an attacker's copy-paste.
    await t.db.pool.query(
      `UPDATE bound_secret SET secret = (SELECT secret FROM bound_secret WHERE id = 49) WHERE id = 50`,
    );

    const report = await engine.rotate("staging", { batchSize: 7 });

    expect(report.failedRowIds).toEqual(["50"]);
    expect(report.reencrypted).toBe(49);
    const after = await keys.loadKeyring("staging");
    const { rows } = await t.db.pool.query<{ id: string; secret: string }>(
      `SELECT id::text, secret FROM bound_secret WHERE id <= 49`,
    );
    for (const row of rows) {
      expect(row.secret.startsWith("v2:")).toBe(true);
      expect(after.decryptToString(row.secret, `bound_secret.secret:${row.id}`)).toBe(`secret-${row.id}`);
      expect(() => after.decrypt(row.secret, `bound_secret.secret:${Number(row.id) + 1}`)).toThrow();
    }
  });

  it("refuses a second run of the same environment while one holds the lock, and activation meanwhile", async () => {
    const { engine } = await seeded(400);
    let second: Promise<unknown> | undefined;
    let activation: Promise<unknown> | undefined;
    const first = engine.rotate("development", {
      batchSize: 20,
      maxRowsPerSecond: 800,
      onProgress: (p) => {
        if (p.phase === "reencrypt" && !second) {
          second = engine.rotate("development").catch((error: unknown) => error);
          activation = engine.activate("development", 1).catch((error: unknown) => error);
        }
      },
    });
    const report = await first;
    expect(report.status).toBe("SUCCEEDED");
    const refused = await second;
    expect(refused).toBeInstanceOf(BusyError);
    expect((refused as Error).message).toMatch(/a rotation of development is already running \(run #\d+/);
    expect(await activation).toBeInstanceOf(BusyError);
    expect(await t.db.prisma.keyVersion.count({ where: { environment: "development" } })).toBe(2);
  });

  it("zero downtime: readers and writers during a rotation never fail and no write is lost", async () => {
    const { engine } = await seeded(3000);
    const expected = await plaintexts("development");
    const ids = [...expected.keys()];
    // The application: keyops/client on the keyring source, its own cache, as a separate service has.
    const app = await openCredentials({
      environment: "development",
      instanceId: "rotation-test-app",
      refreshIntervalMs: 200,
      reportIntervalMs: 200,
      env: { KEYOPS_DATABASE_URL: t.url, KEYOPS_MASTER_KEY: t.masterKey.exposeBase64() },
    });
    let running = true;
    let reads = 0;
    let writes = 0;
    const readFailures: string[] = [];

    const reader = async () => {
      while (running) {
        const id = ids[Math.floor(Math.random() * ids.length)] as string;
        const { rows } = await t.db.pool.query<{ credentials: string }>(
          `SELECT credentials FROM "PlatformIntegration" WHERE id = $1`,
          [id],
        );
        try {
          await app.decrypt(rows[0]?.credentials ?? "");
          reads++;
        } catch (error) {
          readFailures.push(`${id}: ${(error as Error).message}`);
        }
      }
    };
    // Each writer owns half of the rows, so the expected value of a row follows its commit order.
    const writer = async (half: number) => {
      const own = ids.filter((_, i) => i % 2 === half);
      while (running) {
        const id = own[Math.floor(Math.random() * own.length)] as string;
        const credentials = { accessToken: `shpat_${writes}`, id };
        // Encrypt outside the transaction, like an application does; commit then record.
        const ciphertext = app.encryptCredentials(credentials);
        await t.db.pool.query(
          `UPDATE "PlatformIntegration" SET credentials = $2, "updatedAt" = now() WHERE id = $1`,
          [id, ciphertext],
        );
        expected.set(id, JSON.stringify(credentials));
        writes++;
      }
    };
    const load = [reader(), reader(), writer(0), writer(1)];
    const report = await engine.rotate("development", { batchSize: 100, maxRowsPerSecond: 3000 });
    running = false;
    await Promise.all(load);
    await app.close();

    expect(readFailures).toEqual([]);
    expect(reads).toBeGreaterThan(100);
    expect(writes).toBeGreaterThan(100);
    expect(await plaintexts("development")).toEqual(expected);
    const finalReport = await engine.verify("development");
    expect(finalReport.failed).toBe(0);
    expect(report.reencrypted).toBeGreaterThan(0);
    // Stale writers (cache not yet refreshed) may have left rows under v1 behind the sweep: one more run finishes.
    if (finalReport.notOnActive > 0) {
      const again = await engine.rotate("development", { generate: false });
      expect(again.notOnActive).toBe(0);
    }
  });
});

describe("compare-and-swap", () => {
  it("never overwrites a row the application changed between the engine's read and write", async () => {
    await resetTable();
    const { keys, engine } = engineFor(t);
    await keys.adoptLegacyKey("development", newTestKey());
    const v1 = await keys.loadKeyring("development");
    for (let i = 1; i <= 100; i++) {
      const id = `row-${String(i).padStart(4, "0")}`;
      await insertIntegration(id, v1.encrypt(`original-${id}`));
    }
    // At the first batch's progress event the second batch (rows 11-20) has been read and
    // re-encrypted, and the rate limit holds its write back ~200 ms: the application writes now.
    let appWrites: Promise<unknown> | undefined;
    const report = await engine.rotate("development", {
      batchSize: 10,
      maxRowsPerSecond: 50,
      onProgress: (p) => {
        if (p.phase !== "reencrypt" || appWrites) return;
        appWrites = (async () => {
          const current = await keys.loadKeyring("development");
          const write = (id: string, ciphertext: string) =>
            t.db.pool.query(`UPDATE "PlatformIntegration" SET credentials = $2 WHERE id = $1`, [
              id,
              ciphertext,
            ]);
          await write("row-0011", current.encrypt("app-fresh")); // an app that knows v2
          await write("row-0012", v1.encrypt("app-stale")); // an app instance still writing v1
        })();
      },
    });
    await appWrites;

    expect(report.status).toBe("SUCCEEDED");
    expect(report.conflicts).toBeGreaterThanOrEqual(2);
    const after = await plaintexts("development");
    expect(after.get("row-0011")).toBe("app-fresh");
    expect(after.get("row-0012")).toBe("app-stale");
    for (const [id, value] of after) {
      if (id !== "row-0011" && id !== "row-0012") expect(value).toBe(`original-${id}`);
    }
    expect(report.perVersion).toEqual({ "2": 100 });
  });

  it("a run started with --max-rows-per-second auto and interrupted resumes paced the same way", async () => {
    const { engine } = await seeded(3000);
    const interrupt = new AbortController();
    await expect(
      engine.rotate("development", {
        batchSize: 200,
        maxRowsPerSecond: "auto",
        signal: interrupt.signal,
        onProgress: (p) => {
          if (p.phase === "reencrypt" && p.done >= 400) interrupt.abort();
        },
      }),
    ).rejects.toThrow();
    const interrupted = await t.db.prisma.rotationRun.findFirstOrThrow({ orderBy: { id: "desc" } });
    expect(interrupted).toMatchObject({ status: "RUNNING", adaptivePacing: true, maxRowsPerSecond: null });
    expect(interrupted.rowsDone).toBeLessThan(3000);

    const resumed = await engine.rotate("development");
    expect(resumed).toMatchObject({
      status: "SUCCEEDED",
      resumed: true,
      reencrypted: 3000,
      digestUnchanged: true,
    });
  });
});

describe("throttled runs", () => {
  it("without a batch size chosen, write small batches evenly spaced: the rate over 20 rows each", async () => {
    expect([9084, 100, 40_000, 1_000_000].map((rate) => defaultBatchSize(rate))).toEqual([
      455, 50, 2000, 2000,
    ]);
    expect([undefined, "auto" as const].map((rate) => defaultBatchSize(rate))).toEqual([2000, 2000]);

    const { engine } = await seeded(1200);
    const batches: number[] = [];
    let done = 0;
    const report = await engine.rotate("development", {
      maxRowsPerSecond: 4000,
      onProgress: (p) => {
        if (p.phase !== "reencrypt" || p.done === done) return;
        batches.push(p.done - done);
        done = p.done;
      },
    });
    expect(report).toMatchObject({ status: "SUCCEEDED", reencrypted: 1200, digestUnchanged: true });
    const run = await t.db.prisma.rotationRun.findFirstOrThrow({ orderBy: { id: "desc" } });
    expect(run).toMatchObject({ batchSize: 200, maxRowsPerSecond: 4000 });
    expect(Math.max(...batches)).toBeLessThanOrEqual(200);

    // A batch size given is kept.
    await engine.rotate("development", { maxRowsPerSecond: 4000, batchSize: 600 });
    const explicit = await t.db.prisma.rotationRun.findFirstOrThrow({ orderBy: { id: "desc" } });
    expect(explicit).toMatchObject({ batchSize: 600, maxRowsPerSecond: 4000 });
  });
});

function tamper(ciphertext: string): string {
  const last = ciphertext.at(-1) === "0" ? "1" : "0";
  return `${ciphertext.slice(0, -1)}${last}`;
}

describe("verify", () => {
  it("computes the plaintext digest over ids in byte order, as specified", async () => {
    await resetTable();
    const { keys, engine } = engineFor(t);
    await keys.adoptLegacyKey("development", newTestKey());
    const keyring = await keys.loadKeyring("development");
    const rows: Record<string, string> = { b: "two", B: "one", é: "four", a10: "x", a9: "y", Z: "three" };
    for (const [id, value] of Object.entries(rows)) {
      await insertIntegration(id, keyring.encrypt(value));
    }
    const byteOrder = Object.keys(rows).sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)));
    expect(byteOrder).toEqual(["B", "Z", "a10", "a9", "b", "é"]);
    const expected = createHash("sha256");
    for (const id of byteOrder) expected.update(`${id}\n${rows[id]}\n`);

    const report = await engine.verify("development");
    expect(report.plaintextDigest).toBe(expected.digest("hex"));
    expect(report).toMatchObject({ rows: 6, failed: 0, perVersion: { "1": 6 }, activeVersion: 1 });
  });

  it("refuses to retire the active version and to mark it compromised", async () => {
    await resetTable();
    const { keys, engine } = engineFor(t);
    await keys.adoptLegacyKey("development", newTestKey());
    await expect(engine.retire("development", 1)).rejects.toBeInstanceOf(RefusedError);
    await expect(engine.markCompromised("development", 1)).rejects.toThrow(/rotate first/);
  });
});
