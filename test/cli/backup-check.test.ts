import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { KeyStore } from "../../src/engine/key-store.js";
import { runKeyops } from "../support/cli.js";
import { createEmptyDatabase, newTestKey, useTestDatabase } from "../support/database.js";
import { testLogger } from "../support/engine.js";

// Issue 11 part 2: `keyops backup check` reads a restored copy of the application's rows (a second
// database on the test server) with the live KeyOps keyring, retired versions within retention
// included, and names the versions the rows need and what KeyOps holds of each.

const t = useTestDatabase();
const master = newTestKey();
const legacy = newTestKey();
const env = () => ({
  DATABASE_URL: t.url,
  KEYOPS_MASTER_KEY: master.exposeBase64(),
  KEYOPS_ENVIRONMENT: "production",
  ENCRYPTION_KEY_PRODUCTION: legacy.exposeBase64(),
  KEYOPS_LOG_LEVEL: "error",
});
const keyops = (args: string[]) => runKeyops(args, env());
let copy: Awaited<ReturnType<typeof createEmptyDatabase>>;
let digestOfV1Era = "";
const ROWS = 30;

async function ok(args: string[]): Promise<string> {
  const result = await keyops(args);
  expect({ args, code: result.code, stderr: result.stderr }).toEqual({ args, code: 0, stderr: "" });
  return result.stdout;
}

/** The live rows as a backup holds them: a copy of the table's ids and ciphertexts, taken now. */
async function takeBackup(): Promise<void> {
  const { rows } = await t.db.pool.query<{ id: string; credentials: string }>(
    `SELECT id, credentials FROM "PlatformIntegration" ORDER BY id`,
  );
  await copy.pool.query(`DROP TABLE IF EXISTS "PlatformIntegration"`);
  await copy.pool.query(
    `CREATE TABLE "PlatformIntegration" (id text PRIMARY KEY, credentials text NOT NULL)`,
  );
  await copy.pool.query(`INSERT INTO "PlatformIntegration" SELECT * FROM unnest($1::text[], $2::text[])`, [
    rows.map((r) => r.id),
    rows.map((r) => r.credentials),
  ]);
}

beforeAll(async () => {
  copy = await createEmptyDatabase();
  await ok(["demo", "seed", "--rows", String(ROWS)]);
  digestOfV1Era = JSON.parse(await ok(["verify", "--json"])).plaintextDigest;
  await takeBackup(); // the backup of v1's era: every row in the guide's legacy format
  await ok(["rotate", "--json"]);
  await ok(["keys", "retire", "1"]);
});

afterAll(async () => {
  await copy?.drop();
});

describe("keyops backup check", () => {
  it("rows under a retired version within retention decrypt: exit 0, the version named, the digest of its era", async () => {
    const password = new URL(copy.url).password;
    const out = await ok(["backup", "check", "--database-url", copy.url]);
    const lines = out.trim().split("\n");
    expect(lines[0]).toMatch(/^production backup check of postgresql:\/\/.+: 30 rows, all decrypt$/);
    expect(out).toMatch(/v1 \(retired, held until \d{4}-\d{2}-\d{2}, fingerprint [0-9a-f]{8}\): 30 rows/);
    expect(out).toContain(`plaintext digest: ${digestOfV1Era}`);
    expect(out).toMatch(
      /30 rows are under v1, which KeyOps holds for this check but the live keyring does not decrypt/,
    );
    if (password) {
      expect(out).not.toContain(password);
      expect(out).toContain(":***@");
    }

    const json = JSON.parse(await ok(["backup", "check", "--database-url", copy.url, "--json"]));
    expect(json).toMatchObject({
      environment: "production",
      rows: ROWS,
      failed: 0,
      plaintextDigest: digestOfV1Era,
      rowsLiveCannotRead: ROWS,
      versions: [
        {
          version: 1,
          rows: ROWS,
          failed: 0,
          state: "retired-within-retention",
          held: true,
          liveDecrypts: false,
        },
      ],
    });
    if (password) expect(JSON.stringify(json)).not.toContain(password);

    // The check made v1 usable for nothing else: the live keyring still does not decrypt it.
    const status = JSON.parse(await ok(["keys", "status", "--json"]));
    expect(status.versions.map((v: { version: number; state: string }) => [v.version, v.state])).toEqual([
      [1, "RETIRED"],
      [2, "ACTIVE"],
    ]);
  });

  it("rows under a version KeyOps never had: exit 1, how many under which version, the first row ids", async () => {
    await copy.pool.query(
      `INSERT INTO "PlatformIntegration" VALUES ('zz-foreign-1', 'v9:000000000000000000000000:00000000000000000000000000000000:00'),
                                              ('zz-foreign-2', 'v9:000000000000000000000000:00000000000000000000000000000000:00')`,
    );
    try {
      const result = await keyops(["backup", "check", "--database-url", copy.url]);
      expect(result.code, result.stderr).toBe(1);
      expect(result.stdout).toMatch(/: 32 rows, 2 CANNOT be read \(v9: 2\)$/m);
      expect(result.stdout).toMatch(/v9 \(unknown to KeyOps\): 2 rows, 2 do not decrypt/);
      expect(result.stdout).toMatch(/first rows that cannot be read: zz-foreign-1, zz-foreign-2$/m);
    } finally {
      await copy.pool.query(`DELETE FROM "PlatformIntegration" WHERE id LIKE 'zz-foreign-%'`);
    }
  });

  it("an environment without a live database still has the guide's table to look for: staging holds no key of these rows", async () => {
    const result = await keyops(["backup", "check", "--env", "staging", "--database-url", copy.url]);
    expect(result.code, result.stderr).toBe(1);
    expect(result.stdout).toMatch(/^staging backup check of .+: 30 rows, 30 CANNOT be read \(legacy: 30\)$/m);
    expect(result.stdout).toMatch(/legacy \(unknown to KeyOps\): 30 rows, 30 do not decrypt/);
  });

  it("bad input and an unreachable copy: one line each, exit 2 and 75, never the password", async () => {
    const notUrl = await keyops(["backup", "check", "--database-url", "hunter2-not-a-url"]);
    expect({ code: notUrl.code, stdout: notUrl.stdout, stderr: notUrl.stderr }).toEqual({
      code: 2,
      stdout: "",
      stderr:
        "keyops: --database-url must be a postgresql:// connection string (postgresql://user@host/database)\n",
    });
    const missing = await keyops(["backup", "check"]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toBe(
      "keyops: --database-url URL is required (a postgresql:// connection string)\n",
    );

    const refused = await keyops([
      "backup",
      "check",
      "--database-url",
      "postgresql://keyops:s3cret-pw@127.0.0.1:1/restored",
    ]);
    expect(refused.code).toBe(75);
    expect(refused.stdout).toBe("");
    expect(refused.stderr.trim().split("\n")).toHaveLength(1);
    expect(refused.stderr).toMatch(
      /^keyops: cannot reach the restored copy at postgresql:\/\/keyops:\*\*\*@127\.0\.0\.1:1\/restored \(.*ECONNREFUSED.*\); check the URL and that it is up\n$/,
    );
    expect(refused.stderr).not.toContain("s3cret-pw");

    const noDatabase = new URL(copy.url);
    noDatabase.pathname = "/keyops_no_such_restore";
    const absent = await keyops(["backup", "check", "--database-url", noDatabase.toString(), "--json"]);
    expect(absent.code).toBe(75);
    expect(absent.stderr.trim().split("\n")).toHaveLength(1);
    expect(absent.stderr).toMatch(
      /^keyops: cannot reach the restored copy at .*keyops_no_such_restore \(.*does not exist.*\)/,
    );
    expect(JSON.parse(absent.stdout)).toMatchObject({ exitCode: 75 });
    const password = noDatabase.password;
    if (password) expect(absent.stderr + absent.stdout).not.toContain(password);
  });

  it("rows under a destroyed version: exit 1, the version named destroyed", async () => {
    // Retention measured by a clock a year and a day ahead; two approvers (the workflow's rule).
    const later = new KeyStore(t.db.prisma, master, testLogger, {
      now: () => new Date(Date.now() + 366 * 86_400_000),
    });
    await later.destroy("production", 1, { approvedBy: ["UAPPROVER1", "UAPPROVER2"] });
    const result = await keyops(["backup", "check", "--database-url", copy.url, "--json"]);
    expect(result.code, result.stderr).toBe(1);
    const json = JSON.parse(result.stdout);
    expect(json).toMatchObject({
      rows: ROWS,
      failed: ROWS,
      failedPerVersion: { "1": ROWS },
      versions: [{ version: 1, rows: ROWS, failed: ROWS, state: "destroyed", held: false }],
    });
    expect(json.failedRowIds).toHaveLength(ROWS);
    const human = await keyops(["backup", "check", "--database-url", copy.url]);
    expect(human.code).toBe(1);
    expect(human.stdout).toMatch(/30 rows, 30 CANNOT be read \(v1: 30\)/);
    expect(human.stdout).toMatch(
      /v1 \(destroyed: its key was erased, fingerprint [0-9a-f]{8}\): 30 rows, 30 do not decrypt/,
    );
    expect(human.stdout).toMatch(/first rows that cannot be read: (\S+, ){9}\S+ and 20 more$/m);
  });
});
