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

  it("refuses a lost version's key when it turns up as another environment's (by its fingerprint)", async () => {
    const keys = await reset();
    const lostKey = newTestKey();
    await keys.adoptLegacyKey("production", lostKey);
    await keys.generate("production");
    await keys.activate("production", 2);
    // v1's wrapped copy damaged (v2's in its place): KeyOps holds no usable copy, so it is marked lost.
    const v2Row = await t.db.prisma.keyVersion.findUniqueOrThrow({
      where: { environment_version: { environment: "production", version: 2 } },
    });
    await t.db.prisma.keyVersion.update({
      where: { environment_version: { environment: "production", version: 1 } },
      data: { wrappedKey: v2Row.wrappedKey },
    });
    await keys.markLost("production", 1);
    await expect(keys.adoptLegacyKey("staging", lostKey)).rejects.toThrow(
      `the legacy key for staging (fingerprint ${lostKey.fingerprint}) is refused: its fingerprint is that of ` +
        "version 1 of production, whose key KeyOps lost: bring it back with keyops keys import, never as another environment's key",
    );
    expect(await keys.list("staging")).toEqual([]);
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

describe("retention of retired keys and destroying them", () => {
  const DAY = 86_400_000;
  /** A key store whose clock the test moves (never waits). */
  async function withClock(retiredKeyRetentionDays?: number) {
    await reset();
    let now = new Date("2026-12-03T10:00:00Z");
    const keys = new KeyStore(t.db.prisma, t.masterKey, testLogger, {
      now: () => now,
      ...(retiredKeyRetentionDays ? { retiredKeyRetentionDays } : {}),
    });
    const legacy = newTestKey();
    await keys.adoptLegacyKey("production", legacy);
    await keys.generate("production");
    await keys.activate("production", 2);
    await keys.retire("production", 1);
    return {
      keys,
      legacy,
      move: (days: number) => {
        now = new Date(now.getTime() + days * DAY);
      },
    };
  }
  const TWO = { approvedBy: ["UAPPROVER1", "UAPPROVER2"] };

  it("a retired version keeps its key for a year: the backup keyring decrypts it, nothing encrypts, the live keyring leaves it out", async () => {
    const { keys } = await withClock();
    const backup = await keys.loadBackupKeyring("production");
    expect(backup.canDecrypt(1)).toBe(true);
    expect(backup.canDecrypt(2)).toBe(true);
    expect(backup.activeVersion).toBeNull();
    expect(backup.legacyVersion).toBe(1);
    expect(() => backup.encrypt("x")).toThrow(/no active key version/);
    expect((await keys.loadKeyring("production")).canDecrypt(1)).toBe(false);
    const v1 = await keys.get("production", 1);
    expect(keys.retentionEndsAt(v1)?.toISOString()).toBe("2027-12-03T10:00:00.000Z");
    expect(keys.retentionEndsAt(await keys.get("production", 2))).toBeUndefined();
  });

  it("destroy is refused during retention (naming the date it ends) and with fewer than two approvers; allowed after", async () => {
    const { keys, move } = await withClock();
    move(364);
    await expect(keys.destroy("production", 1, TWO)).rejects.toThrow(
      "version 1 of production is retained until 2027-12-03 (365 days from its retirement, " +
        "KEYOPS_RETIRED_KEY_RETENTION_DAYS), so that backups of its era can still be read; it cannot be destroyed before then",
    );
    move(1);
    await expect(keys.destroy("production", 1, { approvedBy: ["UAPPROVER1"] })).rejects.toThrow(
      /needs the approval of two different people/,
    );
    await expect(keys.destroy("production", 1, { approvedBy: ["UAPPROVER1", "UAPPROVER1"] })).rejects.toThrow(
      /two different people/,
    );
    await expect(keys.destroy("production", 2, TWO)).rejects.toThrow(
      /version 2 of production is active: only a retired version can be destroyed/,
    );

    const recorded: number[] = [];
    const destroyed = await keys.destroy("production", 1, {
      ...TWO,
      record: async (tx, info) => {
        recorded.push(info.version);
        // In the transaction that erases it: the row is already DESTROYED there.
        expect(
          (await tx.keyVersion.findFirstOrThrow({ where: { environment: "production", version: 1 } })).state,
        ).toBe("DESTROYED");
      },
    });
    expect(recorded).toEqual([1]);
    expect(destroyed).toMatchObject({ version: 1, state: "DESTROYED", destroyedBy: "UAPPROVER1,UAPPROVER2" });
    expect(destroyed.destroyedAt?.toISOString()).toBe("2027-12-03T10:00:00.000Z");
    const row = await t.db.prisma.keyVersion.findFirstOrThrow({
      where: { environment: "production", version: 1 },
    });
    expect(row.wrappedKey).toBeNull();
    expect(row.fingerprint).toMatch(/^[0-9a-f]{8}$/);

    // Gone for every purpose.
    expect((await keys.loadBackupKeyring("production")).canDecrypt(1)).toBe(false);
    await expect(keys.exportKey("production", 1)).rejects.toThrow(/destroyed and is not exported/);
    await expect(keys.activate("production", 1)).rejects.toThrow(/destroyed and cannot be activated/);
    await expect(keys.destroy("production", 1, TWO)).rejects.toThrow(/already destroyed/);
    await expect(keys.retire("production", 1)).rejects.toThrow(/already destroyed/);
  });

  it("a failed audit write keeps the key: the erasure and its record commit together", async () => {
    const { keys, move } = await withClock();
    move(400);
    await expect(
      keys.destroy("production", 1, {
        ...TWO,
        record: async () => {
          throw new Error("audit log unavailable");
        },
      }),
    ).rejects.toThrow(/audit log unavailable/);
    expect((await keys.get("production", 1)).state).toBe("RETIRED");
    expect((await keys.loadBackupKeyring("production")).canDecrypt(1)).toBe(true);
  });

  it("the retention period is configurable; a destroyed key is refused if it comes back (by its fingerprint)", async () => {
    const { keys, legacy, move } = await withClock(30);
    move(29);
    await expect(keys.destroy("production", 1, TWO)).rejects.toThrow(/retained until 2027-01-02 \(30 days/);
    move(1);
    await keys.destroy("production", 1, TWO);
    await expect(keys.adoptLegacyKey("staging", legacy)).rejects.toThrow(
      /whose key was destroyed: a destroyed key is never used again/,
    );
    // Not lost: never imported back, never marked lost, never listed as lost.
    await expect(keys.importKey("production", 1, legacy)).rejects.toThrow(/destroyed .* never taken back/);
    await expect(keys.markLost("production", 1)).rejects.toThrow(/destroyed: nothing is under it/);
    expect(await keys.lostVersions("production")).toEqual([]);
    // Its own environment keeps starting with the destroyed legacy key still configured.
    expect(await keys.adoptLegacyKey("production", legacy)).toBeUndefined();
    expect(await keys.list("staging")).toEqual([]);
  });
});
