// examples/api-service, installed from an `npm pack` tarball the way a user installs it, run as
// real processes on real PostgreSQL: the guide's legacy rows through the env source, two
// instances on the keyring source under steady load while KeyOps rotates the table twice, and an
// instance with the wrong master key.
import { createCipheriv, randomBytes } from "node:crypto";
import http from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { SecretKey } from "../../src/crypto/secret-key.js";
import { GUIDE_TABLE_SQL } from "../../src/db/environment-databases.js";
import { encryptLegacy, seedPlatformIntegrations } from "../../src/demo/seed.js";
import {
  type ApiService,
  getJson,
  type Installed,
  installApiService,
  putJson,
  removePack,
  runLoad,
  sleep,
  startApiService,
} from "../support/api-service.js";
import { eventually } from "../support/bot.js";
import { createEmptyDatabase, createTestDatabase, newTestKey } from "../support/database.js";
import { engineFor } from "../support/engine.js";

const ENVIRONMENT = "production";

let installed: Installed | undefined;
const running = new Set<ApiService>();

beforeAll(async () => {
  installed = await installApiService();
}, 300_000);

afterAll(async () => {
  for (const service of running) await service.kill();
  await installed?.remove();
  await removePack();
});

async function start(env: Record<string, string>): Promise<ApiService> {
  if (!installed) throw new Error("the api service is not installed");
  const service = await startApiService(installed.dir, { KEYOPS_ENVIRONMENT: ENVIRONMENT, ...env });
  running.add(service);
  return service;
}

async function stop(service: ApiService): Promise<number | null> {
  const code = await service.stop();
  running.delete(service);
  return code;
}

/** The guide's own encryptCredentials, as the existing API has it (here with its older 16-byte IV). */
function guideEncryptCredentials(key: SecretKey, credentials: unknown): string {
  const iv = randomBytes(16);
  const cipher = createCipheriv("aes-256-gcm", key.exposeBytes(), iv);
  let encrypted = cipher.update(JSON.stringify(credentials), "utf8", "hex");
  encrypted += cipher.final("hex");
  return `${iv.toString("hex")}:${cipher.getAuthTag().toString("hex")}:${encrypted}`;
}

interface Platform {
  id: string;
  platform: string;
  credentials: unknown;
}

describe("the env source (the guide's ENCRYPTION_KEY, then ENCRYPTION_KEY_V2)", () => {
  it("reads the guide's legacy rows, writes v1: with the legacy key alone and v2: once V2 is added", async () => {
    const app = await createEmptyDatabase();
    try {
      await app.pool.query(GUIDE_TABLE_SQL);
      const legacy = newTestKey();
      const stored: Record<string, unknown> = {
        shop_a: { shopDomain: "acme.myshopify.com", accessToken: `shpat_${randomBytes(16).toString("hex")}` },
        shop_b: {
          shopDomain: "lumen.myshopify.com",
          accessToken: `shpat_${randomBytes(16).toString("hex")}`,
        },
        amazon_c: { sellerId: "A1B2C3", refreshToken: `Atzr|${randomBytes(24).toString("base64url")}` },
        shop_d: {
          shopDomain: "atlas.myshopify.com",
          accessToken: `shpat_${randomBytes(16).toString("hex")}`,
        },
      };
      for (const [id, credentials] of Object.entries(stored)) {
        const ciphertext =
          id === "shop_d"
            ? guideEncryptCredentials(legacy, credentials)
            : encryptLegacy(legacy, JSON.stringify(credentials));
        await app.pool.query(
          `INSERT INTO "PlatformIntegration" ("id", "platform", "displayName", "credentials", "updatedAt")
           VALUES ($1, $2, $3, $4, now())`,
          [id, id.startsWith("amazon") ? "AMAZON" : "SHOPIFY", id, ciphertext],
        );
      }
      const storedCiphertext = async (id: string) =>
        (await app.pool.query(`SELECT "credentials" FROM "PlatformIntegration" WHERE "id" = $1`, [id]))
          .rows[0].credentials as string;
      const expectReadsAll = async (service: ApiService) => {
        const { body } = await getJson<{ platforms: Platform[] }>(`${service.url}/api/platforms`);
        expect(Object.fromEntries(body.platforms.map((p) => [p.id, p.credentials]))).toEqual(stored);
      };
      const baseEnv = {
        DATABASE_URL: app.url,
        ENCRYPTION_KEY: legacy.exposeBase64(),
        KEYOPS_REPORTING: "off",
        KEYOPS_SERVICE_NAME: "api-service",
      };

      // The legacy key alone: version 1.
      const first = await start(baseEnv);
      await expectReadsAll(first);
      const one = await getJson<Platform>(`${first.url}/api/platforms/shop_d`);
      expect(one.body.credentials).toEqual(stored.shop_d);
      stored.shop_a = { shopDomain: "acme.myshopify.com", accessToken: "shpat_written_as_v1" };
      expect(await putJson(`${first.url}/api/platforms/shop_a`, stored.shop_a)).toEqual({
        status: 200,
        body: { id: "shop_a", version: 1 },
      });
      expect(await storedCiphertext("shop_a")).toMatch(/^v1:[0-9a-f]{24}:[0-9a-f]{32}:[0-9a-f]+$/);
      await expectReadsAll(first);
      const health = await getJson<{ status: string; client: Record<string, unknown> }>(
        `${first.url}/healthz`,
      );
      expect(health.body.status).toBe("healthy");
      expect(health.body.client).toMatchObject({
        source: "env",
        encryptsVersion: 1,
        versions: [{ version: 1, fingerprint: legacy.fingerprint }],
        reporting: false,
        problems: [],
      });
      expect((await putJson(`${first.url}/api/platforms/nope`, { a: 1 })).status).toBe(404);
      expect(await stop(first)).toBe(0);

      // ENCRYPTION_KEY_V2 added, ENCRYPTION_KEY_ACTIVE unset, reporting off: the highest version writes.
      const v2 = newTestKey();
      const second = await start({ ...baseEnv, ENCRYPTION_KEY_V2: v2.exposeBase64() });
      await expectReadsAll(second);
      stored.amazon_c = { sellerId: "A1B2C3", refreshToken: "Atzr|written_as_v2" };
      expect(await putJson(`${second.url}/api/platforms/amazon_c`, stored.amazon_c)).toEqual({
        status: 200,
        body: { id: "amazon_c", version: 2 },
      });
      expect(await storedCiphertext("amazon_c")).toMatch(/^v2:/);
      expect(await storedCiphertext("shop_a")).toMatch(/^v1:/);
      expect(await storedCiphertext("shop_b")).toMatch(/^[0-9a-f]{24}:/);
      await expectReadsAll(second);
      const after = await getJson<{ client: Record<string, unknown> }>(`${second.url}/healthz`);
      expect(after.body.client).toMatchObject({
        encryptsVersion: 2,
        versions: [
          { version: 1, fingerprint: legacy.fingerprint },
          { version: 2, fingerprint: v2.fingerprint },
        ],
      });
      expect(await stop(second)).toBe(0);
    } finally {
      await app.drop();
    }
  });
});

describe("SIGTERM", () => {
  it("stops accepting, lets a request in flight finish and commit, then exits 0", async () => {
    const app = await createEmptyDatabase();
    try {
      await app.pool.query(GUIDE_TABLE_SQL);
      const legacy = newTestKey();
      await app.pool.query(
        `INSERT INTO "PlatformIntegration" ("id", "platform", "displayName", "credentials", "updatedAt")
         VALUES ('shop_a', 'SHOPIFY', 'Acme', $1, now())`,
        [encryptLegacy(legacy, JSON.stringify({ accessToken: "shpat_before" }))],
      );
      const service = await start({
        DATABASE_URL: app.url,
        ENCRYPTION_KEY: legacy.exposeBase64(),
        KEYOPS_REPORTING: "off",
      });
      // A PUT whose body is still coming: "100 Continue" proves the service is handling it.
      const body = JSON.stringify({ accessToken: "shpat_during_shutdown" });
      const url = new URL(`${service.url}/api/platforms/shop_a`);
      const request = http.request(url, {
        method: "PUT",
        headers: {
          "content-type": "application/json",
          "content-length": body.length,
          expect: "100-continue",
        },
      });
      const answered = new Promise<{ status: number; text: string }>((resolve, reject) => {
        request.on("response", (response) => {
          let text = "";
          response.setEncoding("utf8");
          response.on("data", (chunk: string) => {
            text += chunk;
          });
          response.on("end", () => resolve({ status: response.statusCode ?? 0, text }));
        });
        request.on("error", reject);
      });
      await new Promise<void>((resolve) => request.on("continue", () => resolve()));
      request.write(body.slice(0, 5));
      const exited = service.stop();
      // It stops accepting: new connections are refused while the PUT is still open.
      await eventually("new connections to be refused", async () => {
        try {
          await fetch(`${service.url}/healthz`, { signal: AbortSignal.timeout(2000) });
          return false;
        } catch {
          return true;
        }
      });
      request.end(body.slice(5));
      const answer = await answered;
      expect(answer.status, answer.text).toBe(200);
      expect(await exited).toBe(0);
      running.delete(service);
      const { rows } = await app.pool.query(`SELECT "credentials" FROM "PlatformIntegration"`);
      expect(rows[0].credentials).toMatch(/^v1:/);
    } finally {
      await app.drop();
    }
  });
});

interface InstanceRow {
  instanceId: string;
  versions: { version: number; fingerprint: string }[];
  encryptsVersion: number | null;
  problems: string[];
  stoppedAt: Date | null;
}

describe("the keyring source", () => {
  it("serves two instances under steady reads and writes while the engine rotates twice: no failed request, no lost write", async () => {
    const database = await createTestDatabase();
    try {
      const { keys, engine } = engineFor(database);
      const legacy = newTestKey();
      await keys.adoptLegacyKey(ENVIRONMENT, legacy);
      await seedPlatformIntegrations(database.db.pool, legacy, { rows: 150 });
      const ids = (
        await database.db.pool.query<{ id: string }>(`SELECT "id" FROM "PlatformIntegration" ORDER BY "id"`)
      ).rows.map((r) => r.id);
      const env = (instance: string) => ({
        DATABASE_URL: database.url,
        KEYOPS_DATABASE_URL: database.url,
        KEYOPS_MASTER_KEY_PRODUCTION: database.masterKey.exposeBase64(),
        KEYOPS_SERVICE_NAME: "api-service",
        KEYOPS_INSTANCE_ID: instance,
        KEYOPS_KEYRING_REFRESH_SECONDS: "1",
        KEYOPS_REPORT_INTERVAL_SECONDS: "1",
      });
      const a = await start(env("api-a"));
      const b = await start(env("api-b"));

      const load = runLoad({ urls: [a.url, b.url], ids, readsPerSecond: 30, writesPerSecond: 10 });
      await sleep(1500);
      const rotations = [];
      for (let i = 0; i < 2; i++) {
        // Slowed down so the load overlaps the re-encryption itself, not only the hand-over.
        rotations.push(await engine.rotate(ENVIRONMENT, { batchSize: 25, maxRowsPerSecond: 150 }));
        await sleep(1000);
      }
      const result = await load.stop();

      expect({ failed: result.failed, failures: result.failures }, `${result.requests} requests`).toEqual({
        failed: 0,
        failures: [],
      });
      expect(result.reads).toBeGreaterThan(50);
      expect(result.acknowledged.size).toBeGreaterThan(10);
      // (The digest changes: the application rewrote credentials meanwhile.)
      expect(rotations.map((r) => ({ to: r.toVersion, status: r.status, failed: r.failed }))).toEqual([
        { to: 2, status: "SUCCEEDED", failed: 0 },
        { to: 3, status: "SUCCEEDED", failed: 0 },
      ]);

      // Every acknowledged write reads back, through both instances.
      for (const service of [a, b]) {
        const { body } = await getJson<{ platforms: Platform[] }>(`${service.url}/api/platforms`);
        const read = new Map(body.platforms.map((p) => [p.id, p.credentials]));
        const lost = [...result.acknowledged].filter(
          ([id, value]) => JSON.stringify(read.get(id)) !== JSON.stringify(value),
        );
        expect(lost.map(([id]) => id)).toEqual([]);
      }
      const verify = await engine.verify(ENVIRONMENT);
      expect(verify.failed).toBe(0);

      // Both instances report holding the newest version, with its fingerprint, and writing it.
      const v3 = (await keys.list(ENVIRONMENT)).find((v) => v.version === 3);
      expect(v3?.state).toBe("ACTIVE");
      const rows = await eventually("both instances to report version 3", async () => {
        const { rows } = await database.db.pool.query<InstanceRow>(
          `SELECT "instanceId", "versions", "encryptsVersion", "problems", "stoppedAt" FROM "ClientInstance"
            WHERE "environment" = $1 ORDER BY "instanceId"`,
          [ENVIRONMENT],
        );
        return rows.length === 2 && rows.every((r) => r.encryptsVersion === 3) ? rows : undefined;
      });
      for (const row of rows) {
        expect(row.versions).toContainEqual({ version: 3, fingerprint: v3?.fingerprint });
        expect(row.problems).toEqual([]);
      }
      expect(rows.map((r) => r.instanceId)).toEqual(["api-a", "api-b"]);
      const failures = await database.db.pool.query(`SELECT * FROM "ClientFailure"`);
      expect(failures.rows).toEqual([]);

      expect(await stop(a)).toBe(0);
      expect(await stop(b)).toBe(0);
      const stopped = await database.db.pool.query<InstanceRow>(
        `SELECT "instanceId", "stoppedAt" FROM "ClientInstance" WHERE "stoppedAt" IS NOT NULL`,
      );
      expect(stopped.rows.map((r) => r.instanceId).sort()).toEqual(["api-a", "api-b"]);
    } finally {
      await database.drop();
    }
  }, 180_000);

  it("with a wrong master key starts, answers 503 on /healthz, counts failed reads and reports the problem", async () => {
    const database = await createTestDatabase();
    try {
      const { keys } = engineFor(database);
      const legacy = newTestKey();
      await keys.adoptLegacyKey(ENVIRONMENT, legacy);
      await seedPlatformIntegrations(database.db.pool, legacy, { rows: 3 });
      const wrong = newTestKey();
      const service = await start({
        DATABASE_URL: database.url,
        KEYOPS_DATABASE_URL: database.url,
        KEYOPS_MASTER_KEY: wrong.exposeBase64(),
        KEYOPS_INSTANCE_ID: "api-wrong-master",
        KEYOPS_REPORT_INTERVAL_SECONDS: "1",
      });
      const health = await getJson<{ status: string; error: string; client: { problems: string[] } }>(
        `${service.url}/healthz`,
        [503],
      );
      expect(health.status).toBe(503);
      expect(health.body.status).toBe("unhealthy");
      expect(health.body.error).toContain("does not unwrap version 1 of production");

      // A read that cannot decrypt is a visible failure, not an empty list.
      const list = await getJson<{ error: string }>(`${service.url}/api/platforms`, [500]);
      expect(list.status).toBe(500);
      expect(list.body.error).toBe("3 of 3 integrations could not be decrypted");
      const counted = await getJson<{ decryptFailures: number }>(`${service.url}/healthz`, [503]);
      expect(counted.body.decryptFailures).toBe(3);

      const row = await eventually("the instance's report naming the problem", async () => {
        const { rows } = await database.db.pool.query<InstanceRow>(
          `SELECT "instanceId", "versions", "encryptsVersion", "problems" FROM "ClientInstance" WHERE "instanceId" = $1`,
          ["api-wrong-master"],
        );
        return rows[0];
      });
      expect(row.encryptsVersion).toBeNull();
      expect(row.versions).toEqual([]);
      expect(row.problems).toEqual([
        "KEYOPS_MASTER_KEY does not unwrap version 1 of production (wrong master key?)",
      ]);
      const failures = await eventually("the failed reads in ClientFailure", async () => {
        const { rows } = await database.db.pool.query<{ reason: string; total: number }>(
          `SELECT "reason", sum("count")::int AS total FROM "ClientFailure" WHERE "instanceId" = $1 GROUP BY "reason"`,
          ["api-wrong-master"],
        );
        // (The three may arrive in one report or in several.)
        return rows.reduce((sum, r) => sum + r.total, 0) >= 3 ? rows : undefined;
      });
      expect(failures).toEqual([{ reason: "unknown-version", total: 3 }]);
      expect(await stop(service)).toBe(0);
    } finally {
      await database.drop();
    }
  }, 60_000);
});
