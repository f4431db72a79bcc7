import { createDecipheriv, createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { dataKeyContext, unwrapKey } from "../../src/crypto/envelope.js";
import type { SecretKey } from "../../src/crypto/secret-key.js";
import { freePort } from "../../src/net.js";
import { recordKey } from "../support/artifacts.js";
import { type CliResult, inParallel, runKeyops } from "../support/cli.js";
import { newTestKey, useTestDatabase } from "../support/database.js";

// The CLI as a user runs it: `node bin/keyops.mjs ...` as a child process against a fresh database,
// with the master key and the guide's legacy ENCRYPTION_KEY of development set in its environment.

const t = useTestDatabase();
const master = newTestKey();
const legacy = newTestKey();
const env = (extra: Record<string, string | undefined> = {}) => ({
  DATABASE_URL: t.url,
  KEYOPS_MASTER_KEY: master.exposeBase64(),
  ENCRYPTION_KEY: legacy.exposeBase64(),
  ...extra,
});
const GUIDE_EXAMPLE_KEY = "k7Jm9XpL4zR2vN8qYwE5uT3hS6gF1aD0bC4xM7oP2nA=";
const TARGET = '"PlatformIntegration"."credentials"';

/** Every command this file ran: at the end none of their outputs may hold any key. */
const outputs: { args: string[]; result: CliResult }[] = [];

async function keyops(args: string[], extra: Record<string, string | undefined> = {}) {
  const result = await runKeyops(args, env(extra));
  outputs.push({ args, result });
  return result;
}

/** A successful command: exit 0, nothing on stderr, and the text it printed. */
function ok(result: CliResult): string {
  expect({ code: result.code, stderr: result.stderr }).toEqual({ code: 0, stderr: "" });
  return result.stdout;
}

/** A successful --json command: stdout is exactly one JSON object (a second value would not parse). */
function json<T extends object = Record<string, unknown>>(result: CliResult): T {
  const stdout = ok(result);
  expect(stdout.endsWith("}\n")).toBe(true);
  const value: unknown = JSON.parse(stdout);
  expect(typeof value).toBe("object");
  expect(Array.isArray(value)).toBe(false);
  expect(value).not.toBeNull();
  return value as T;
}

type KeyStatusJson = Record<string, unknown> & { versions: ({ state: string } & Record<string, unknown>)[] };

/** Refused input: the exact one-line message on stderr, nothing on stdout, no stack trace. */
function refused(result: CliResult, code: number, message: string): void {
  expect({ code: result.code, stdout: result.stdout, stderr: result.stderr }).toEqual({
    code,
    stdout: "",
    stderr: `keyops: ${message}\n`,
  });
  expect(result.stderr).not.toMatch(/^\s*at /m);
}

/** Like `refused`, for messages checked by pattern (they carry a hint that may change wording). */
function refusedMatching(result: CliResult, code: number, pattern: RegExp): string {
  expect(result.code).toBe(code);
  expect(result.stdout).toBe("");
  const lines = result.stderr.split("\n");
  expect(lines).toHaveLength(2); // one line and its newline
  expect(lines[1]).toBe("");
  expect(lines[0]).toMatch(/^keyops: /);
  expect(lines[0]).toMatch(pattern);
  expect(result.stderr).not.toMatch(/^\s*at /m);
  return lines[0] as string;
}

async function storedRows(): Promise<Map<string, string>> {
  const { rows } = await t.db.pool.query<{ id: string; credentials: string }>(
    'SELECT "id", "credentials" FROM "PlatformIntegration"',
  );
  return new Map(rows.map((row) => [row.id, row.credentials]));
}

/** The data key of a version, unwrapped here with the master key (independently of the CLI). */
async function dataKey(environment: string, version: number): Promise<SecretKey> {
  const row = await t.db.prisma.keyVersion.findUniqueOrThrow({
    where: { environment_version: { environment, version } },
  });
  const key = unwrapKey(master, row.wrappedKey ?? "", dataKeyContext(environment, version));
  recordKey(key);
  return key;
}

/** AES-256-GCM decryption written out here, for `iv:tag:data` or `v<n>:iv:tag:data` (hex). */
function decryptStored(key: SecretKey, stored: string): string {
  const fields = stored.split(":");
  const [iv, tag, data] = (fields.length === 4 ? fields.slice(1) : fields) as [string, string, string];
  const decipher = createDecipheriv("aes-256-gcm", key.exposeBytes(), Buffer.from(iv, "hex"));
  decipher.setAuthTag(Buffer.from(tag, "hex"));
  return Buffer.concat([decipher.update(Buffer.from(data, "hex")), decipher.final()]).toString("utf8");
}

/** The plaintextDigest, computed here: ids in byte order, `id \n plaintext \n`. */
function digestOf(plaintexts: Map<string, string>): string {
  const ids = [...plaintexts.keys()].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  const hash = createHash("sha256");
  for (const id of ids) hash.update(`${id}\n${plaintexts.get(id)}\n`);
  return hash.digest("hex");
}

const plaintexts = new Map<string, string>();
let digest = "";

describe("keyops on a database: the README's flow", () => {
  it("demo seed writes 300 rows in the guide's legacy format under ENCRYPTION_KEY", async () => {
    const seeded = await keyops(["demo", "seed", "--rows", "300"]);
    expect(ok(seeded)).toBe(
      `seeded 300 PlatformIntegration rows for development in the legacy format (key ${legacy.fingerprint})\n`,
    );
    const rows = await storedRows();
    expect(rows.size).toBe(300);
    for (const [id, stored] of rows) {
      expect(stored).toMatch(/^[0-9a-f]{24}:[0-9a-f]{32}:[0-9a-f]+$/);
      const plaintext = decryptStored(legacy, stored);
      expect(Object.keys(JSON.parse(plaintext))).toEqual(
        expect.arrayContaining([expect.stringMatching(/^(accessToken|refreshToken)$/)]),
      );
      plaintexts.set(id, plaintext);
    }
    digest = digestOf(plaintexts);
  });

  it("keys status --json shows the adopted legacy key as active v1 holding 300 rows", async () => {
    const status = json<KeyStatusJson>(await keyops(["keys", "status", "--json"]));
    expect(status).toMatchObject({
      environment: "development",
      target: TARGET,
      activeVersion: 1,
      rowsUnderUnknownVersions: 0,
      runningRun: null,
    });
    expect(status.versions).toHaveLength(1);
    expect(status.versions[0]).toMatchObject({
      environment: "development",
      version: 1,
      state: "ACTIVE",
      legacy: true,
      fingerprint: legacy.fingerprint,
      rows: 300,
    });
    expect(Object.keys(status.versions[0] ?? {})).not.toContain("wrappedKey");
  });

  it("verify --json counts 300 rows on v1 and reports the plaintext digest of the issue", async () => {
    const report = json(await keyops(["verify", "--json"]));
    expect(report).toEqual({
      environment: "development",
      rows: 300,
      perVersion: { "1": 300 },
      activeVersion: 1,
      notOnActive: 0,
      failed: 0,
      failedPerVersion: {},
      failedRowIds: [],
      plaintextDigest: digest,
      failedRowIdsLimit: 100,
      // Per target: one here, the guide's table, with the same figures.
      targets: [
        {
          target: "PlatformIntegration.credentials",
          environment: "development",
          rows: 300,
          perVersion: { "1": 300 },
          activeVersion: 1,
          notOnActive: 0,
          failed: 0,
          failedPerVersion: {},
          failedRowIds: [],
          plaintextDigest: digest,
        },
      ],
    });
    expect(report.plaintextDigest).toMatch(/^[0-9a-f]{64}$/);
  });

  it("rotate --json --batch-size 50 re-encrypts all 300 rows to v2 with the digest unchanged", async () => {
    const report = json(await keyops(["rotate", "--json", "--batch-size", "50"]));
    const v2 = await dataKey("development", 2);
    expect(report).toMatchObject({
      runId: 1,
      environment: "development",
      target: TARGET,
      status: "SUCCEEDED",
      resumed: false,
      toVersion: 2,
      toFingerprint: v2.fingerprint,
      rows: 300,
      reencrypted: 300,
      conflicts: 0,
      failed: 0,
      failedRowIds: [],
      notOnActive: 0,
      perVersion: { "2": 300 },
      digestBefore: digest,
      digestAfter: digest,
      digestUnchanged: true,
    });
    expect(v2.fingerprint).not.toBe(legacy.fingerprint);
    // The batch size reached the engine, and every row really is v2 ciphertext of the same secret.
    const run = await t.db.prisma.rotationRun.findUniqueOrThrow({ where: { id: 1 } });
    expect({ batchSize: run.batchSize, status: run.status, rowsDone: run.rowsDone }).toEqual({
      batchSize: 50,
      status: "SUCCEEDED",
      rowsDone: 300,
    });
    const rows = await storedRows();
    expect([...rows.keys()].sort()).toEqual([...plaintexts.keys()].sort());
    for (const [id, stored] of rows) {
      expect(stored.startsWith("v2:")).toBe(true);
      expect(decryptStored(v2, stored)).toBe(plaintexts.get(id));
    }
  });

  it("verify --json after the rotation: all 300 on v2, the same digest", async () => {
    const report = json(await keyops(["verify", "--json"]));
    expect(report).toMatchObject({ rows: 300, failed: 0, perVersion: { "2": 300 }, activeVersion: 2 });
    expect(report.plaintextDigest).toBe(digest);
  });

  it("keys status prints one line per version with state, fingerprint and rows", async () => {
    const v2 = await dataKey("development", 2);
    expect(ok(await keyops(["keys", "status"]))).toBe(
      [
        `development: ${TARGET}`,
        `  v1    decrypt-only  ${legacy.fingerprint}          0 rows  (legacy)`,
        `  v2    active        ${v2.fingerprint}        300 rows  (encrypts)`,
        "",
      ].join("\n"),
    );
  });

  it("keys retire refuses the active version and retires the unused old one", async () => {
    refused(
      await keyops(["keys", "retire", "2"]),
      4,
      "version 2 of development is active; rotate to a new version first",
    );
    expect(ok(await keyops(["keys", "retire", "v1"]))).toBe(
      `retired v1 of development (${legacy.fingerprint})\n`,
    );
    refused(await keyops(["keys", "retire", "1"]), 4, "version 1 of development is already retired");
    refused(
      await keyops(["keys", "activate", "1"]),
      4,
      "version 1 of development is retired and cannot be activated",
    );
    const status = json<KeyStatusJson>(await keyops(["keys", "status", "--json"]));
    expect(status.versions.map((v) => v.state)).toEqual(["RETIRED", "ACTIVE"]);
    // Retiring the unused version lost nothing.
    const report = json(await keyops(["verify", "--json"]));
    expect(report).toMatchObject({ rows: 300, failed: 0, perVersion: { "2": 300 }, plaintextDigest: digest });
  });

  it("keys generate prints the new version's fingerprint, never its key", async () => {
    const generated = ok(await keyops(["keys", "generate"]));
    const v3 = await dataKey("development", 3);
    expect(generated).toBe(
      `generated v3 of development (pending), fingerprint ${v3.fingerprint}\n` +
        "activate it with: keyops keys activate 3 --env development\n",
    );
    const asJson = json(await keyops(["keys", "generate", "--json"]));
    const v4 = await dataKey("development", 4);
    expect(asJson).toMatchObject({
      environment: "development",
      version: 4,
      state: "PENDING",
      legacy: false,
      fingerprint: v4.fingerprint,
    });
    expect(Object.keys(asJson)).not.toContain("wrappedKey");
    expect(Object.keys(asJson)).not.toContain("masterFingerprint");
  });

  it("keys retire refuses a decrypt-only version while rows still use it, until they are rotated", async () => {
    const v2 = await dataKey("development", 2);
    const v3 = await dataKey("development", 3);
    expect(ok(await keyops(["keys", "activate", "3"]))).toBe(
      `v3 of development (${v3.fingerprint}) now encrypts; v2 is now decrypt-only\n`,
    );
    refused(
      await keyops(["keys", "retire", "2"]),
      4,
      `version 2 of development still holds 300 rows of ${TARGET}; rotate them first (keyops rotate)`,
    );
    const report = json(await keyops(["rotate", "--no-generate", "--json"]));
    expect(report).toMatchObject({
      runId: 2,
      status: "SUCCEEDED",
      toVersion: 3,
      toFingerprint: v3.fingerprint,
      reencrypted: 300,
      digestBefore: digest,
      digestUnchanged: true,
      perVersion: { "3": 300 },
    });
    expect(ok(await keyops(["keys", "retire", "2"]))).toBe(`retired v2 of development (${v2.fingerprint})\n`);
    const verified = json(await keyops(["verify", "--json"]));
    expect(verified).toMatchObject({
      rows: 300,
      failed: 0,
      perVersion: { "3": 300 },
      plaintextDigest: digest,
    });
  });

  it("no command printed any key: master, legacy or any data key, in base64 or hex", async () => {
    const keys: SecretKey[] = [master, legacy];
    for (const version of [1, 2, 3, 4]) keys.push(await dataKey("development", version));
    expect(outputs.length).toBeGreaterThan(15);
    for (const { args, result } of outputs) {
      const printed = `${result.stdout}\n${result.stderr}`;
      for (const key of keys) {
        const leak = { args, key: key.fingerprint };
        expect({ ...leak, base64: printed.includes(key.exposeBase64()) }).toEqual({ ...leak, base64: false });
        expect({ ...leak, hex: printed.toLowerCase().includes(key.exposeBytes().toString("hex")) }).toEqual({
          ...leak,
          hex: false,
        });
      }
    }
  });
});

describe("keyops: bad input gets one line and a non-zero exit, and changes nothing", () => {
  async function snapshot() {
    return {
      versions: await t.db.prisma.keyVersion.findMany({ orderBy: { id: "asc" } }),
      runs: await t.db.prisma.rotationRun.count(),
      rows: [...(await storedRows())].sort(),
    };
  }

  it("refuses unknown commands, options, environments and malformed arguments (exit 2)", async () => {
    const before = await snapshot();
    const usageOf = {
      verify: "keyops verify [--env E] [--json]",
      seed: "keyops demo seed --rows N [--env E] [--json]",
      retire: "keyops keys retire <version> [--env E] [--json]",
      activate: "keyops keys activate <version> [--env E] [--json]",
    };
    const cases: [string[], string][] = [
      [["frobnicate"], 'unknown command "frobnicate" (keyops help lists them)'],
      [["keys", "frobnicate"], 'unknown command "keys frobnicate" (keyops help lists them)'],
      [["verify", "--bogus"], `unknown option --bogus; usage: ${usageOf.verify}`],
      [["verify", "--json", "--bogus"], `unknown option --bogus; usage: ${usageOf.verify}`],
      [
        ["keys", "status", "--env", "prod"],
        'unknown environment "prod" (expected development, staging, production)',
      ],
      [
        ["verify", "--json", "--env", "prod"],
        'unknown environment "prod" (expected development, staging, production)',
      ],
      [["keys", "activate", "abc"], "the key version (e.g. 2 or v2) must be a positive integer"],
      [["keys", "retire", "-1"], `unknown option -1; usage: ${usageOf.retire}`],
      [["keys", "retire"], `wrong number of arguments; usage: ${usageOf.retire}`],
      [["keys", "activate", "1", "2"], `wrong number of arguments; usage: ${usageOf.activate}`],
      [["demo", "seed"], "--rows must be a positive integer"],
      [["demo", "seed", "--rows", "0"], "--rows must be from 1 to 10000000"],
      [["demo", "seed", "--rows", "ten"], "--rows must be a positive integer"],
      [
        ["demo", "seed", "--rows", "-5"],
        `--rows must be a positive number, not a value starting with "-"; usage: ${usageOf.seed}`,
      ],
      [["rotate", "--batch-size", "0"], "--batch-size must be from 1 to 50000"],
      [["rotate", "--batch-size", "50001"], "--batch-size must be from 1 to 50000"],
      [["rotate", "--max-rows-per-second", "0.5"], "--max-rows-per-second must be a positive integer"],
    ];
    const results = await inParallel(cases, 4, ([args]) => keyops(args));
    for (const [index, [args, message]] of cases.entries()) {
      const result = results[index] as CliResult;
      expect({ args, code: result.code, stderr: result.stderr, stdout: result.stdout }).toEqual({
        args,
        code: 2,
        stderr: `keyops: ${message}\n`,
        // --json promises one JSON object on stdout, errors included.
        stdout: args.includes("--json") ? `${JSON.stringify({ error: message, exitCode: 2 })}\n` : "",
      });
    }
    // An option missing its value, or a flag given one: named, with the usage (the wording is node's
    // own until describeParseError in src/cli/run.ts matches its capitalised "Option '...'").
    const options: [string[], RegExp][] = [
      [["verify", "--env"], /^keyops: .*--env\b.*; usage: keyops verify \[--env E\] \[--json\]$/],
      [["demo", "seed", "--rows"], /^keyops: .*--rows\b.*; usage: keyops demo seed --rows N/],
      [["verify", "--json=yes"], /^keyops: .*--json\b.*; usage: keyops verify \[--env E\] \[--json\]$/],
    ];
    const refusals = await inParallel(options, 3, ([args]) => keyops(args));
    for (const [index, [, pattern]] of options.entries()) {
      refusedMatching(refusals[index] as CliResult, 2, pattern);
    }
    expect(await snapshot()).toEqual(before);
  }, 180_000);

  it("refuses a version that does not exist as not found (exit 2)", async () => {
    const before = await snapshot();
    refused(await keyops(["keys", "activate", "99"]), 2, "development has no key version 99");
    refused(await keyops(["keys", "retire", "99"]), 2, "development has no key version 99");
    refused(await keyops(["keys", "activate", "1", "--env", "staging"]), 2, "staging has no key version 1");
    expect(await snapshot()).toEqual(before);
  });

  it("prints the usage for help (exit 0) and for no arguments (exit 2)", async () => {
    const help = ok(await keyops(["help"]));
    for (const usage of [
      "keyops keys status",
      "keyops rotate",
      "keyops verify",
      "keyops demo seed --rows N",
    ]) {
      expect(help).toContain(usage);
    }
    const bare = await keyops([]);
    expect(bare.code).toBe(2);
    expect(bare.stdout).toBe(help);
  });
});

describe("keyops: bad configuration is named, never echoed", () => {
  it("stops with DATABASE_URL set and no KEYOPS_MASTER_KEY", async () => {
    for (const missing of [undefined, "", "   "]) {
      const line = refusedMatching(
        await keyops(["keys", "status"], { KEYOPS_MASTER_KEY: missing }),
        2,
        /^keyops: invalid configuration: KEYOPS_MASTER_KEY is required when DATABASE_URL is set/,
      );
      expect(line).not.toContain(legacy.exposeBase64());
    }
  });

  it("names a malformed KEYOPS_MASTER_KEY without printing it", async () => {
    const almost = newTestKey().exposeBase64().replace(/^./, "!");
    const short = Buffer.from("a 20-byte secret!!!!").toString("base64");
    const cases: [string, string][] = [
      [almost, "KEYOPS_MASTER_KEY is not valid base64"],
      [short, "KEYOPS_MASTER_KEY must decode to 32 bytes, got 20"],
      [
        GUIDE_EXAMPLE_KEY,
        "KEYOPS_MASTER_KEY is the example key printed in the key management guide; generate a new one",
      ],
    ];
    for (const [value, problem] of cases) {
      const result = await keyops(["keys", "status"], { KEYOPS_MASTER_KEY: value });
      // The first problem named is the malformed key (src/config.ts also adds "is required", see the report).
      const line = refusedMatching(result, 2, /^keyops: invalid configuration: /);
      expect(line.startsWith(`keyops: invalid configuration: ${problem}`)).toBe(true);
      expect(result.stderr).not.toContain(value.slice(1, -1));
    }
  });

  it("refuses the guide's example key as ENCRYPTION_KEY, and the master key reused as a legacy key", async () => {
    const example = await keyops(["keys", "status"], { ENCRYPTION_KEY: GUIDE_EXAMPLE_KEY });
    refused(
      example,
      2,
      "invalid configuration: ENCRYPTION_KEY is the example key printed in the key management guide; generate a new one",
    );
    expect(example.stderr).not.toContain(GUIDE_EXAMPLE_KEY.slice(0, -1));
    refused(
      await keyops(["keys", "status"], { ENCRYPTION_KEY: master.exposeBase64() }),
      2,
      "invalid configuration: KEYOPS_MASTER_KEY must not be the same key as ENCRYPTION_KEY",
    );
    const shared = newTestKey().exposeBase64();
    refused(
      await keyops(["keys", "status"], { ENCRYPTION_KEY_STAGING: shared, ENCRYPTION_KEY_PRODUCTION: shared }),
      2,
      "invalid configuration: ENCRYPTION_KEY_STAGING and ENCRYPTION_KEY_PRODUCTION are the same key: use a separate key per environment",
    );
  });

  it("refuses a DATABASE_URL that is not PostgreSQL, and a master key that did not wrap this keyring", async () => {
    refused(
      await keyops(["keys", "status"], { DATABASE_URL: "mysql://root@localhost/keyops" }),
      2,
      "invalid configuration: DATABASE_URL: must be a postgresql:// connection string",
    );
    const other = newTestKey();
    refusedMatching(
      await keyops(["keys", "status"], { KEYOPS_MASTER_KEY: other.exposeBase64() }),
      2,
      new RegExp(
        `^keyops: KEYOPS_MASTER_KEY \\(fingerprint ${other.fingerprint}\\) is not the master key of this keyring`,
      ),
    );
  });

  it("reports an unreachable database in one line without the connection password, exit 75 (run it again)", async () => {
    const password = "hunter2-not-for-logs";
    const result = await keyops(["keys", "status"], {
      DATABASE_URL: `postgresql://keyops:${password}@127.0.0.1:${await freePort()}/keyops`,
    });
    const line = refusedMatching(
      result,
      75,
      /cannot reach the database \(.*ECONNREFUSED.*\); once it is up, run the same command again/,
    );
    expect(line).not.toContain(password);
  });
});
