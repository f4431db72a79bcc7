import { randomBytes } from "node:crypto";
import path from "node:path";
import { type Bot, startBot } from "../bot.js";
import { loadBotConfig } from "../bot-config.js";
import { demoSealer, seedPlatformIntegrations } from "../demo/seed.js";
import { ENVIRONMENTS, type Environment } from "../environments.js";
import { createLogger, type Logger, type LogLevel } from "../logger.js";
import { Roster } from "../workflows/roster.js";
import { escapeHtml } from "./block-kit-html.js";
import { PageServer } from "./page-server.js";
import { SandboxPagerDuty } from "./pagerduty.js";
import { PERSONAS, SANDBOX_APPROVERS, SANDBOX_CHANNEL } from "./people.js";
import { SlackWorkspace } from "./slack-api.js";
import { SlackRequests } from "./slack-requests.js";

/** Demo integrations per environment, seeded when an environment has no key yet. */
export const DEMO_ROWS: Record<Environment, number> = {
  development: 2_000,
  staging: 5_000,
  production: 20_000,
};

const PROGRESS_INTERVAL_MS = 250;

export interface Sandbox {
  url: string;
  bot: Bot;
  /** The PagerDuty stand-in's HTTPS port (on 127.0.0.1, as the page and the bot). */
  pagerDutyPort: number;
  stop(): Promise<void>;
}

const secret = (bytes = 24) => randomBytes(bytes).toString("hex");

/**
 * The real bot with Slack and PagerDuty stood in for, on loopback: the page server (page, Slack
 * Web API stand-in) starts first, so that the bot's calls at start are answered; then PagerDuty
 * over HTTPS; then the bot, configured as a deployment would be, with secrets made for this run.
 * The demo data is seeded on the first start of the data directory. A start that fails stops
 * whatever it had started.
 */
export async function startSandbox(port: number, env: NodeJS.ProcessEnv = process.env): Promise<Sandbox> {
  const botToken = `xoxb-sandbox-${secret(12)}`;
  const signingSecret = secret();
  const pagerDutySecrets = { routingKey: secret(16), apiToken: secret(16), webhookSecret: secret() };
  let bot: Bot | undefined;
  let pagerDuty: SandboxPagerDuty | undefined;
  let slack: SlackRequests | undefined;
  let about = "Starting…";
  const logLevel = (env.KEYOPS_LOG_LEVEL?.trim() || "error") as LogLevel;
  const page = await PageServer.start(port, (origin) => ({
    workspace: new SlackWorkspace(origin, botToken),
    pagerDuty: () => pagerDuty,
    slack: () => slack,
    about: () => about,
  }));
  try {
    const { workspace } = page.parts;
    pagerDuty = await SandboxPagerDuty.start({
      ...pagerDutySecrets,
      onCall: PERSONAS.onCall,
      webhookUrl: () => `http://127.0.0.1:${bot?.port ?? 0}/pagerduty/webhook`,
      log: (message) => process.stderr.write(`keyops sandbox: ${message}\n`),
    });
    pagerDuty.onChange(() => page.push());
    const config = loadBotConfig({
      KEYOPS_ENVIRONMENT: "production",
      ...env,
      KEYOPS_LOG_LEVEL: logLevel,
      SLACK_BOT_TOKEN: botToken,
      SLACK_SIGNING_SECRET: signingSecret,
      SLACK_API_URL: workspace.apiUrl,
      PORT: "0",
      KEYOPS_APPROVERS: SANDBOX_APPROVERS.join(","),
      KEYOPS_ALLOWED_CHANNELS: SANDBOX_CHANNEL.id,
      PAGERDUTY_ROUTING_KEY: pagerDutySecrets.routingKey,
      PAGERDUTY_API_TOKEN: pagerDutySecrets.apiToken,
      PAGERDUTY_WEBHOOK_SECRET: pagerDutySecrets.webhookSecret,
      PAGERDUTY_ESCALATION_POLICY_ID: pagerDuty.escalationPolicyId,
      PAGERDUTY_EVENTS_HOST: pagerDuty.host,
      PAGERDUTY_API_HOST: pagerDuty.host,
      PAGERDUTY_RETRY_DELAY_SECONDS: "1",
    });
    const log = createLogger(config.logLevel, undefined, config.logFormat);
    bot = await startBot(config, log, {
      host: "127.0.0.1",
      pagerDutyAgent: pagerDuty.agent,
      // A rotation of the demo rows takes seconds: show it move.
      progressIntervalMs: PROGRESS_INTERVAL_MS,
    });
    const started = bot;
    slack = new SlackRequests({
      url: () => `http://127.0.0.1:${started.port}/slack/events`,
      signingSecret,
    });
    about = aboutHtml(await seedOnFirstStart(started, log), config.dataDir);
    page.push();
  } catch (error) {
    await bot?.stop().catch(() => undefined);
    await pagerDuty?.close().catch(() => undefined);
    await page.close();
    throw error;
  }
  const running = bot;
  const pd = pagerDuty;
  return {
    url: page.url,
    bot: running,
    pagerDutyPort: Number(new URL(`https://${pd.host}`).port),
    async stop() {
      await running.stop();
      await pd.close();
      await page.close();
    },
  };
}

interface SeedReport {
  seededNow: Environment[];
  rows: Record<string, number>;
}

/** Each environment without any key version gets a generated legacy key and its demo rows; Lee may read production. */
async function seedOnFirstStart(bot: Bot, log: Logger): Promise<SeedReport> {
  const { engine } = bot.runtime;
  const seededNow: Environment[] = [];
  const rows: Record<string, number> = {};
  for (const environment of ENVIRONMENTS) {
    const pool = engine.guideTablePool(environment);
    if (!pool) continue;
    if ((await engine.keys.list(environment)).length === 0) {
      const sealer = await demoSealer(engine.keys, environment);
      await seedPlatformIntegrations(pool, sealer.seal, { rows: DEMO_ROWS[environment] });
      seededNow.push(environment);
      log.info("sandbox: seeded demo integrations", { environment, rows: DEMO_ROWS[environment] });
    }
    const count = await pool.query<{ n: string }>(`SELECT count(*) AS n FROM "PlatformIntegration"`);
    rows[environment] = Number(count.rows[0]?.n ?? 0);
  }
  if (seededNow.includes("production")) {
    await new Roster(bot.runtime.db.prisma).grant(PERSONAS.leaving.id, "production", "keyops");
  }
  return { seededNow, rows };
}

function aboutHtml(report: SeedReport, dataDir: string): string {
  const counts = Object.entries(report.rows)
    .map(([environment, n]) => `${escapeHtml(environment)} ${n.toLocaleString("en-US")}`)
    .join(", ");
  const when =
    report.seededNow.length > 0
      ? `Seeded now, on the first start of this data directory: a generated master key, a generated legacy key (v1) per environment and demo integrations in the guide's legacy format.`
      : "Seeded on an earlier start of this data directory (a generated master key, a legacy key per environment, demo integrations).";
  return (
    `<b>About this sandbox</b><br>${when}<br><br>Demo integrations: ${counts}.<br>` +
    `Data: <code>${escapeHtml(path.resolve(dataDir))}</code> (embedded PostgreSQL). ` +
    `Lee can read the production key (try <code>/offboard @Lee</code>). Avery and Oscar may approve; Oscar is on call.`
  );
}
