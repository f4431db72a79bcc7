import { describe, expect, it } from "vitest";
import { RotationEngine } from "../../src/engine/engine.js";
import { KeyStore } from "../../src/engine/key-store.js";
import { NotFoundError, RefusedError, UserError } from "../../src/errors.js";
import { newTestKey, useTestDatabase } from "../support/database.js";
import { testLogger } from "../support/engine.js";

const t = useTestDatabase();

async function reset() {
  await t.db.pool.query(`TRUNCATE "KeyVersion" RESTART IDENTITY`);
  return new KeyStore(t.db.prisma, t.masterKey, testLogger);
}

describe("key store", () => {
  it("walks a version through pending, active, decrypt-only, compromised and retired", async () => {
    const keys = await reset();
    const legacy = newTestKey();
    const adopted = await keys.adoptLegacyKey("production", legacy);
    expect(adopted).toMatchObject({
      version: 1,
      state: "ACTIVE",
      legacy: true,
      fingerprint: legacy.fingerprint,
    });
    // Adoption happens once: a second call changes nothing.
    expect(await keys.adoptLegacyKey("production", legacy)).toBeUndefined();

    const v2 = await keys.generate("production");
    expect(v2).toMatchObject({ version: 2, state: "PENDING", legacy: false });
    expect(v2.fingerprint).toMatch(/^[0-9a-f]{8}$/);
    const { activated, previous } = await keys.activate("production", 2);
    expect(activated.state).toBe("ACTIVE");
    expect(previous).toMatchObject({ version: 1, state: "DECRYPT_ONLY" });

    await keys.markCompromised("production", 1);
    const keyring = await keys.loadKeyring("production");
    expect(keyring.activeVersion).toBe(2);
    expect(keyring.canDecrypt(1)).toBe(true); // still decrypts, so its rows can be rotated away
    await expect(keys.activate("production", 1)).rejects.toThrow(/compromised and cannot be activated/);

    await keys.retire("production", 1);
    expect((await keys.loadKeyring("production")).canDecrypt(1)).toBe(false);
    await expect(keys.retire("production", 1)).rejects.toBeInstanceOf(RefusedError);
    await expect(keys.activate("production", 7)).rejects.toBeInstanceOf(NotFoundError);
    expect((await keys.list("production")).map((v) => [v.version, v.state])).toEqual([
      [1, "RETIRED"],
      [2, "ACTIVE"],
    ]);
  });

  it("refuses the same key for two environments", async () => {
    const keys = await reset();
    const shared = newTestKey();
    await keys.adoptLegacyKey("staging", shared);
    await expect(keys.bootstrap({ production: shared })).rejects.toThrow(
      /already a key of staging: use a separate key per environment/,
    );
    expect(await keys.list("production")).toEqual([]);
  });

  it("refuses a key another environment ever held, retired included (issue 9 #5)", async () => {
    const keys = await reset();
    const retiredKey = newTestKey();
    await keys.adoptLegacyKey("production", retiredKey);
    await keys.generate("production");
    await keys.activate("production", 2);
    await keys.retire("production", 1); // retired, never compromised
    await expect(keys.adoptLegacyKey("staging", retiredKey)).rejects.toThrow(
      `the legacy key for staging (fingerprint ${retiredKey.fingerprint}) is refused: it is already a key of production: ` +
        "use a separate key per environment (version 1 of production, retired)",
    );
    expect(await keys.list("staging")).toEqual([]);
    // Production itself keeps starting with its retired legacy key configured: nothing is adopted again.
    await keys.bootstrap({ production: retiredKey });
    expect((await keys.list("production")).map((v) => v.state)).toEqual(["RETIRED", "ACTIVE"]);
  });

  it("refuses to start with a master key that did not wrap the keyring", async () => {
    const keys = await reset();
    await keys.generate("development");
    const other = new KeyStore(t.db.prisma, newTestKey(), testLogger);
    const refusal = other.bootstrap({});
    await expect(refusal).rejects.toBeInstanceOf(UserError);
    await expect(refusal).rejects.toThrow(
      /KEYOPS_MASTER_KEY \(fingerprint [0-9a-f]{8}\) is not the master key/,
    );
  });

  it("stores data keys only wrapped: no key's bytes appear in the table in any encoding", async () => {
    const keys = await reset();
    const legacy = newTestKey();
    await keys.adoptLegacyKey("development", legacy);
    await keys.generate("development");
    const keyring = await keys.loadKeyring("development");
    const { rows } = await t.db.pool.query(`SELECT * FROM "KeyVersion"`);
    const dump = JSON.stringify(rows).toLowerCase();
    for (const { key } of keyring.versions) {
      const bytes = key.exposeBytes();
      expect(dump).not.toContain(bytes.toString("hex"));
      expect(JSON.stringify(rows)).not.toContain(bytes.toString("base64"));
    }
    expect(dump).not.toContain(t.masterKey.exposeBytes().toString("hex"));
  });

  it("gives two concurrent generates distinct version numbers", async () => {
    const keys = await reset();
    const made = await Promise.all([
      keys.generate("staging"),
      keys.generate("staging"),
      keys.generate("staging"),
    ]);
    expect(made.map((v) => v.version).sort()).toEqual([1, 2, 3]);
  });

  it("health check: healthy with an active version, unhealthy (with a reason, no key) without one", async () => {
    const keys = await reset();
    const engine = new RotationEngine(t.db, keys, testLogger);
    expect(await engine.healthCheckEncryption("staging")).toEqual({
      status: "unhealthy",
      error: "no active key version for staging",
    });
    await keys.adoptLegacyKey("staging", newTestKey());
    expect(await engine.healthCheckEncryption("staging")).toEqual({ status: "healthy" });
  });
});
