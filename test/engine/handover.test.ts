import { once } from "node:events";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ClientReport, type Credentials, openCredentials } from "../../src/client/index.js";
import { recordClientReport } from "../../src/client/report-store.js";
import { dataKeyContext, unwrapKey } from "../../src/crypto/envelope.js";
import type { SecretKey } from "../../src/crypto/secret-key.js";
import { RotationEngine } from "../../src/engine/engine.js";
import { HandoverTimeoutError } from "../../src/engine/handover.js";
import { KeyStore } from "../../src/engine/key-store.js";
import type { Environment } from "../../src/environments.js";
import { RefusedError } from "../../src/errors.js";
import { clientReportRoute } from "../../src/http/client-report-route.js";
import { newTestKey, useTestDatabase } from "../support/database.js";
import { testLogger } from "../support/engine.js";

const t = useTestDatabase();
const TOKEN = "report-token-for-tests-0123456789";
let server: Server;
let keyopsUrl: string;
const opened: Credentials[] = [];

beforeAll(async () => {
  // The real /client/report route, on a plain HTTP server (the bot mounts the same route).
  const route = clientReportRoute({ tokens: { production: TOKEN }, pool: t.db.pool, log: testLogger });
  server = createServer((req, res) => {
    if (req.url === route.path && req.method === "POST") route.handler(req, res);
    else res.writeHead(404).end();
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  keyopsUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await Promise.all(opened.map((c) => c.close()));
  server.close();
});

function engine(handoverTimeoutMs = 20_000) {
  const keys = new KeyStore(t.db.prisma, t.masterKey, testLogger);
  return {
    keys,
    engine: new RotationEngine(t.db, keys, testLogger, undefined, undefined, {
      clients: { liveWithinMs: 10_000, handoverTimeoutMs, pollMs: 100 },
    }),
  };
}

async function track(c: Promise<Credentials>): Promise<Credentials> {
  const credentials = await c;
  opened.push(credentials);
  return credentials;
}

function envClient(environment: Environment, keys: Record<string, SecretKey>, instanceId: string) {
  return track(
    openCredentials({
      environment,
      instanceId,
      service: "api",
      reportIntervalMs: 100,
      onWarning: () => undefined,
      env: {
        KEYOPS_URL: keyopsUrl,
        KEYOPS_REPORT_TOKEN: TOKEN,
        ...Object.fromEntries(Object.entries(keys).map(([name, key]) => [name, key.exposeBase64()])),
      },
    }),
  );
}

function keyringClient(environment: Environment, instanceId: string, masterKey = t.masterKey) {
  return track(
    openCredentials({
      environment,
      instanceId,
      service: "worker",
      reportIntervalMs: 100,
      refreshIntervalMs: 100,
      onWarning: () => undefined,
      env: { KEYOPS_DATABASE_URL: t.url, KEYOPS_MASTER_KEY: masterKey.exposeBase64() },
    }),
  );
}

/** A report written straight into the database, as the route or a keyring client writes it. */
function report(
  fields: Pick<ClientReport, "instanceId" | "environment" | "versions"> & Partial<ClientReport>,
) {
  return recordClientReport(t.db.pool, {
    service: "worker",
    source: "keyring",
    hostname: "h",
    pid: 1,
    startedAt: new Date().toISOString(),
    encryptsVersion: fields.versions[0]?.version ?? null,
    problems: [],
    failures: [],
    stopping: false,
    ...fields,
  });
}

async function keyOf(environment: Environment, version: number): Promise<SecretKey> {
  const row = await t.db.prisma.keyVersion.findUniqueOrThrow({
    where: { environment_version: { environment, version } },
  });
  return unwrapKey(t.masterKey, row.wrappedKey ?? "", dataKeyContext(environment, version));
}

async function until(condition: () => boolean | Promise<boolean>, what: string, ms = 10_000) {
  const deadline = Date.now() + ms;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe("the hand-over gate with env-source instances (reports over HTTP)", () => {
  it("holds activation until every live instance has the new key, and no instance writes it early", async () => {
    const { keys, engine: e } = engine();
    const legacy = newTestKey();
    await keys.adoptLegacyKey("production", legacy);
    const a = await envClient("production", { ENCRYPTION_KEY: legacy }, "api-a");
    const b = await envClient("production", { ENCRYPTION_KEY: legacy }, "api-b");
    const pending = await keys.generate("production");
    const v2 = await keyOf("production", pending.version);

    const refusal = await e.activate("production", pending.version).catch((error: Error) => error);
    expect(refusal).toBeInstanceOf(HandoverTimeoutError);
    expect((refusal as Error).message).toContain("api: 0 of 2 instances can read v2");
    expect((refusal as Error).message).toContain("ENCRYPTION_KEY_V2");
    expect((refusal as Error).message).toContain("keyops keys export 2 --env production");

    // A rolling redeploy: a's replacement has ENCRYPTION_KEY_V2, b does not yet.
    await a.close();
    const a2 = await envClient("production", { ENCRYPTION_KEY: legacy, ENCRYPTION_KEY_V2: v2 }, "api-a2");
    // It holds v2 but KeyOps has v1 active: it keeps writing v1, which b can read.
    expect(a2.encryptCredentials({ token: "x" }).startsWith("v1:")).toBe(true);
    const progress: string[] = [];
    const activation = e.activate("production", pending.version, {
      waitForClients: true,
      onProgress: (p) => progress.push(p.note ?? ""),
    });
    await until(() => progress.includes("api: 1 of 2 instances can read v2"), "the gate to see a2");
    await b.close();
    const b2 = await envClient("production", { ENCRYPTION_KEY: legacy, ENCRYPTION_KEY_V2: v2 }, "api-b2");
    const { activated } = await activation;
    expect(activated.version).toBe(2);
    // It passed once no live instance lacked v2 (b's goodbye may come before b2's first report).
    expect(progress.at(-1)).toMatch(/^api: (\d) of \1 instances? can read v2$/);

    // Both learn the activation from KeyOps's answer, within a report or two.
    await until(() => a2.status().encryptsVersion === 2 && b2.status().encryptsVersion === 2, "v2 writes");
    const written = b2.encryptCredentials({ token: "y" });
    expect(written.startsWith("v2:")).toBe(true);
    expect(a2.decryptCredentials(written)).toEqual({ token: "y" });

    // KeyOps sees both write v2 once their next reports arrive.
    await until(
      async () => (await e.clients.live("production")).every((i) => i.encryptsVersion === 2),
      "reports of v2 writes",
    );
    expect((await e.clients.live("production")).map((i) => i.instanceId)).toEqual(["api-a2", "api-b2"]);
    await a2.close();
    await b2.close();
  });

  it("a mismatched key: the instance's health check fails and the gate names it", async () => {
    const { keys, engine: e } = engine(500);
    // production now has v1 (legacy) and v2 (active); this instance holds another key as v2.
    const m = await envClient("production", { ENCRYPTION_KEY_V2: newTestKey() }, "api-mismatched");
    await until(() => m.healthCheckEncryption().status === "unhealthy", "the mismatch to be seen");
    const health = m.healthCheckEncryption();
    expect(health.status === "unhealthy" && health.error).toContain("a mismatched key");
    const pending = await keys.generate("production");
    const refusal = await e.activate("production", pending.version).catch((error: Error) => error);
    expect(refusal).toBeInstanceOf(HandoverTimeoutError);
    await m.close();
  });
});

describe("the hand-over gate with keyring-source instances (reports in the database)", () => {
  it("passes as soon as the instances have read the pending version, and they write it within seconds", async () => {
    const { keys, engine: e } = engine();
    const legacy = newTestKey();
    await keys.adoptLegacyKey("development", legacy);
    const w1 = await keyringClient("development", "worker-1");
    const w2 = await keyringClient("development", "worker-2");
    const pending = await keys.generate("development");
    await e.activate("development", pending.version, { waitForClients: true });
    await until(
      () =>
        w1.status().encryptsVersion === pending.version && w2.status().encryptsVersion === pending.version,
      "keyring clients to write the new version",
    );
    // An instance that has not learned of the activation still writes v1: retiring v1 is refused.
    await report({
      instanceId: "worker-stale",
      environment: "development",
      versions: [{ version: 1, fingerprint: legacy.fingerprint }],
    });
    const retire = await e.retire("development", 1).catch((error: Error) => error);
    expect(retire).toBeInstanceOf(RefusedError);
    expect((retire as Error).message).toMatch(
      /still written by \d+ live application instances? \(.*worker-stale/,
    );
    await report({ instanceId: "worker-stale", environment: "development", versions: [], stopping: true });
  });

  it("a wrong master key: the instance reports the problem and holds nothing", async () => {
    const { keys } = engine();
    if ((await keys.list("development")).length === 0) await keys.adoptLegacyKey("development", newTestKey());
    const bad = await keyringClient("development", "worker-bad-master", newTestKey());
    const health = bad.healthCheckEncryption();
    expect(health.status).toBe("unhealthy");
    const row = await t.db.prisma.clientInstance.findUniqueOrThrow({
      where: { instanceId: "worker-bad-master" },
    });
    expect(row.problems.join(" ")).toContain("does not unwrap");
    expect(row.versions).toEqual([]);
  });

  it("times out with what to do when an instance never gets the key", async () => {
    const { keys, engine: e } = engine(600);
    const legacy = newTestKey();
    await keys.adoptLegacyKey("staging", legacy);
    const pending = await keys.generate("staging");
    // An env instance of staging that reports straight into the database (as the route would).
    await report({
      instanceId: "api-staging-1",
      environment: "staging",
      service: "api",
      source: "env",
      versions: [{ version: 1, fingerprint: legacy.fingerprint }],
    });
    const error = await e
      .activate("staging", pending.version, { waitForClients: true })
      .catch((thrown: Error) => thrown);
    expect(error).toBeInstanceOf(HandoverTimeoutError);
    expect((error as Error).message).toMatch(/not activated after 1 s: api: 0 of 1 instance can read v2/);
    expect((await keys.get("staging", pending.version)).state).toBe("PENDING");
  });
});

describe("an env instance writes only with KeyOps's active version (issue 9 #6)", () => {
  it("started after an activation without the new key, it encrypts nothing with the decrypt-only version", async () => {
    const { keys } = engine();
    if ((await keys.list("production")).length === 0) await keys.adoptLegacyKey("production", newTestKey());
    const before = (await keys.list("production")).find((v) => v.state === "ACTIVE");
    if (!before) throw new Error("production has an active version");
    const next = await keys.generate("production");
    await keys.activate("production", next.version); // the store itself: no gate for this instance
    const late = await envClient(
      "production",
      { [`ENCRYPTION_KEY_V${before.version}`]: await keyOf("production", before.version) },
      "api-late",
    );
    expect(late.status().lastReportAt).not.toBeNull(); // KeyOps has answered: v<next> is active
    expect(late.status().encryptsVersion).toBeNull();
    expect(() => late.encryptCredentials({ accessToken: "shpat_x" })).toThrow(
      `KeyOps writes version ${next.version} of production, which this instance does not hold (add ENCRYPTION_KEY_V${next.version})`,
    );
    expect(late.healthCheckEncryption()).toMatchObject({ status: "unhealthy" });
    // What it holds still decrypts: rows under the old version are read until rotated.
    expect(late.status().versions.map((v) => v.version)).toEqual([before.version]);
  });
});
