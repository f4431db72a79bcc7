// Slash-command ack latency (npm run bench:ack -- [--total N] [--concurrency N]).
//
// Sends N signed /key-rotate commands (C at a time) into the real app in HTTP mode, on a
// throw-away embedded PostgreSQL with its Web API client pointed at the Slack stand-in, then
// the same load into a bare Bolt app that only acks. The load comes from a child process. Each command the app receives starts a
// real workflow after its ack, so the app's background work competes with the acks, as in use.
// Slack's limit is 3,000 ms; the goal is p99 under 100 ms and within 1.5x of bare Bolt.

import { execFile, spawn } from "node:child_process";
import { once } from "node:events";
import { fileURLToPath } from "node:url";
import { parseArgs, promisify } from "node:util";
import { App } from "@slack/bolt";
import { startBot } from "../src/bot.js";
import { loadBotConfig } from "../src/bot-config.js";
import { SecretKey } from "../src/crypto/secret-key.js";
import { createLogger } from "../src/logger.js";
import { freePort } from "../src/net.js";
import { runInScratchDir, startScratchPostgres, stopOnInterrupt } from "./scratch-run.js";

const SIGNING_SECRET = "bench-signing-secret-0123456789";
const LOAD_SCRIPT = fileURLToPath(new URL("./ack-load.ts", import.meta.url));
const STANDIN_SCRIPT = fileURLToPath(new URL("./slack-standin-process.ts", import.meta.url));
const run = promisify(execFile);
const log = createLogger("warn");

function options() {
  const { values } = parseArgs({
    options: { total: { type: "string", default: "2000" }, concurrency: { type: "string", default: "50" } },
    strict: true,
  });
  const total = Number(values.total);
  const concurrency = Number(values.concurrency);
  if (!Number.isInteger(total) || total < 1 || !Number.isInteger(concurrency) || concurrency < 1) {
    throw new Error("--total and --concurrency must be positive integers");
  }
  return { total, concurrency };
}

/** Runs the load generator in a child process and returns its sorted latencies. */
async function load(url: string, total: number, concurrency: number): Promise<number[]> {
  const { stdout } = await run(process.execPath, [
    "--import",
    "tsx",
    LOAD_SCRIPT,
    url,
    SIGNING_SECRET,
    String(total),
    String(concurrency),
  ]);
  return JSON.parse(stdout) as number[];
}

/** The Slack stand-in as its own process; resolves once it prints its URL. */
async function startStandinProcess(): Promise<{ url: string; stop(): void }> {
  const child = spawn(process.execPath, ["--import", "tsx", STANDIN_SCRIPT], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  child.stdout.setEncoding("utf8");
  const [firstLine] = (await once(child.stdout, "data")) as [string];
  return { url: firstLine.trim(), stop: () => child.kill("SIGTERM") };
}

const percentile = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? 0;

async function bareBolt(port: number, slackApiUrl: string): Promise<App> {
  const app = new App({ token: "xoxb-bench", signingSecret: SIGNING_SECRET, clientOptions: { slackApiUrl } });
  app.command(/.*/, async ({ ack }) => {
    await ack();
  });
  await app.start(port);
  return app;
}

async function main(dir: string, { total, concurrency }: { total: number; concurrency: number }) {
  const { server } = await startScratchPostgres(dir, log);
  const slack = await startStandinProcess();
  stopOnInterrupt(() => slack.stop());
  try {
    const config = loadBotConfig({
      DATABASE_URL: server.url,
      KEYOPS_MASTER_KEY: SecretKey.generate().exposeBase64(),
      SLACK_BOT_TOKEN: "xoxb-bench",
      SLACK_SIGNING_SECRET: SIGNING_SECRET,
      SLACK_API_URL: slack.url,
      KEYOPS_APPROVERS: "U0APPROVER",
      PORT: "0",
      KEYOPS_LOG_LEVEL: "warn",
    });
    const bot = await startBot(config, log);
    const bare = await bareBolt(await freePort(), slack.url);
    const barePort = (
      bare as unknown as { receiver: { server?: { address(): { port: number } } } }
    ).receiver.server?.address().port;
    try {
      // Warm both up (JIT, connections) before measuring.
      await load(`http://127.0.0.1:${bot.port}/slack/events`, 50, 10);
      await load(`http://127.0.0.1:${barePort}/slack/events`, 50, 10);
      // The bare app first: the real one keeps working on its workflows after the last ack.
      const baseline = await load(`http://127.0.0.1:${barePort}/slack/events`, total, concurrency);
      const app = await load(`http://127.0.0.1:${bot.port}/slack/events`, total, concurrency);
      const row = (name: string, l: number[]) =>
        `${name.padEnd(12)} p50 ${percentile(l, 0.5).toFixed(1).padStart(7)} ms   p99 ${percentile(l, 0.99).toFixed(1).padStart(7)} ms   max ${(l.at(-1) ?? 0).toFixed(1).padStart(7)} ms`;
      console.log(`${total} signed /key-rotate commands, ${concurrency} at a time`);
      console.log(row("keyops", app));
      console.log(row("bare bolt", baseline));
      const ratio = percentile(app, 0.99) / percentile(baseline, 0.99);
      console.log(`ack: p99 ${percentile(app, 0.99).toFixed(1)} ms, ${ratio.toFixed(2)}x bare bolt`);
    } finally {
      await bare.stop();
      await bot.stop();
    }
  } finally {
    slack.stop();
    await server.stop();
  }
}

runInScratchDir("ack", () => {
  const parsed = options();
  return { keep: false, work: (dir) => main(dir, parsed) };
});
