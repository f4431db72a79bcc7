import { describe, expect, it } from "vitest";
import { seedPlatformIntegrations } from "../../src/demo/seed.js";
import { rowsUnderVersion } from "../../src/engine/lost-rows.js";
import { PLATFORM_CREDENTIALS, resolveTarget } from "../../src/engine/target.js";
import { newTestKey, useTestDatabase } from "../support/database.js";
import { engineFor } from "../support/engine.js";

// What "lost" means to the engine: a version whose wrapped copy KeyOps cannot unwrap (gone, or
// not this version's), told apart without decrypting anything; marked LOST it drops the copy and
// its rows fail closed; only its own key takes it back.

const t = useTestDatabase();

describe("a key version lost to KeyOps", () => {
  it("is found by its wrapped copy, its rows counted by prefix, marked lost and taken back by its own key only", async () => {
    const { keys, engine } = engineFor(t);
    const legacy = newTestKey();
    await keys.adoptLegacyKey("production", legacy);
    await seedPlatformIntegrations(t.db.pool, legacy, { rows: 8 });
    const v2 = await engine.generate("production");
    await engine.activate("production", v2.version);
    const keyring = await keys.loadKeyring("production");
    const { rows: moved } = await t.db.pool.query<{ id: string }>(
      `SELECT "id" FROM "PlatformIntegration" ORDER BY "id" LIMIT 3`,
    );
    for (const { id } of moved) {
      await t.db.pool.query(`UPDATE "PlatformIntegration" SET "credentials" = $1 WHERE "id" = $2`, [
        keyring.encrypt(JSON.stringify({ accessToken: `token-${id}` })),
        id,
      ]);
    }
    const { key: v2Key } = await keys.exportKey("production", 2);
    expect(await engine.lostVersions("production")).toEqual([]);

    // v2's wrapped copy replaced by v1's: it unwraps under no version's context but v1's.
    const v1Row = await t.db.prisma.keyVersion.findUniqueOrThrow({
      where: { environment_version: { environment: "production", version: 1 } },
    });
    await t.db.prisma.keyVersion.update({
      where: { environment_version: { environment: "production", version: 2 } },
      data: { wrappedKey: v1Row.wrappedKey },
    });
    expect((await engine.lostVersions("production")).map((v) => [v.version, v.state])).toEqual([
      [2, "ACTIVE"],
    ]);
    await expect(keys.loadKeyring("production")).rejects.toThrow();

    expect(await engine.countRowsUnder("production", 2)).toEqual([
      { target: "PlatformIntegration.credentials", rows: 3 },
    ]);
    // The legacy version's rows are the unversioned ones.
    expect(await engine.countRowsUnder("production", 1)).toEqual([
      { target: "PlatformIntegration.credentials", rows: 5 },
    ]);
    // Read in keyset chunks: two rows a statement here.
    const target = await resolveTarget(t.db.pool, PLATFORM_CREDENTIALS);
    const chunks: string[][] = [];
    for await (const chunk of rowsUnderVersion(t.db.pool, target, 2, false, 2))
      chunks.push(chunk.map((r) => r.rowId));
    expect(chunks.flat()).toEqual(moved.map((r) => r.id));
    const legacyChunks: number[] = [];
    for await (const chunk of rowsUnderVersion(t.db.pool, target, 1, true, 2))
      legacyChunks.push(chunk.length);
    expect(legacyChunks.reduce((a, b) => a + b, 0)).toBe(5);
    const platforms = await engine.integrationsPerPlatformUnder("production", 2);
    expect(platforms.reduce((sum, p) => sum + p.count, 0)).toBe(3);

    await expect(engine.markLost("production", 1)).rejects.toThrow(
      "version 1 of production is not lost: KeyOps holds its key (keyops keys export 1)",
    );
    const lost = await engine.markLost("production", 2);
    expect(lost).toMatchObject({ state: "LOST", lostAt: expect.any(Date) });
    expect(await engine.markLost("production", 2)).toMatchObject({ state: "LOST" }); // again: unchanged
    const row = await t.db.prisma.keyVersion.findUniqueOrThrow({
      where: { environment_version: { environment: "production", version: 2 } },
    });
    expect(row.wrappedKey).toBeNull();
    // Fail closed: its rows do not decrypt, the others do; nothing encrypts.
    const verified = await engine.verify("production");
    expect({ rows: verified.rows, failed: verified.failed }).toEqual({ rows: 8, failed: 3 });
    await expect(keys.exportKey("production", 2)).rejects.toThrow(/lost and is not exported/);
    await expect(keys.activate("production", 2)).rejects.toThrow(/lost and cannot be activated/);

    await expect(engine.importKey("production", 2, newTestKey())).rejects.toThrow(
      /^that key is not version 2 of production \(fingerprint [0-9a-f]{8}, expected [0-9a-f]{8}\); nothing was changed$/,
    );
    await expect(engine.importKey("production", 2, legacy)).rejects.toThrow(/that key is not version 2/);
    const back = await engine.importKey("production", 2, v2Key);
    // No other version is active, so it encrypts again.
    expect(back).toMatchObject({ version: 2, state: "ACTIVE", fingerprint: v2.fingerprint });
    expect(await engine.lostVersions("production")).toEqual([]);
    const recorded = await engine.recordReauth("production", 2);
    expect(recorded.targets).toEqual([{ target: "PlatformIntegration.credentials", rows: 3 }]);
    expect(recorded.platforms.reduce((sum, p) => sum + p.count, 0)).toBe(3);
    expect(
      (await engine.reauthRows("production")).rows.map((r) => [r.version, r.rowId, r.workflowId]),
    ).toEqual(moved.map((r) => [2, r.id, null]));
    const after = await engine.verify("production");
    expect({ rows: after.rows, failed: after.failed }).toEqual({ rows: 8, failed: 0 });
    await expect(engine.importKey("production", 2, v2Key)).rejects.toThrow(
      /is not lost: KeyOps holds its key/,
    );
  });
});
