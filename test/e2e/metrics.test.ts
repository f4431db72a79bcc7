import { randomBytes } from "node:crypto";
import { createServer } from "node:net";
import { describe, expect, it } from "vitest";
import { loadBotConfig } from "../../src/bot-config.js";
import { ConfigError } from "../../src/config.js";
import { APPROVER, eventually, REQUESTER, startTestBot, useTestBot } from "../support/bot.js";
import { thrown } from "../support/thrown.js";
import { WorkflowDriver } from "../support/workflow-driver.js";

const TOKEN = randomBytes(24).toString("hex");
const REPORT_TOKEN = randomBytes(24).toString("hex");
const TARGET = "PlatformIntegration.credentials";
const app = useTestBot({
  rows: 7,
  env: { KEYOPS_METRICS: `bearer:${TOKEN}`, KEYOPS_REPORT_TOKEN_PRODUCTION: REPORT_TOKEN },
});

async function scrape(port: number, authorization?: string) {
  const response = await fetch(`http://127.0.0.1:${port}/metrics`, {
    headers: authorization === undefined ? {} : { authorization },
  });
  return { status: response.status, type: response.headers.get("content-type"), text: await response.text() };
}

async function metricsOf(port: number, authorization: string | undefined = `Bearer ${TOKEN}`) {
  const { status, text } = await scrape(port, authorization);
  expect(status).toBe(200);
  return text;
}

/** The sum of the samples of `name` whose labels include `labels`; undefined when there is none. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  let sum: number | undefined;
  for (const line of text.split("\n")) {
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const found = Object.fromEntries(
      [...(match[2] ?? "").matchAll(/([a-zA-Z_]\w*)="((?:[^"\\]|\\.)*)"/g)].map((m) => [m[1], m[2]]),
    );
    if (Object.entries(labels).every(([k, v]) => found[k] === v)) sum = (sum ?? 0) + Number(match[3]);
  }
  return sum;
}

async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  return typeof address === "object" && address ? address.port : 1;
}

describe("GET /metrics", () => {
  it("after a /key-rotate: the rows re-encrypted, no rotation running, the run, open workflows and ack times", async () => {
    const { bot, database } = app();
    const before = await metricsOf(bot.port);
    expect(sample(before, "keyops_rotations_running", { environment: "production" })).toBe(0);
    expect(sample(before, "keyops_workflows_open", { kind: "key-rotate" })).toBe(0);

    const rotation = await WorkflowDriver.start(app(), "/key-rotate", "production quarterly", REQUESTER);
    await rotation.click(REQUESTER, "backup-database", "step_done");
    await rotation.click(REQUESTER, "generate-key", "step_run");
    await rotation.waitForStep("generate-key", "DONE");
    await rotation.click(APPROVER, "approval", "step_approve");
    await rotation.waitForStep("verify", "DONE", 60_000);
    // The old version retires by itself after verify: its job too has run before the scrape.
    await rotation.waitForStep("retire-previous", "DONE", 60_000);

    const { rows } = await database.db.pool.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM "PlatformIntegration"`,
    );
    expect(rows[0]?.n).toBe(7);
    const text = await metricsOf(bot.port);
    const production = { environment: "production" };
    expect(sample(text, "keyops_rotation_rows_reencrypted_total", { ...production, target: TARGET })).toBe(7);
    expect(sample(text, "keyops_rotations_running", production)).toBe(0);
    expect(sample(text, "keyops_rotation_rows_per_second", { ...production, target: TARGET })).toBe(0);
    expect(sample(text, "keyops_rotation_failed_rows", production)).toBe(0);
    expect(sample(text, "keyops_rotation_runs_finished_total", { ...production, status: "SUCCEEDED" })).toBe(
      1,
    );
    // The workflow is open until its last two steps are done.
    expect(sample(text, "keyops_workflows_open", { kind: "key-rotate" })).toBe(1);
    expect(sample(text, "keyops_workflows_open", { kind: "key-compromised" })).toBe(0);
    expect(sample(text, "keyops_workflows_open", { kind: "offboard" })).toBe(0);
    // One signed command and three clicks, each acknowledged.
    expect(sample(text, "keyops_slack_ack_seconds_count", { type: "command" })).toBeGreaterThanOrEqual(1);
    expect(sample(text, "keyops_slack_ack_seconds_count", { type: "action" })).toBeGreaterThanOrEqual(3);
    expect(sample(text, "keyops_slack_ack_seconds_bucket", { type: "command", le: "+Inf" })).toBe(
      sample(text, "keyops_slack_ack_seconds_count", { type: "command" }),
    );
    // The rotation ran as a job of the step queue, and finished.
    expect(
      sample(text, "keyops_job_queue_jobs", { queue: "workflow-step", state: "completed" }),
    ).toBeGreaterThan(0);
    expect(sample(text, "keyops_job_queue_depth", { queue: "workflow-step" })).toBe(0);
    expect(sample(text, "keyops_metrics_collect_errors_total")).toBeUndefined();
    expect(sample(text, "keyops_process_cpu_seconds_total")).toBeGreaterThan(0);

    await rotation.click(REQUESTER, "store-backup", "step_done");
    await rotation.click(REQUESTER, "record-schedule", "step_run");
    await rotation.waitForStatus("RESOLVED");
    expect(sample(await metricsOf(bot.port), "keyops_workflows_open", { kind: "key-rotate" })).toBe(0);
  });

  it("a client's report: its instance is live, its decryption failures by reason and version", async () => {
    const { bot } = app();
    const versions = (await bot.runtime.engine.keys.list("production")).map((v) => ({
      version: v.version,
      fingerprint: v.fingerprint,
    }));
    const report = {
      instanceId: "api-metrics-1",
      environment: "production",
      service: "api-service",
      source: "env",
      hostname: "api-host-1",
      pid: 4242,
      startedAt: new Date().toISOString(),
      versions,
      encryptsVersion: Math.max(...versions.map((v) => v.version)),
      problems: [],
      failures: [
        { reason: "authentication-failed", version: 1, count: 3 },
        { reason: "malformed", version: null, count: 2 },
      ],
      stopping: false,
    };
    const posted = await fetch(`http://127.0.0.1:${bot.port}/client/report`, {
      method: "POST",
      headers: { authorization: `Bearer ${REPORT_TOKEN}`, "content-type": "application/json" },
      body: JSON.stringify(report),
    });
    expect(posted.status).toBe(200);

    const text = await metricsOf(bot.port);
    const failures = "keyops_client_decryption_failures_last_hour";
    expect(
      sample(text, failures, { environment: "production", reason: "authentication-failed", version: "1" }),
    ).toBe(3);
    expect(sample(text, failures, { environment: "production", reason: "malformed", version: "none" })).toBe(
      2,
    );
    expect(sample(text, failures, { environment: "staging" })).toBeUndefined();
    expect(
      sample(text, "keyops_client_instances_live", { environment: "production", service: "api-service" }),
    ).toBe(1);

    // Gone: no longer live, its failures of the last hour still count.
    await fetch(`http://127.0.0.1:${bot.port}/client/report`, {
      method: "POST",
      headers: { authorization: `Bearer ${REPORT_TOKEN}`, "content-type": "application/json" },
      body: JSON.stringify({ ...report, failures: [], stopping: true }),
    });
    const after = await metricsOf(bot.port);
    expect(sample(after, "keyops_client_instances_live", { environment: "production" })).toBeUndefined();
    expect(sample(after, failures, { environment: "production" })).toBe(5);
  });

  it("answers 401 without the token, with another or another scheme, naming nothing", async () => {
    const { bot } = app();
    for (const authorization of [
      undefined,
      `Bearer ${TOKEN}x`,
      `Bearer ${REPORT_TOKEN}`,
      `Basic ${Buffer.from(`metrics:${TOKEN}`).toString("base64")}`,
      TOKEN,
    ]) {
      const response = await scrape(bot.port, authorization);
      expect(response.status, authorization ?? "no header").toBe(401);
      expect(response.text).not.toContain("keyops_");
    }
    const ok = await scrape(bot.port, `Bearer ${TOKEN}`);
    expect(ok.status).toBe(200);
    expect(ok.type).toMatch(/^text\/plain; version=0\.0\.4/);
  });

  it("is off by default (404); KEYOPS_METRICS_PORT serves it apart without a token, PagerDuty failures counted", async () => {
    const off = await startTestBot({
      env: {
        KEYOPS_METRICS_PORT: "127.0.0.1:0",
        PAGERDUTY_ROUTING_KEY: "R0UTINGKEYFORTESTS00000000000000",
        PAGERDUTY_EVENTS_HOST: `127.0.0.1:${await closedPort()}`,
        PAGERDUTY_RETRY_ATTEMPTS: "2",
        PAGERDUTY_RETRY_DELAY_SECONDS: "0",
        PAGERDUTY_TIMEOUT_MS: "2000",
      },
    });
    try {
      expect((await scrape(off.bot.port)).status).toBe(404);
      expect((await scrape(off.bot.port, `Bearer ${TOKEN}`)).status).toBe(404);
      const port = off.bot.metricsPort as number;
      expect(port).toBeGreaterThan(0);
      expect(port).not.toBe(off.bot.port);
      expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(404);

      // An incident pages; PagerDuty cannot be reached: each try is a failed delivery.
      await WorkflowDriver.start(off, "/key-compromised", "production leaked in a log", REQUESTER);
      const text = await eventually("two failed tries counted", async () => {
        const t = await metricsOf(port, undefined);
        return (
          (sample(t, "keyops_pagerduty_delivery_failures_total", { operation: "trigger" }) ?? 0) >= 2 && t
        );
      });
      expect(sample(text, "keyops_workflows_open", { kind: "key-compromised" })).toBe(1);
      expect(sample(text, "keyops_slack_ack_seconds_count", { type: "command" })).toBe(1);
    } finally {
      await off.stop();
    }
  });

  it("settings: KEYOPS_METRICS is off or bearer:<24+ characters>; KEYOPS_METRICS_PORT is [host:]port, not PORT", () => {
    const base = {
      SLACK_BOT_TOKEN: "xoxb-test",
      SLACK_SIGNING_SECRET: "0123456789abcdef",
      KEYOPS_APPROVERS: APPROVER,
      PORT: "3000",
    };
    expect(loadBotConfig(base).metrics).toEqual({ token: undefined, listen: undefined });
    expect(
      loadBotConfig({ ...base, KEYOPS_METRICS: `bearer:${TOKEN}`, KEYOPS_METRICS_PORT: "9464" }).metrics,
    ).toEqual({ token: TOKEN, listen: { host: "127.0.0.1", port: 9464 } });
    expect(loadBotConfig({ ...base, KEYOPS_METRICS_PORT: "0.0.0.0:9464" }).metrics.listen).toEqual({
      host: "0.0.0.0",
      port: 9464,
    });
    const secret = "short-secret-token";
    for (const [env, problem] of [
      [{ KEYOPS_METRICS: `bearer:${secret}` }, "KEYOPS_METRICS must be off or bearer:<token>"],
      [{ KEYOPS_METRICS: secret }, "KEYOPS_METRICS must be off or bearer:<token>"],
      [{ KEYOPS_METRICS_PORT: "metrics" }, "KEYOPS_METRICS_PORT must be [host:]port"],
      [{ KEYOPS_METRICS_PORT: "99999" }, "KEYOPS_METRICS_PORT must be [host:]port"],
      [{ KEYOPS_METRICS_PORT: "3000" }, "KEYOPS_METRICS_PORT must not be PORT"],
      [
        { KEYOPS_METRICS: `bearer:${REPORT_TOKEN}`, KEYOPS_REPORT_TOKEN_PRODUCTION: REPORT_TOKEN },
        "KEYOPS_METRICS must not use a report token",
      ],
    ] as const) {
      const error = thrown(() => loadBotConfig({ ...base, ...env }), ConfigError);
      expect(error.problems.join("\n")).toContain(problem);
      expect(error.message).not.toContain(secret);
    }
  });
});
