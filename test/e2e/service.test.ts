import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { eventually, startTestBot, useTestBot } from "../support/bot.js";
import { spawnNode } from "../support/cli.js";

const MAIN = fileURLToPath(new URL("../../src/main.ts", import.meta.url));
const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const app = useTestBot({ rows: 5 });

async function health(port: number) {
  const response = await fetch(`http://127.0.0.1:${port}/healthz`);
  return { status: response.status, body: await response.json() };
}

function runMain(env: Record<string, string | undefined>) {
  const child = spawnNode(["--import", "tsx", MAIN], env, { cwd: ROOT });
  let stderr = "";
  child.stderr?.on("data", (chunk: string) => {
    stderr += chunk;
  });
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  return { child, exited, stderr: () => stderr };
}

/** The settings of the test bot, for a second bot process on its database and Slack stand-in. */
function botSettings(): Record<string, string> {
  const { config, slack, database } = app();
  return {
    DATABASE_URL: database.url,
    KEYOPS_MASTER_KEY: database.masterKey.exposeBase64(),
    SLACK_BOT_TOKEN: config.slack.botToken,
    SLACK_SIGNING_SECRET: config.slack.signingSecret,
    SLACK_API_URL: slack.url,
    KEYOPS_APPROVERS: config.approvers.join(","),
  };
}

describe("running the bot", () => {
  it("/healthz answers 200 with the database and each active key's round trip", async () => {
    expect(await health(app().bot.port)).toEqual({
      status: 200,
      body: { ok: true, database: "ok", encryption: { production: "healthy" }, mismatchedClients: [] },
    });
  });

  it("/healthz answers 503 when a key no longer round-trips, naming no key", async () => {
    const broken = await startTestBot();
    try {
      await broken.database.db.pool.query(
        `UPDATE "KeyVersion" SET "wrappedKey" = 'v1:' || repeat('0', 24) || ':' || repeat('0', 32) || ':' || repeat('0', 64) WHERE "state" = 'ACTIVE'`,
      );
      expect(await health(broken.bot.port)).toEqual({
        status: 503,
        body: { ok: false, database: "ok", encryption: { production: "unhealthy" }, mismatchedClients: [] },
      });
    } finally {
      await broken.stop();
    }
  });

  it("publishes the App Home with the keyring's status when someone opens it", async () => {
    const { client, slack } = app();
    const event = JSON.stringify({
      token: "deprecated-verification-token",
      team_id: "T0TEST",
      api_app_id: "A0KEYOPS",
      type: "event_callback",
      event_id: "Ev0HOME0001",
      event_time: Math.floor(Date.now() / 1000),
      event: { type: "app_home_opened", user: "U0HOMEUSER", channel: "D0HOME", tab: "home", event_ts: "1.2" },
    });
    expect((await client.send(event, "application/json")).status).toBe(200);
    const published = await slack.waitFor(
      (c) => c.method === "views.publish" && c.args.user_id === "U0HOMEUSER",
      "the App Home",
    );
    expect(JSON.stringify(published.args.view)).toMatch(/production\* — active: v1/);
  });

  it("npm start with NODE_ENV=production and no Slack settings stops at once, naming each missing setting (never a sandbox)", async () => {
    const run = runMain({ DATABASE_URL: undefined, NODE_ENV: "production" });
    expect(await run.exited).toBe(2);
    const lines = run.stderr();
    expect(lines).toContain("keyops: cannot start: invalid configuration:");
    for (const name of [
      "SLACK_BOT_TOKEN is required",
      "SLACK_SIGNING_SECRET is required",
      "KEYOPS_APPROVERS is required",
    ]) {
      expect(lines).toContain(name);
    }
    expect(lines).not.toMatch(/\n\s+at /);
  });

  it("serves, then on SIGTERM finishes and exits 0", async () => {
    const port = 30_000 + Math.floor(Math.random() * 20_000);
    const run = runMain({
      ...botSettings(),
      PORT: String(port),
      KEYOPS_LOG_LEVEL: "info",
    });
    await eventually("the bot to listen", async () => run.stderr().includes("KeyOps is listening"), 30_000);
    expect((await health(port)).status).toBe(200);
    run.child.kill("SIGTERM");
    expect(await run.exited).toBe(0);
    expect(run.stderr()).toContain("shutting down");
  });
  it("a wrong SLACK_BOT_TOKEN stops it at start: auth.test answers invalid_auth, one line, exit 2", async () => {
    const { slack } = app();
    const run = runMain({ ...botSettings(), SLACK_BOT_TOKEN: "xoxb-not-the-token", PORT: "0" });
    expect(await run.exited).toBe(2);
    expect(run.stderr().trim().split("\n")).toEqual([
      "keyops: cannot start: Slack refused SLACK_BOT_TOKEN (invalid_auth): set the app's Bot User OAuth Token",
    ]);
    expect(slack.callsOf("auth.test").some((c) => c.token === "xoxb-not-the-token")).toBe(true);
  });

  it("a PORT already in use is a configuration problem: one line, exit 2", async () => {
    const { bot } = app();
    const run = runMain({
      ...botSettings(),
      PORT: String(bot.port), // the test bot listens there
    });
    expect(await run.exited).toBe(2);
    expect(run.stderr().trim().split("\n").at(-1)).toBe(
      `keyops: cannot start: port ${bot.port} is in use; set PORT to a free port`,
    );
    expect(run.stderr()).not.toMatch(/^\s+at /m);
  });
});
