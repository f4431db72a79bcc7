// keyops/client as an application installs it: a plain JavaScript project outside the repository
// installs the `npm pack` tarball and imports it with plain `node` (no tsx), with keys from the
// environment and from a KeyOps keyring. A loader hook records every module the process loads:
// none may be Slack, PagerDuty, Prisma or pg-boss code. The .d.ts types are checked with tsc.
import { readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { encryptLegacy } from "../../src/demo/seed.js";
import { type Installed, installInto, REPO_ROOT, removePack } from "../support/api-service.js";
import { spawnNode } from "../support/cli.js";
import { createTestDatabase, newTestKey } from "../support/database.js";
import { engineFor } from "../support/engine.js";

const FILES: Record<string, string> = {
  "package.json": `${JSON.stringify({ name: "client-install-check", private: true, type: "module" }, null, 2)}\n`,

  // Records the URL of every module resolved through the ESM loader, and at exit every CommonJS
  // module in require's cache (pg's own requires do not pass the ESM hooks).
  "record-loads.mjs": `
import { appendFileSync } from "node:fs";
import { createRequire, register } from "node:module";
const log = process.env.LOAD_LOG;
register("./record-hooks.mjs", import.meta.url, { data: { log } });
const require = createRequire(import.meta.url);
process.on("exit", () => {
  appendFileSync(log, Object.keys(require.cache).map((file) => "cjs " + file + "\\n").join(""));
});
`,
  "record-hooks.mjs": `
import { appendFileSync } from "node:fs";
let log;
export function initialize(data) {
  log = data.log;
}
export async function resolve(specifier, context, nextResolve) {
  const result = await nextResolve(specifier, context);
  appendFileSync(log, "esm " + result.url + "\\n");
  return result;
}
`,

  // What an application does: the guide's functions, a legacy row, the health check.
  "check.mjs": `
import { openCredentials } from "keyops/client";
const creds = await openCredentials({ environment: "production" });
const text = creds.encryptCredentials({ accessToken: "shpat_install_check", scope: "read_orders" });
const result = {
  prefix: text.split(":")[0],
  roundTrip: creds.decryptCredentials(text),
  legacy: creds.decryptCredentials(process.env.LEGACY_CIPHERTEXT),
  fresh: await creds.decrypt(text),
  health: creds.healthCheckEncryption(),
  status: creds.status(),
};
await creds.close();
process.stdout.write(JSON.stringify(result) + "\\n");
`,

  // The published types: real ones (a wrong use is an error), not an implicit any.
  "check-types.ts": `
import { type Credentials, type CredentialsStatus, NoActiveKeyError, openCredentials } from "keyops/client";
export async function main(): Promise<number | null> {
  const creds: Credentials = await openCredentials({ environment: "production", reporting: false });
  const text: string = creds.encryptCredentials({ accessToken: "x" });
  const value = creds.decryptCredentials<{ accessToken: string }>(text);
  const token: string = value.accessToken;
  const health = creds.healthCheckEncryption();
  const error: string | undefined = health.status === "unhealthy" ? health.error : undefined;
  const status: CredentialsStatus = creds.status();
  // @ts-expect-error encryptCredentials returns a string
  const wrong: number = creds.encryptCredentials({});
  // @ts-expect-error the environment is a string
  await openCredentials({ environment: 42 });
  void [token, error, wrong, new NoActiveKeyError("none")];
  await creds.close();
  return status.encryptsVersion;
}
`,
  "tsconfig.json": `${JSON.stringify(
    {
      compilerOptions: {
        module: "nodenext",
        moduleResolution: "nodenext",
        target: "es2022",
        strict: true,
        noEmit: true,
        skipLibCheck: true,
        types: [],
      },
      files: ["check-types.ts"],
    },
    null,
    2,
  )}\n`,
};

const FORBIDDEN = /\/node_modules\/(@slack|@pagerduty|@prisma|prisma|pg-boss)\/|\/generated\/prisma\//;

let project: Installed | undefined;

beforeAll(async () => {
  project = await installInto("keyops-client-install-", async (dir) => {
    for (const [name, text] of Object.entries(FILES)) await writeFile(path.join(dir, name), text);
  });
}, 300_000);

afterAll(async () => {
  await project?.remove();
  await removePack();
});

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  loaded: string[];
}

async function runCheck(env: Record<string, string>, name: string): Promise<Run> {
  const dir = (project as Installed).dir;
  const log = path.join(dir, `loads-${name}.txt`);
  await writeFile(log, "");
  const child = spawnNode(
    ["--import", "./record-loads.mjs", "check.mjs"],
    { ...env, LOAD_LOG: log },
    { cwd: dir },
  );
  let stdout = "";
  let stderr = "";
  child.stdout?.on("data", (chunk: string) => {
    stdout += chunk;
  });
  child.stderr?.on("data", (chunk: string) => {
    stderr += chunk;
  });
  const timer = setTimeout(() => child.kill("SIGKILL"), 30_000);
  const code = await new Promise<number | null>((resolve) => child.on("close", (c) => resolve(c)));
  clearTimeout(timer);
  const loaded = (await readFile(log, "utf8"))
    .split("\n")
    .filter(Boolean)
    .map((line) => line.replace(/^(esm|cjs) /, "").replace(/^file:\/\//, ""));
  return { code, stdout, stderr, loaded };
}

function expectCleanGraph(run: Run): void {
  const dir = (project as Installed).dir;
  const keyops = run.loaded.filter((file) => file.includes("/node_modules/keyops/"));
  // The hook saw the client itself, and nothing of KeyOps but its compiled dist/.
  expect(keyops).toContain(path.join(dir, "node_modules/keyops/dist/client/index.js"));
  expect(keyops.filter((file) => !file.includes("/node_modules/keyops/dist/"))).toEqual([]);
  expect(run.loaded.filter((file) => FORBIDDEN.test(file))).toEqual([]);
  expect(run.loaded.some((file) => file.includes("/node_modules/tsx/"))).toBe(false);
}

describe("keyops/client installed from the npm pack tarball into a plain JavaScript project", () => {
  it("works with keys from the environment and loads no Slack, PagerDuty, Prisma or pg-boss code", async () => {
    const legacy = newTestKey();
    const v2 = newTestKey();
    const legacyText = encryptLegacy(legacy, JSON.stringify({ accessToken: "shpat_legacy_row" }));
    const run = await runCheck(
      {
        ENCRYPTION_KEY: legacy.exposeBase64(),
        ENCRYPTION_KEY_V2: v2.exposeBase64(),
        KEYOPS_REPORTING: "off",
        LEGACY_CIPHERTEXT: legacyText,
      },
      "env",
    );
    expect({ code: run.code, stderr: run.stderr }).toEqual({ code: 0, stderr: "" });
    const result = JSON.parse(run.stdout);
    expect(result).toMatchObject({
      prefix: "v2",
      roundTrip: { accessToken: "shpat_install_check", scope: "read_orders" },
      fresh: { accessToken: "shpat_install_check", scope: "read_orders" },
      legacy: { accessToken: "shpat_legacy_row" },
      health: { status: "healthy" },
      status: {
        source: "env",
        encryptsVersion: 2,
        versions: [
          { version: 1, fingerprint: legacy.fingerprint },
          { version: 2, fingerprint: v2.fingerprint },
        ],
      },
    });
    expectCleanGraph(run);
  });

  it("works with the keyring of a KeyOps database (pg is the one dependency it loads)", async () => {
    const database = await createTestDatabase();
    try {
      const { keys } = engineFor(database);
      const legacy = newTestKey();
      await keys.adoptLegacyKey("production", legacy);
      const v2 = await keys.generate("production");
      await keys.activate("production", v2.version);
      const run = await runCheck(
        {
          KEYOPS_DATABASE_URL: database.url,
          KEYOPS_MASTER_KEY_PRODUCTION: database.masterKey.exposeBase64(),
          KEYOPS_INSTANCE_ID: "install-check",
          LEGACY_CIPHERTEXT: encryptLegacy(legacy, JSON.stringify({ accessToken: "shpat_legacy_row" })),
        },
        "keyring",
      );
      expect({ code: run.code, stderr: run.stderr }).toEqual({ code: 0, stderr: "" });
      expect(JSON.parse(run.stdout)).toMatchObject({
        prefix: "v2",
        roundTrip: { accessToken: "shpat_install_check", scope: "read_orders" },
        legacy: { accessToken: "shpat_legacy_row" },
        health: { status: "healthy" },
        status: {
          source: "keyring",
          encryptsVersion: 2,
          versions: [
            { version: 1, fingerprint: legacy.fingerprint },
            { version: 2, fingerprint: v2.fingerprint },
          ],
          problems: [],
        },
      });
      expectCleanGraph(run);
      expect(run.loaded.some((file) => file.includes("/node_modules/pg/"))).toBe(true);
      // Its report reached the KeyOps database, and its close() marked it stopped.
      const { rows } = await database.db.pool.query(
        `SELECT "source", "encryptsVersion", "stoppedAt" IS NOT NULL AS stopped FROM "ClientInstance" WHERE "instanceId" = $1`,
        ["install-check"],
      );
      expect(rows).toEqual([{ source: "keyring", encryptsVersion: 2, stopped: true }]);
    } finally {
      await database.drop();
    }
  });

  it("ships .d.ts types for keyops/client that tsc resolves and checks", async () => {
    const dir = (project as Installed).dir;
    const pkg = JSON.parse(await readFile(path.join(dir, "node_modules/keyops/package.json"), "utf8"));
    expect(pkg.exports["./client"].types).toBe("./dist/client/index.d.ts");
    const declaration = await readFile(path.join(dir, "node_modules/keyops/dist/client/index.d.ts"), "utf8");
    expect(declaration).toContain("openCredentials");
    const tsc = path.join(REPO_ROOT, "node_modules/typescript/bin/tsc");
    const child = spawnNode([tsc, "-p", "tsconfig.json"], {}, { cwd: dir });
    let output = "";
    child.stdout?.on("data", (chunk: string) => {
      output += chunk;
    });
    child.stderr?.on("data", (chunk: string) => {
      output += chunk;
    });
    const code = await new Promise<number | null>((resolve) => child.on("close", (c) => resolve(c)));
    expect({ code, output }).toEqual({ code: 0, output: "" });
  });
});
