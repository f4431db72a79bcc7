import { chmod, mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runKeyops } from "../support/cli.js";
import { newTestKey, useTestDatabase } from "../support/database.js";
import { engineFor } from "../support/engine.js";

// The guide's "Key Lost" at the CLI: `keys import` takes a lost version back (stdin or a 0600
// file, never argv; only the version's own key), `reauth list` names the rows to re-authenticate.

const t = useTestDatabase();
const master = newTestKey();
const legacy = newTestKey();
const wrong = newTestKey();
const env = {
  DATABASE_URL: "",
  KEYOPS_MASTER_KEY: master.exposeBase64(),
  KEYOPS_ENVIRONMENT: "production",
  KEYOPS_LOG_LEVEL: "error",
};
const keyops = (args: string[], options: { input?: string; legacyKey?: boolean } = {}) =>
  runKeyops(
    args,
    {
      ...env,
      DATABASE_URL: t.url,
      ...(options.legacyKey ? { ENCRYPTION_KEY_PRODUCTION: legacy.exposeBase64() } : {}),
    },
    options.input === undefined ? {} : { input: options.input },
  );
let dir: string;

const versions = () =>
  t.db.prisma.keyVersion.findMany({ where: { environment: "production" }, orderBy: { version: "asc" } });
/** Loses v1 the way a damaged keyring does: KeyOps's wrapped copy of it is gone. */
const loseV1 = () =>
  t.db.prisma.keyVersion.update({
    where: { environment_version: { environment: "production", version: 1 } },
    data: { wrappedKey: null },
  });

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), "keyops-import-"));
  const seeded = await keyops(["demo", "seed", "--rows", "6"], { legacyKey: true });
  expect(seeded.code).toBe(0);
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("keyops keys import", () => {
  it("refuses a version KeyOps holds, a key on the command line, and bad options, changing nothing", async () => {
    const before = await versions();
    const held = await keyops(["keys", "import", "--version", "1"], { input: legacy.exposeBase64() });
    expect({ code: held.code, stdout: held.stdout, stderr: held.stderr }).toEqual({
      code: 4,
      stdout: "",
      stderr: "keyops: version 1 of production is not lost: KeyOps holds its key; nothing was changed\n",
    });
    const argv = await keyops(["keys", "import", "--version", "1", legacy.exposeBase64()]);
    expect(argv.code).toBe(2);
    expect(argv.stderr).toMatch(/^keyops: wrong number of arguments; usage: keyops keys import /);
    const option = await keyops(["keys", "import", "--version", "1", "--key", legacy.exposeBase64()]);
    expect(option.stderr).toMatch(/^keyops: unknown option --key;/);
    const noVersion = await keyops(["keys", "import"], { input: legacy.exposeBase64() });
    expect(noVersion.stderr).toBe("keyops: --version N is required\n");
    const missing = await keyops(["keys", "import", "--version", "9"], { input: legacy.exposeBase64() });
    expect({ code: missing.code, stderr: missing.stderr }).toEqual({
      code: 2,
      stderr: "keyops: production has no key version 9\n",
    });
    expect(await versions()).toEqual(before);
  });

  it("a lost version: a wrong key, an empty stdin, a non-key and a readable file are refused; its own key is taken back", async () => {
    await loseV1();
    const before = await versions();
    const refusals: [string, { input?: string; file?: string; mode?: number }, number, RegExp][] = [
      [
        "wrong key",
        { input: `${wrong.exposeBase64()}\n` },
        4,
        new RegExp(
          `^keyops: that key is not version 1 of production \\(fingerprint ${wrong.fingerprint}, expected ${legacy.fingerprint}\\); nothing was changed\\n$`,
        ),
      ],
      ["empty stdin", {}, 2, /^keyops: no key on stdin: pipe the key file in, or give --key-file FILE\n$/],
      ["not a key", { input: "hunter2\n" }, 2, /^keyops: the imported key is not valid base64/],
      [
        "readable file",
        { file: "open.key", mode: 0o644 },
        2,
        /can be read or written by others \(mode 0644\): chmod 600 /,
      ],
      [
        "wrong key in a file",
        { file: "wrong.key", mode: 0o600 },
        4,
        /that key is not version 1 of production/,
      ],
    ];
    for (const [what, how, code, stderr] of refusals) {
      const args = ["keys", "import", "--env", "production", "--version", "1"];
      if (how.file) {
        const file = path.join(dir, how.file);
        await writeFile(file, `${(how.file === "open.key" ? legacy : wrong).exposeBase64()}\n`, {
          mode: 0o600,
        });
        await chmod(file, how.mode ?? 0o600);
        args.push("--key-file", file);
      }
      const result = await keyops(args, how.input === undefined ? {} : { input: how.input });
      expect({ what, code: result.code, stdout: result.stdout }).toEqual({ what, code, stdout: "" });
      expect(result.stderr, what).toMatch(stderr);
      expect(result.stderr.split("\n"), what).toHaveLength(2);
    }
    expect(await versions()).toEqual(before);
    expect(await t.db.prisma.auditEvent.count({ where: { action: "key.imported" } })).toBe(0);

    const file = path.join(dir, "right.key");
    await writeFile(file, `${legacy.exposeBase64()}\n`, { mode: 0o600 });
    const imported = await keyops(["keys", "import", "--version", "v1", "--key-file", file, "--json"]);
    expect({ code: imported.code, stderr: imported.stderr }).toEqual({ code: 0, stderr: "" });
    expect(JSON.parse(imported.stdout)).toEqual({
      environment: "production",
      version: 1,
      fingerprint: legacy.fingerprint,
      state: "ACTIVE",
    });
    const verified = JSON.parse((await keyops(["verify", "--json"])).stdout);
    expect(verified).toMatchObject({ rows: 6, failed: 0 });
    const events = await t.db.prisma.auditEvent.findMany({ where: { action: "key.imported" } });
    expect(events.map((e) => e.detail)).toEqual([
      { environment: "production", version: 1, fingerprint: legacy.fingerprint, state: "ACTIVE" },
    ]);
    expect(events[0]?.actor).toMatch(/^cli:.+@.+/);
  });

  it("a version marked LOST comes back decrypt-only (another version is active) from stdin", async () => {
    const { engine } = engineFor({ ...t, masterKey: master } as typeof t);
    const generated = await engine.generate("production");
    await engine.activate("production", generated.version);
    await loseV1();
    const lost = await engine.markLost("production", 1);
    expect(lost).toMatchObject({ state: "LOST", lostAt: expect.any(Date) });
    expect((await versions())[0]?.wrappedKey).toBeNull();
    // A lost legacy key configured at start is only warned about; the CLI keeps working.
    const status = await keyops(["keys", "status", "--json"], { legacyKey: true });
    expect(status.code).toBe(0);
    expect(JSON.parse(status.stdout).versions.map((v: { state: string }) => v.state)).toEqual([
      "LOST",
      "ACTIVE",
    ]);
    const verify = JSON.parse((await keyops(["verify", "--json"])).stdout);
    expect(verify).toMatchObject({ rows: 6, failed: 6 });

    const imported = await keyops(["keys", "import", "--version", "1"], { input: legacy.exposeBase64() });
    expect({ code: imported.code, stderr: imported.stderr }).toEqual({ code: 0, stderr: "" });
    expect(imported.stdout).toBe(
      `imported v1 of production (fingerprint ${legacy.fingerprint}): wrapped under the master key again, ` +
        "decrypt-only; check its rows: keyops verify --env production\n",
    );
    expect((await versions()).map((v) => v.state)).toEqual(["DECRYPT_ONLY", "ACTIVE"]);
    expect(JSON.parse((await keyops(["verify", "--json"])).stdout)).toMatchObject({ rows: 6, failed: 0 });
  });
});

describe("keyops reauth list", () => {
  it("nothing recorded: zero rows; recorded: by target and version, as JSON and as bare ids", async () => {
    expect((await keyops(["reauth", "list"])).stdout).toBe("production: 0 rows need re-authentication\n");
    const { engine } = engineFor({ ...t, masterKey: master } as typeof t);
    const recorded = await engine.recordReauth("production", 1, "wf-test");
    expect(recorded.targets).toEqual([{ target: "PlatformIntegration.credentials", rows: 6 }]);
    // Recording again adds nothing.
    await engine.recordReauth("production", 1, "wf-test");
    const { rows } = await t.db.pool.query<{ id: string; platform: string }>(
      `SELECT "id", "platform"::text AS platform FROM "PlatformIntegration" ORDER BY "id"`,
    );
    const json = await keyops(["reauth", "list", "--env", "production", "--json"]);
    expect(json.code).toBe(0);
    const listed = JSON.parse(json.stdout);
    expect(listed.environment).toBe("production");
    expect(
      listed.rows.map((r: { rowId: string; platform: string; version: number; target: string }) => [
        r.target,
        r.version,
        r.rowId,
        r.platform,
      ]),
    ).toEqual(rows.map((r) => ["PlatformIntegration.credentials", 1, r.id, r.platform]));
    const ids = await keyops(["reauth", "list", "--ids"]);
    expect(ids.stdout).toBe(rows.map((r) => `${r.id}\n`).join(""));
    const human = await keyops(["reauth", "list"]);
    expect(human.stdout.split("\n").slice(0, 2)).toEqual([
      "production: 6 rows need re-authentication",
      "  PlatformIntegration.credentials v1: 6",
    ]);
    expect((await keyops(["reauth", "list", "--env", "staging"])).stdout).toBe(
      "staging: 0 rows need re-authentication\n",
    );

    // One user reconnected (the application wrote their credential under another version), one
    // integration was deleted: neither is listed any more, both are counted.
    const [reconnected, deleted] = rows.map((r) => r.id) as [string, string];
    await t.db.pool.query(`UPDATE "PlatformIntegration" SET "credentials" = $2 WHERE "id" = $1`, [
      reconnected,
      `v2:${"0".repeat(24)}:${"0".repeat(32)}:00`,
    ]);
    await t.db.pool.query(`DELETE FROM "PlatformIntegration" WHERE "id" = $1`, [deleted]);
    const left = rows.slice(2).map((r) => r.id);
    expect((await keyops(["reauth", "list", "--ids"])).stdout).toBe(left.map((id) => `${id}\n`).join(""));
    const after = JSON.parse((await keyops(["reauth", "list", "--json"])).stdout);
    expect(after.rows.map((r: { rowId: string }) => r.rowId)).toEqual(left);
    expect(after.resolved).toBe(2);
    const summary = (await keyops(["reauth", "list"])).stdout.split("\n");
    expect(summary[0]).toBe("production: 4 rows need re-authentication");
    expect(summary).toContain(
      "  2 more recorded rows no longer need it: rewritten under another version since (reconnected) or deleted",
    );
  });
});
