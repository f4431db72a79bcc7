import { existsSync, readFileSync, statSync } from "node:fs";
import { chmod, mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import { dataKeyContext, unwrapKey } from "../../src/crypto/envelope.js";
import { SecretKey } from "../../src/crypto/secret-key.js";
import { type Database, openDatabase } from "../../src/db/database.js";
import { silentLogger } from "../../src/logger.js";
import { freePort } from "../../src/net.js";
import { recordKey } from "../support/artifacts.js";
import { type CliResult, runKeyops } from "../support/cli.js";
import { portIsFree, postmasterPidFile, removeLeftoverServer } from "../support/embedded-leftovers.js";

// The "Done when" smoke: `keyops demo seed --rows 1000 && keyops rotate && keyops verify --json`
// in a fresh directory with no DATABASE_URL and no KEYOPS_MASTER_KEY (the embedded default).

let dir = "";
let db: Database | undefined;
const dataDir = () => path.join(dir, ".data");
const pidFile = () => postmasterPidFile(dataDir());
const WARNING = "KEYOPS_MASTER_KEY is not set: generated a master key for the embedded database";

afterAll(async () => {
  await db?.close();
  if (!dir) return;
  await removeLeftoverServer(dataDir());
  await rm(dir, { recursive: true, force: true });
}, 60_000);

function occurrences(text: string, part: string): number {
  return text.split(part).length - 1;
}

describe("the embedded default (no DATABASE_URL, no KEYOPS_MASTER_KEY)", () => {
  it("runs demo seed --rows 1000, rotate, verify --json; generates the master key once; stops its server", async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "keyops-cli-"));
    await chmod(dir, 0o755);
    const port = await freePort();
    const env = { KEYOPS_EMBEDDED_PG_PORT: String(port) };
    const run = (args: string[]) => runKeyops(args, env, { cwd: dir, timeoutMs: 180_000 });
    const expectStopped = async (after: string) => {
      expect({ after, postmasterPid: existsSync(pidFile()) }).toEqual({ after, postmasterPid: false });
      expect({ after, portFree: await portIsFree(port) }).toEqual({ after, portFree: true });
    };
    const expectOk = (result: CliResult) =>
      expect({ code: result.code, signal: result.signal }).toEqual({ code: 0, signal: null });

    // Bad input is refused before anything is created: no cluster, no generated master key.
    for (const args of [
      ["demo", "seed"],
      ["rotate", "--batch-size", "0"],
      ["keys", "activate", "x"],
      ["nope"],
    ]) {
      const result = await run(args);
      expect({ args, code: result.code }).toEqual({ args, code: 2 });
      expect(result.stderr).toMatch(/^keyops: [^\n]+\n$/);
    }
    expect(existsSync(dataDir())).toBe(false);

    const seeded = await run(["demo", "seed", "--rows", "1000"]);
    expectOk(seeded);
    expect(seeded.stdout).toMatch(
      /^seeded 1000 PlatformIntegration rows for development in the legacy format \(key [0-9a-f]{8}\)\n$/,
    );
    const masterFile = path.join(dataDir(), "master.key");
    const masterText = readFileSync(masterFile, "utf8");
    const master = SecretKey.fromBase64(masterText, "generated master key");
    recordKey(master);
    expect(masterText).toBe(`${master.exposeBase64()}\n`);
    expect(statSync(masterFile).mode & 0o777).toBe(0o600);
    expect(occurrences(seeded.stderr, WARNING)).toBe(1);
    expect(seeded.stderr).toContain(`"fingerprint":"${master.fingerprint}"`);
    expect(seeded.stderr).toContain("master.key");
    await expectStopped("demo seed");

    const rotated = await run(["rotate"]);
    expectOk(rotated);
    expect(rotated.stderr).toBe("");
    const lines = rotated.stdout.split("\n");
    expect(lines[0]).toBe("rotation run #1 of development succeeded");
    expect(lines[1]).toMatch(
      /^ {2}now encrypting with v2 \([0-9a-f]{8}\); "PlatformIntegration"\."credentials": 1000 rows$/,
    );
    expect(lines[2]).toMatch(/^ {2}1000 of 1000 rows re-encrypted /);
    const digest = /^ {2}plaintext digest unchanged: ([0-9a-f]{64})$/.exec(lines[3] ?? "")?.[1];
    expect(digest).toMatch(/^[0-9a-f]{64}$/);
    await expectStopped("rotate");

    const verified = await run(["verify", "--json"]);
    expectOk(verified);
    expect(verified.stderr).toBe("");
    expect(JSON.parse(verified.stdout)).toEqual({
      environment: "development",
      rows: 1000,
      perVersion: { "2": 1000 },
      activeVersion: 2,
      notOnActive: 0,
      failed: 0,
      failedPerVersion: {},
      failedRowIds: [],
      plaintextDigest: digest,
      failedRowIdsLimit: 100,
      targets: [expect.objectContaining({ target: "PlatformIntegration.credentials", rows: 1000 })],
    });
    await expectStopped("verify");
    // Generated once: the later commands used the same file.
    expect(readFileSync(masterFile, "utf8")).toBe(masterText);

    // What the commands left in the embedded database: two versions wrapped under that master key,
    // every row under v2. The data keys are recorded so the secret scan checks the output above for them.
    db = await openDatabase(
      { databaseUrl: undefined, dataDir: dataDir(), embeddedPostgresPort: port },
      silentLogger,
    );
    const versions = await db.prisma.keyVersion.findMany({ orderBy: { version: "asc" } });
    expect(
      versions.map((v) => ({ env: v.environment, version: v.version, state: v.state, legacy: v.legacy })),
    ).toEqual([
      { env: "development", version: 1, state: "DECRYPT_ONLY", legacy: true },
      { env: "development", version: 2, state: "ACTIVE", legacy: false },
    ]);
    for (const v of versions) {
      expect(v.masterFingerprint).toBe(master.fingerprint);
      const key = unwrapKey(master, v.wrappedKey ?? "", dataKeyContext(v.environment, v.version));
      recordKey(key);
      expect(key.fingerprint).toBe(v.fingerprint);
    }
    // The rows are in development's own database on the embedded server, not in KeyOps's.
    const own = await db.pool.query<{ total: number }>(
      `SELECT count(*)::int AS total FROM "PlatformIntegration"`,
    );
    expect(own.rows[0]).toEqual({ total: 0 });
    const url = new URL(db.url);
    url.pathname = "/keyops_development";
    const app = new pg.Client({ connectionString: url.toString() });
    await app.connect();
    const { rows } = await app.query<{ v2: number; total: number }>(
      `SELECT count(*) FILTER (WHERE "credentials" LIKE 'v2:%')::int AS v2, count(*)::int AS total
         FROM "PlatformIntegration"`,
    );
    await app.end();
    expect(rows[0]).toEqual({ v2: 1000, total: 1000 });
    await db.close();
    db = undefined;
    await expectStopped("the test's own look");

    for (const result of [seeded, rotated, verified]) {
      expect(`${result.stdout}${result.stderr}`).not.toContain(master.exposeBase64());
      expect(`${result.stdout}${result.stderr}`.toLowerCase()).not.toContain(
        master.exposeBytes().toString("hex"),
      );
    }
  }, 400_000);
  it("keeps environments apart: staging's rows never reach development's table", async () => {
    const port = await freePort();
    const env = { KEYOPS_EMBEDDED_PG_PORT: String(port) };
    const run = (args: string[]) => runKeyops(args, env, { cwd: dir, timeoutMs: 180_000 });
    const seeded = await run(["demo", "seed", "--rows", "50", "--env", "staging"]);
    expect(seeded.code).toBe(0);
    const staging = JSON.parse((await run(["verify", "--env", "staging", "--json"])).stdout);
    expect(staging).toMatchObject({ environment: "staging", rows: 50, failed: 0 });
    const development = await run(["verify", "--env", "development", "--json"]);
    expect(development.code).toBe(0);
    // Development still holds only its own 1000 rows, all readable.
    expect(JSON.parse(development.stdout)).toMatchObject({
      environment: "development",
      rows: 1000,
      failed: 0,
    });
  }, 240_000);
});
