import { describe, expect, it } from "vitest";
import { runKeyops } from "../support/cli.js";
import { newTestKey, useTestDatabase } from "../support/database.js";

// Issue 9, the key lifecycle through the real CLI: a leaked or once-held key never comes back (#5),
// nothing writes with a compromised, decrypt-only or retired version (#6), visibly non-random
// keys are refused where they enter (#7), out-of-range versions are one line and exit 2 (#19).

const t = useTestDatabase();
const master = newTestKey();
const leaked = newTestKey(); // production's legacy v1, later compromised and retired
const env = (extra: Record<string, string | undefined> = {}) => ({
  DATABASE_URL: t.url,
  KEYOPS_MASTER_KEY: master.exposeBase64(),
  KEYOPS_ENVIRONMENT: "production",
  ENCRYPTION_KEY_PRODUCTION: leaked.exposeBase64(),
  KEYOPS_LOG_LEVEL: "error",
  ...extra,
});
const keyops = (args: string[], extra: Record<string, string | undefined> = {}) =>
  runKeyops(args, env(extra));
const HINT = `generate one with: node -e "console.log(require('crypto').randomBytes(32).toString('base64'))"`;

async function rowsPerVersion(): Promise<Record<string, number>> {
  const { rows } = await t.db.pool.query<{ version: string; n: number }>(
    `SELECT COALESCE(substring("credentials" from '^v([0-9]+):'), 'legacy') AS version, count(*)::int AS n
       FROM "PlatformIntegration" GROUP BY 1 ORDER BY 1`,
  );
  return Object.fromEntries(rows.map((row) => [row.version, row.n]));
}

async function ok(args: string[], extra: Record<string, string | undefined> = {}): Promise<string> {
  const result = await keyops(args, extra);
  expect({ args, code: result.code, stderr: result.stderr }).toEqual({ args, code: 0, stderr: "" });
  return result.stdout;
}

describe("a key once held or compromised never comes back; nothing writes with an old version", () => {
  it("demo seed writes with the active version only: legacy while v1 is active, then v2, never v1 again", async () => {
    await ok(["demo", "seed", "--rows", "20"]);
    expect(await rowsPerVersion()).toEqual({ legacy: 20 });
    await ok(["rotate", "--json"]);
    expect(await rowsPerVersion()).toEqual({ "2": 20 });

    // v1 is decrypt-only now: the seed writes under v2.
    const seeded = JSON.parse(await ok(["demo", "seed", "--rows", "5", "--json"]));
    expect(seeded).toMatchObject({ environment: "production", rows: 5, keyVersion: 2, format: "versioned" });
    expect(await rowsPerVersion()).toEqual({ "2": 25 });

    // v1 compromised: still nothing under v1.
    await ok(["keys", "compromised", "1"]);
    await ok(["demo", "seed", "--rows", "5"]);
    expect(await rowsPerVersion()).toEqual({ "2": 30 });
    const verified = JSON.parse(await ok(["verify", "--json"]));
    expect(verified).toMatchObject({ rows: 30, failed: 0 });
  });

  it("the compromised, then retired, key of production is refused for development, and nothing is adopted", async () => {
    await ok(["keys", "retire", "1"]);
    const result = await keyops(["keys", "status", "--env", "development"], {
      ENCRYPTION_KEY_PRODUCTION: undefined,
      ENCRYPTION_KEY_DEVELOPMENT: leaked.exposeBase64(),
    });
    expect({ code: result.code, stdout: result.stdout, stderr: result.stderr }).toEqual({
      code: 2,
      stdout: "",
      stderr:
        `keyops: the legacy key for development (fingerprint ${leaked.fingerprint}) is refused: ` +
        "it was version 1 of production, which is compromised: a leaked key is never used again\n",
    });
    expect(await t.db.prisma.keyVersion.count({ where: { environment: "development" } })).toBe(0);
    // Production keeps starting with its own (retired) legacy key configured.
    await ok(["keys", "status"]);
  });
});

describe("visibly non-random keys are refused where they enter, never shown", () => {
  const weak: [string, Buffer, string][] = [
    ["all zero", Buffer.alloc(32, 0), "it is one byte repeated"],
    ["one byte repeated", Buffer.alloc(32, 0xa7), "it is one byte repeated"],
    ["a repeated pair", Buffer.from("\u00fe\u0001".repeat(16), "latin1"), "it repeats a 2-byte pattern"],
  ];
  for (const variable of ["KEYOPS_MASTER_KEY", "ENCRYPTION_KEY", "ENCRYPTION_KEY_STAGING"]) {
    it(`${variable}: exit 2 with one line naming why`, async () => {
      for (const [, bytes, why] of weak) {
        const value = bytes.toString("base64");
        const result = await keyops(["keys", "status"], { [variable]: value });
        expect(result.code).toBe(2);
        expect(result.stdout).toBe("");
        const lines = result.stderr.split("\n");
        expect(lines).toHaveLength(2);
        expect(lines[0]).toContain(`${variable} is not a random key (${why}); ${HINT}`);
        expect(result.stderr).not.toContain(value.slice(0, 12));
      }
    });
  }
});

describe("out-of-range key versions: one line, exit 2, nothing changed", () => {
  it("refuses 2147483648 and larger for every keys command", async () => {
    const before = await t.db.prisma.keyVersion.findMany({ orderBy: { id: "asc" } });
    const cases = [
      ["keys", "activate", "2147483648"],
      ["keys", "retire", "v2147483648"],
      ["keys", "compromised", "99999999999999999999"],
      ["keys", "export", "2147483648", "--out", "/nonexistent/never-written"],
      ["keys", "activate", "2147483648", "--json"],
    ];
    for (const args of cases) {
      const result = await keyops(args);
      const message = "the key version (e.g. 2 or v2) must be from 1 to 2147483647";
      expect({ args, code: result.code, stdout: result.stdout, stderr: result.stderr }).toEqual({
        args,
        code: 2,
        stdout: args.includes("--json") ? `${JSON.stringify({ error: message, exitCode: 2 })}\n` : "",
        stderr: `keyops: ${message}\n`,
      });
    }
    expect(await t.db.prisma.keyVersion.findMany({ orderBy: { id: "asc" } })).toEqual(before);
  });

  it("a stored row naming version 2147483648 is a row no version decrypts, not an internal error", async () => {
    const iv = "00".repeat(12);
    const tag = "11".repeat(16);
    await t.db.pool.query(
      `INSERT INTO "PlatformIntegration" ("id", "platform", "displayName", "credentials", "updatedAt")
       VALUES ('huge-version', 'SHOPIFY', 'x', $1, now())`,
      [`v2147483648:${iv}:${tag}:abcd`],
    );
    for (const args of [
      ["keys", "status", "--json"],
      ["verify", "--json"],
      ["rotate", "--no-generate", "--json"],
    ]) {
      const result = await keyops(args);
      expect({ args, code: result.code, stderr: result.stderr }).toMatchObject({
        args,
        code: args[0] === "keys" ? 0 : 1,
        stderr: "",
      });
    }
    await t.db.pool.query(`DELETE FROM "PlatformIntegration" WHERE "id" = 'huge-version'`);
  });
});
