import { randomBytes } from "node:crypto";
import { rm } from "node:fs/promises";
import type { Agent } from "node:https";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll } from "vitest";
import { type Bot, startBot } from "../../src/bot.js";
import { type BotConfig, loadBotConfig } from "../../src/bot-config.js";
import type { SecretKey } from "../../src/crypto/secret-key.js";
import { seedPlatformIntegrations } from "../../src/demo/seed.js";
import { createTestDatabase, newTestKey } from "./database.js";
import { testLogger } from "./engine.js";
import { SlackClient } from "./slack/signed-requests.js";
import { SlackStandin } from "./slack/standin.js";

export const REQUESTER = "U0REQUESTR";
export const APPROVER = "U0APPROVER";
export const GROUP_APPROVER = "U0GROUPMBR";
export const APPROVER_GROUP = "S0APPROVRS";
export const BYSTANDER = "U0BYSTANDR";
export const SECURITY_CHANNEL = "C0SECURITY";
/** The one token the test bot's Slack stand-in accepts. */
export const BOT_TOKEN = "xoxb-test-token";

export interface TestBot {
  bot: Bot;
  config: BotConfig;
  slack: SlackStandin;
  client: SlackClient;
  database: Awaited<ReturnType<typeof createTestDatabase>>;
  /** The production legacy key the seeded rows were written with. */
  legacyKey: SecretKey;
  stop(): Promise<void>;
}

export interface TestBotOptions {
  rows?: number;
  env?: Record<string, string>;
  /** Trusts the PagerDuty stand-in's CA. */
  pagerDutyAgent?: Agent;
  /** How often the bot plans its scheduled starts (default: the bot's own). */
  schedulePlanMs?: number;
  /** An existing test database (a second replica on the first one's); its owner drops it. */
  database?: Awaited<ReturnType<typeof createTestDatabase>>;
  /** The production legacy key (a second replica: the first one's). */
  legacyKey?: SecretKey;
}

/** The real app in HTTP mode on a fresh database, its Web API client pointed at a Slack stand-in. */
export async function startTestBot(options: TestBotOptions = {}): Promise<TestBot> {
  const database = options.database ?? (await createTestDatabase());
  const ownsDatabase = options.database === undefined;
  const slack = await SlackStandin.start({ botToken: BOT_TOKEN });
  slack.setUser(REQUESTER, { tz: "Europe/Berlin", name: "requester" });
  slack.setUser(APPROVER, { tz: "America/New_York", name: "approver" });
  slack.setUserGroup(APPROVER_GROUP, [GROUP_APPROVER]);
  const legacyKey = options.legacyKey ?? newTestKey();
  const signingSecret = randomBytes(16).toString("hex");
  const auditHeadFile = path.join(os.tmpdir(), `keyops-audit-heads-${randomBytes(6).toString("hex")}.jsonl`);
  const config = loadBotConfig({
    KEYOPS_AUDIT_HEAD_FILE: auditHeadFile,
    DATABASE_URL: database.url,
    KEYOPS_MASTER_KEY: database.masterKey.exposeBase64(),
    ENCRYPTION_KEY_PRODUCTION: legacyKey.exposeBase64(),
    KEYOPS_ENVIRONMENT: "production",
    SLACK_BOT_TOKEN: BOT_TOKEN,
    SLACK_SIGNING_SECRET: signingSecret,
    SLACK_API_URL: slack.url,
    PORT: "0",
    KEYOPS_APPROVERS: `${APPROVER},${APPROVER_GROUP}`,
    ...options.env,
  });
  let bot: Bot;
  try {
    bot = await startBot(config, testLogger, {
      progressIntervalMs: 0,
      ...(options.pagerDutyAgent ? { pagerDutyAgent: options.pagerDutyAgent } : {}),
      ...(options.schedulePlanMs !== undefined ? { schedulePlanMs: options.schedulePlanMs } : {}),
    });
  } catch (error) {
    await slack.close();
    if (ownsDatabase) await database.drop();
    throw error;
  }
  if (options.rows) await seedPlatformIntegrations(database.db.pool, legacyKey, { rows: options.rows });
  const client = new SlackClient({ url: `http://127.0.0.1:${bot.port}/slack/events`, signingSecret });
  return {
    bot,
    config,
    slack,
    client,
    database,
    legacyKey,
    async stop() {
      await bot.stop();
      await slack.close();
      if (ownsDatabase) await database.drop();
      await rm(config.auditHeadFile, { force: true });
    },
  };
}

/** One app for the test file. */
export function useTestBot(options: TestBotOptions = {}): () => TestBot {
  let current: TestBot | undefined;
  beforeAll(async () => {
    current = await startTestBot(options);
  });
  afterAll(async () => {
    await current?.stop();
  });
  return () => {
    if (!current) throw new Error("the test bot is only available inside tests");
    return current;
  };
}

/** Polls until `check` returns a value (not undefined/false), or fails naming what it waited for. */
export async function eventually<T>(
  what: string,
  check: () => Promise<T | undefined | false>,
  timeoutMs = 20_000,
) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value as T;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
