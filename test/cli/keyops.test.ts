import { describe, expect, it } from "vitest";
import { runKeyops } from "../support/cli.js";
import { newTestKey, useTestDatabase } from "../support/database.js";

const t = useTestDatabase();
const legacy = newTestKey();
const master = newTestKey();
const env = () => ({
  DATABASE_URL: t.url,
  KEYOPS_MASTER_KEY: master.exposeBase64(),
  ENCRYPTION_KEY: legacy.exposeBase64(),
});

function expectOneLineError(
  result: { code: number | null; stdout: string; stderr: string },
  code: number,
  pattern: RegExp,
) {
  expect(result.code).toBe(code);
  expect(result.stdout).toBe("");
  const lines = result.stderr.trim().split("\n");
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(/^keyops: /);
  expect(lines[0]).toMatch(pattern);
  expect(result.stderr).not.toMatch(/\n\s+at /);
}

describe("keyops CLI on a database", () => {
  it("seeds, reports, rotates with proof, verifies and retires", async () => {
    const seeded = await runKeyops(["demo", "seed", "--rows", "300", "--json"], env());
    expect(seeded.code).toBe(0);
    expect(JSON.parse(seeded.stdout)).toMatchObject({
      rows: 300,
      format: "legacy",
      keyFingerprint: legacy.fingerprint,
    });

    const status = JSON.parse((await runKeyops(["keys", "status", "--json"], env())).stdout);
    expect(status.versions).toMatchObject([{ version: 1, state: "ACTIVE", legacy: true, rows: 300 }]);

    const before = JSON.parse((await runKeyops(["verify", "--json"], env())).stdout);
    expect(before).toMatchObject({ rows: 300, failed: 0, perVersion: { "1": 300 } });
    expect(before.plaintextDigest).toMatch(/^[0-9a-f]{64}$/);

    const rotated = await runKeyops(["rotate", "--json", "--batch-size", "50"], env());
    expect(rotated.code).toBe(0);
    expect(JSON.parse(rotated.stdout)).toMatchObject({
      status: "SUCCEEDED",
      toVersion: 2,
      reencrypted: 300,
      digestUnchanged: true,
      digestBefore: before.plaintextDigest,
    });

    const after = JSON.parse((await runKeyops(["verify", "--json"], env())).stdout);
    expect(after).toMatchObject({ rows: 300, failed: 0, perVersion: { "2": 300 } });
    expect(after.plaintextDigest).toBe(before.plaintextDigest);

    const human = await runKeyops(["keys", "status"], env());
    expect(human.stdout).toMatch(/v1 +decrypt-only +[0-9a-f]{8} +0 rows +\(legacy\)/);
    expect(human.stdout).toMatch(/v2 +active +[0-9a-f]{8} +300 rows +\(encrypts\)/);

    expectOneLineError(
      await runKeyops(["keys", "retire", "2"], env()),
      4,
      /version 2 of development is active/,
    );
    const retired = await runKeyops(["keys", "retire", "1"], env());
    expect(retired.code).toBe(0);
    expect(retired.stdout).toMatch(/^retired v1 of development \([0-9a-f]{8}\)\n$/);

    const generated = await runKeyops(["keys", "generate"], env());
    expect(generated.code).toBe(0);
    expect(generated.stdout).toMatch(/generated v3 of development \(pending\), fingerprint [0-9a-f]{8}/);
    for (const output of [seeded, rotated, human, generated]) {
      for (const key of [legacy, master]) {
        expect(output.stdout).not.toContain(key.exposeBase64());
        expect(output.stdout.toLowerCase()).not.toContain(key.exposeBytes().toString("hex"));
      }
    }
  });

  it("answers bad input with one line and a non-zero exit, changing nothing", async () => {
    const runs = await t.db.prisma.rotationRun.count();
    expectOneLineError(
      await runKeyops(["keys", "frobnicate"], env()),
      2,
      /unknown command "keys frobnicate"/,
    );
    expectOneLineError(await runKeyops(["rotate", "--bogus"], env()), 2, /unknown option --bogus/);
    expectOneLineError(await runKeyops(["verify", "--env", "prod"], env()), 2, /unknown environment "prod"/);
    expectOneLineError(await runKeyops(["keys", "activate", "abc"], env()), 2, /key version/);
    expectOneLineError(
      await runKeyops(["keys", "activate", "99"], env()),
      2,
      /development has no key version 99/,
    );
    expectOneLineError(await runKeyops(["demo", "seed"], env()), 2, /--rows must be a positive integer/);
    expectOneLineError(await runKeyops(["rotate", "--batch-size", "0"], env()), 2, /--batch-size must be/);
    expectOneLineError(await runKeyops(["keys", "retire"], env()), 2, /wrong number of arguments/);
    expect(await t.db.prisma.rotationRun.count()).toBe(runs);
  });

  it("refuses bad configuration by name, never echoing a value", async () => {
    const noMaster = await runKeyops(["keys", "status"], { DATABASE_URL: t.url });
    expectOneLineError(noMaster, 2, /KEYOPS_MASTER_KEY is required when DATABASE_URL is set/);

    const shortKey = "c2hvcnQ=";
    const malformed = await runKeyops(["keys", "status"], {
      DATABASE_URL: t.url,
      KEYOPS_MASTER_KEY: shortKey,
    });
    expectOneLineError(malformed, 2, /KEYOPS_MASTER_KEY must decode to 32 bytes/);
    expect(malformed.stderr).not.toContain(shortKey);

    const example = "k7Jm9XpL4zR2vN8qYwE5uT3hS6gF1aD0bC4xM7oP2nA=";
    const guideKey = await runKeyops(["keys", "status"], { ...env(), ENCRYPTION_KEY: example });
    expectOneLineError(guideKey, 2, /ENCRYPTION_KEY is the example key printed in the key management guide/);
    expect(guideKey.stderr).not.toContain(example);

    const wrongMaster = await runKeyops(["keys", "status"], {
      ...env(),
      KEYOPS_MASTER_KEY: newTestKey().exposeBase64(),
    });
    expectOneLineError(wrongMaster, 2, /is not the master key of this keyring/);
  });
});
