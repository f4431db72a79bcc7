// The application keeps reading: two instances of examples/api-service (installed from the npm
// pack tarball, env key source, reporting to the bot over HTTP) serve steady reads and writes
// while a /key-rotate workflow goes through approval, the hand-over gate (which holds until the
// instances are redeployed with ENCRYPTION_KEY_V2), re-encryption, verify and retirement of v1.
// Then a planted fault: an instance with a wrong key raises the mismatched-key alert and a page.
import { randomBytes } from "node:crypto";
import { readFile, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SecretKey } from "../../src/crypto/secret-key.js";
import {
  type ApiService,
  getJson,
  type Installed,
  installApiService,
  removePack,
  runLoad,
  startApiService,
} from "../support/api-service.js";
import { recordKey } from "../support/artifacts.js";
import {
  APPROVER,
  eventually,
  REQUESTER,
  SECURITY_CHANNEL,
  startTestBot,
  type TestBot,
} from "../support/bot.js";
import { keyopsEnv, runKeyops } from "../support/cli.js";
import { newTestKey } from "../support/database.js";
import { PagerDutyStandin } from "../support/pagerduty/standin.js";
import { WorkflowDriver } from "../support/workflow-driver.js";

const TOKEN = `rt_${randomBytes(20).toString("hex")}`;
const ROUTING_KEY = `R${randomBytes(15).toString("hex")}`;
let pd: PagerDutyStandin;
let app: TestBot;
let installed: Installed;
const running = new Set<ApiService>();

beforeAll(async () => {
  pd = await PagerDutyStandin.start();
  [app, installed] = await Promise.all([
    startTestBot({
      rows: 300,
      pagerDutyAgent: pd.agent,
      env: {
        KEYOPS_REPORT_TOKEN_PRODUCTION: TOKEN,
        KEYOPS_CLIENT_LIVE_SECONDS: "4",
        KEYOPS_HANDOVER_TIMEOUT_SECONDS: "180",
        KEYOPS_ALERT_CHANNEL: SECURITY_CHANNEL,
        KEYOPS_ALERT_CHECK_SECONDS: "0.5",
        PAGERDUTY_ROUTING_KEY: ROUTING_KEY,
        PAGERDUTY_EVENTS_HOST: pd.host,
        PAGERDUTY_API_HOST: pd.host,
        PAGERDUTY_RETRY_DELAY_SECONDS: "0.05",
        PAGERDUTY_TIMEOUT_MS: "2000",
      },
    }),
    installApiService(),
  ]);
}, 300_000);

afterAll(async () => {
  for (const service of running) await service.kill();
  await installed?.remove();
  await removePack();
  await app?.stop();
  await pd?.close();
});

async function instance(keys: Record<string, SecretKey>, id: string): Promise<ApiService> {
  const service = await startApiService(installed.dir, {
    DATABASE_URL: app.database.url,
    KEYOPS_ENVIRONMENT: "production",
    KEYOPS_URL: `http://127.0.0.1:${app.bot.port}`,
    KEYOPS_REPORT_TOKEN: TOKEN,
    KEYOPS_REPORT_INTERVAL_SECONDS: "0.5",
    KEYOPS_SERVICE_NAME: "api",
    KEYOPS_INSTANCE_ID: id,
    ...Object.fromEntries(Object.entries(keys).map(([name, key]) => [name, key.exposeBase64()])),
  });
  running.add(service);
  return service;
}

async function retireFromRotation(urls: string[], service: ApiService): Promise<void> {
  // As a load balancer drains an instance: no new requests, then a graceful stop.
  urls.splice(urls.indexOf(service.url), 1);
  await new Promise((resolve) => setTimeout(resolve, 300));
  expect(await service.stop()).toBe(0);
  running.delete(service);
}

async function plaintexts(): Promise<Map<string, unknown>> {
  const keyring = await app.bot.runtime.engine.keys.loadKeyring("production");
  const { rows } = await app.database.db.pool.query<{ id: string; credentials: string }>(
    `SELECT "id", "credentials" FROM "PlatformIntegration" ORDER BY "id"`,
  );
  return new Map(rows.map((r) => [r.id, JSON.parse(keyring.decryptToString(r.credentials))]));
}

async function exportKey(version: number): Promise<SecretKey> {
  const file = path.join(os.tmpdir(), `keyops-export-${randomBytes(6).toString("hex")}`);
  const env = keyopsEnv({
    DATABASE_URL: app.database.url,
    KEYOPS_MASTER_KEY: app.database.masterKey.exposeBase64(),
    KEYOPS_ENVIRONMENT: "production",
  });
  try {
    const result = await runKeyops(["keys", "export", String(version), "--out", file], env);
    expect(result.code).toBe(0);
    const key = SecretKey.fromBase64(await readFile(file, "utf8"), file);
    recordKey(key);
    // The CLI printed where it wrote the key and its fingerprint, never the key.
    expect(result.stdout).toContain(key.fingerprint);
    return key;
  } finally {
    await rm(file, { force: true });
  }
}

describe("a rotation the application keeps reading through", () => {
  it("zero failed requests, zero lost writes, the gate holding until the instances have the new key", async () => {
    const legacy = app.legacyKey;
    const before = await plaintexts();
    const ids = [...before.keys()].slice(0, 40);
    const a = await instance({ ENCRYPTION_KEY: legacy }, "api-a");
    const b = await instance({ ENCRYPTION_KEY: legacy }, "api-b");
    const urls = [a.url, b.url];
    const load = runLoad({ urls, ids, readsPerSecond: 16, writesPerSecond: 6 });

    const rotation = await WorkflowDriver.start(
      app,
      "/key-rotate",
      "production with the app live",
      REQUESTER,
    );
    await rotation.click(REQUESTER, "backup-database", "step_done");
    await rotation.click(REQUESTER, "generate-key", "step_run");
    await rotation.waitForStep("generate-key", "DONE");
    await rotation.click(APPROVER, "approval", "step_approve");

    // The gate holds: neither instance has ENCRYPTION_KEY_V2, and the message says so live.
    await eventually(
      "the gate in the message",
      async () => rotation.messageText().includes("api: 0 of 2 instances can read v2"),
      60_000,
    );
    // ...and what to do about it.
    expect(rotation.messageText()).toContain(
      "add ENCRYPTION_KEY_V2 to api (write it with keyops keys export 2 --env production --out &lt;file&gt;) and redeploy",
    );
    expect(await rotation.stepStatus("reencrypt")).toBe("RUNNING");

    // The operator takes the key once and redeploys, one instance at a time.
    const v2 = await exportKey(2);
    await retireFromRotation(urls, a);
    const a2 = await instance({ ENCRYPTION_KEY: legacy, ENCRYPTION_KEY_V2: v2 }, "api-a2");
    urls.push(a2.url);
    await eventually(
      "the gate to count a2",
      async () => rotation.messageText().includes("api: 1 of 2 instances can read v2"),
      60_000,
    );
    // a2 holds v2 but b does not: nothing is written under v2 yet.
    const early = await app.database.db.pool.query(
      `SELECT count(*)::int AS n FROM "PlatformIntegration" WHERE "credentials" LIKE 'v2:%'`,
    );
    expect(early.rows[0].n).toBe(0);
    expect(
      (
        await app.database.db.prisma.keyVersion.findFirstOrThrow({
          where: { environment: "production", version: 2 },
        })
      ).state,
    ).toBe("PENDING");

    // Surge, then drain: b2 is up before b goes (with b drained first, the gate would rightly pass
    // on a2 alone, and activate before b2 exists).
    const b2 = await instance({ ENCRYPTION_KEY: legacy, ENCRYPTION_KEY_V2: v2 }, "api-b2");
    urls.push(b2.url);
    await retireFromRotation(urls, b);

    await rotation.waitForStep("verify", "DONE", 120_000);
    const result = await load.stop();
    expect(result.failures).toEqual([]);
    expect(result.failed).toBe(0);
    expect(result.writes).toBeGreaterThan(20);

    // Both instances held v2 before it was activated.
    const activatedAt = (
      await app.database.db.prisma.keyVersion.findFirstOrThrow({
        where: { environment: "production", version: 2 },
      })
    ).activatedAt as Date;
    const reported = await app.bot.runtime.engine.clients.live("production");
    expect(reported.map((i) => i.instanceId).sort()).toEqual(["api-a2", "api-b2"]);
    for (const i of reported) {
      expect(i.versions.map((v) => v.version)).toContain(2);
      expect(i.startedAt.getTime()).toBeLessThan(activatedAt.getTime());
      expect(i.encryptsVersion).toBe(2);
    }

    // Every acknowledged write reads back; every other secret is what it was.
    const after = await plaintexts();
    for (const [id, value] of before) {
      expect(after.get(id)).toEqual(result.acknowledged.has(id) ? result.acknowledged.get(id) : value);
    }
    for (const [id, value] of result.acknowledged) {
      expect((await getJson(`${b2.url}/api/platforms/${id}`)).body).toMatchObject({ credentials: value });
    }
    const rows = await app.database.db.pool.query(
      `SELECT count(*)::int AS n FROM "PlatformIntegration" WHERE "credentials" NOT LIKE 'v2:%'`,
    );
    expect(rows.rows[0].n).toBe(0);
    expect(rotation.messageText()).toMatch(/production: 300 rows, 0 fail to decrypt, 0 not on v2, digest/);

    // v1 retires (the guide's "remove V1 key support"): no row and no live instance uses it, and
    // the step says which key the application can drop; the application still reads everything.
    await rotation.waitForStep("retire-previous", "DONE", 60_000);
    expect(rotation.messageText()).toContain(
      "remove its key from the application (ENCRYPTION_KEY_V1 or ENCRYPTION_KEY)",
    );
    expect((await app.bot.runtime.engine.keys.get("production", 1)).state).toBe("RETIRED");
    expect((await getJson(`${a2.url}/api/platforms`)).status).toBe(200);
  }, 240_000);
});

describe("the guide's alerts from what the instances report", () => {
  it("an instance with a wrong key raises the mismatched-key alert in the security channel and a page", async () => {
    const wrong = newTestKey();
    const bad = await instance({ ENCRYPTION_KEY_V2: wrong }, "api-wrong-key");
    await eventually("the instance's own health check to fail", async () => {
      const h = await getJson(`${bad.url}/healthz`, [503]);
      return h.status === 503 && JSON.stringify(h.body).includes("mismatched key");
    });
    const post = await app.slack.waitFor(
      (c) =>
        c.method === "chat.postMessage" &&
        c.args.channel === SECURITY_CHANNEL &&
        String(c.args.text).includes("api-wrong-key") &&
        String(c.args.text).includes("mismatched key"),
      "the alert in the security channel",
    );
    expect(String(post.args.text)).not.toContain(wrong.exposeBase64());
    const page = await eventually("the alert's page", async () =>
      pd
        .events()
        .find(
          (e) => e.dedup_key === "keyops-alert:key:production:api-wrong-key" && e.event_action === "trigger",
        ),
    );
    expect(page.payload?.severity).toBe("critical");
    // KeyOps's own /healthz fails too while the instance is live.
    const keyopsHealth = await getJson(`http://127.0.0.1:${app.bot.port}/healthz`, [503]);
    expect(keyopsHealth.status).toBe(503);
    expect(JSON.stringify(keyopsHealth.body)).toContain("production/api-wrong-key");

    // Fixed (stopped): the alert resolves, and so does the page.
    expect(await bad.stop()).toBe(0);
    running.delete(bad);
    await eventually("the page resolved", async () =>
      pd
        .events()
        .some(
          (e) => e.dedup_key === "keyops-alert:key:production:api-wrong-key" && e.event_action === "resolve",
        ),
    );
  }, 120_000);
});
