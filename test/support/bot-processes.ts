import type { ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { fileURLToPath } from "node:url";
import { type Database, openDatabase } from "../../src/db/database.js";
import { classifyFault } from "../../src/db/faults.js";
import { seedPlatformIntegrations } from "../../src/demo/seed.js";
import { silentLogger } from "../../src/logger.js";
import { freePort } from "../../src/net.js";
import { listOpenWorkflows, loadWorkflow } from "../../src/workflows/workflow-store.js";
import { APPROVER, APPROVER_GROUP, eventually, GROUP_APPROVER, REQUESTER } from "./bot.js";
import { spawnNode } from "./cli.js";
import { newTestKey } from "./database.js";
import { engineFor } from "./engine.js";
import { SlackClient } from "./slack/signed-requests.js";
import { SlackStandin } from "./slack/standin.js";
import type { DrivenApp } from "./workflow-driver.js";

const MAIN = fileURLToPath(new URL("../../src/main.ts", import.meta.url));
const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const BOT_TOKEN = "xoxb-test-token";

/** Runs `read` again while the database is away (up to 30 s). */
async function throughFaults<T>(read: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      return await read();
    } catch (error) {
      if (!classifyFault(error) || Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
}

/** One `npm start` of the bot as its own process. */
export interface BotProcess {
  child: ChildProcess;
  pid: number;
  port: number;
  stderr(): string;
  exited: Promise<number | null>;
  alive(): boolean;
  health(): Promise<number>;
}

/**
 * Replicas of the real bot (src/main.ts, each its own process) on one KeyOps database and one
 * Slack stand-in, as behind a load balancer: Slack's requests go to the first unless told
 * otherwise. The test reads workflows and verifies rows through its own connection.
 */
export class BotFleet implements DrivenApp {
  readonly bots: BotProcess[] = [];
  readonly client: SlackClient;
  readonly bot: DrivenApp["bot"];
  readonly legacyKey = newTestKey();
  readonly masterKey = newTestKey();
  private readonly signingSecret = randomBytes(16).toString("hex");
  private db: Database | undefined;

  private constructor(
    readonly slack: SlackStandin,
    readonly databaseUrl: string,
    private readonly env: Record<string, string>,
  ) {
    this.client = new SlackClient({
      url: "http://127.0.0.1:1/slack/events",
      signingSecret: this.signingSecret,
    });
    // The test's own reads ride out the faults it injects (a restart, terminated backends).
    this.bot = {
      service: {
        get: (id: string) => throughFaults(() => loadWorkflow(this.database().prisma, id)),
        openWorkflows: () => throughFaults(() => listOpenWorkflows(this.database().prisma)),
      },
    };
  }

  static async start(databaseUrl: string, env: Record<string, string> = {}): Promise<BotFleet> {
    const slack = await SlackStandin.start({ botToken: BOT_TOKEN });
    slack.setUser(REQUESTER, { tz: "Europe/Berlin", name: "requester" });
    slack.setUser(APPROVER, { tz: "America/New_York", name: "approver" });
    slack.setUserGroup(APPROVER_GROUP, [GROUP_APPROVER]);
    return new BotFleet(slack, databaseUrl, env);
  }

  private database(): Database {
    if (!this.db) throw new Error("no bot has started yet");
    return this.db;
  }

  /** Starts one more replica and waits until it listens; the first one also sends Slack's requests. */
  async spawn(): Promise<BotProcess> {
    const port = await freePort();
    const child = spawnNode(
      ["--import", "tsx", MAIN],
      {
        DATABASE_URL: this.databaseUrl,
        KEYOPS_MASTER_KEY: this.masterKey.exposeBase64(),
        ENCRYPTION_KEY_PRODUCTION: this.legacyKey.exposeBase64(),
        KEYOPS_ENVIRONMENT: "production",
        KEYOPS_SHARED_ENVIRONMENTS: "none",
        SLACK_BOT_TOKEN: BOT_TOKEN,
        SLACK_SIGNING_SECRET: this.signingSecret,
        SLACK_API_URL: this.slack.url,
        KEYOPS_APPROVERS: `${APPROVER},${APPROVER_GROUP}`,
        KEYOPS_LOG_LEVEL: "info",
        PORT: String(port),
        ...this.env,
      },
      { cwd: ROOT },
    );
    let stderr = "";
    child.stderr?.on("data", (chunk: string) => {
      stderr += chunk;
    });
    let alive = true;
    const exited = new Promise<number | null>((resolve) =>
      child.on("exit", (code) => {
        alive = false;
        resolve(code);
      }),
    );
    await eventually(
      `bot ${this.bots.length + 1} to listen`,
      async () => {
        if (!alive) throw new Error(`the bot exited at start:\n${stderr}`);
        return stderr.includes("KeyOps is listening");
      },
      90_000,
    );
    const bot: BotProcess = {
      child,
      pid: child.pid as number,
      port,
      stderr: () => stderr,
      exited,
      alive: () => alive,
      health: async () =>
        (await fetch(`http://127.0.0.1:${port}/healthz`).catch(() => ({ status: 0 }))).status,
    };
    this.bots.push(bot);
    if (this.bots.length === 1) {
      (this as { client: SlackClient }).client = new SlackClient({
        url: `http://127.0.0.1:${port}/slack/events`,
        signingSecret: this.signingSecret,
      });
      this.db = await openDatabase(
        { databaseUrl: this.databaseUrl, dataDir: "", embeddedPostgresPort: 0 },
        silentLogger,
      );
    }
    return bot;
  }

  /** Fills the guide's table with legacy rows (after the first bot adopted the legacy key). */
  async seed(rows: number): Promise<void> {
    await seedPlatformIntegrations(this.database().pool, this.legacyKey, { rows });
  }

  /** The engine on the fleet's database, for verifying every row. */
  engine() {
    return engineFor({ url: this.databaseUrl, db: this.database(), masterKey: this.masterKey }).engine;
  }

  /** The bot process running `stepKey` of a workflow now (by the step's runner, host:pid:random). */
  async runnerOf(workflowId: string, stepKey: string): Promise<BotProcess | undefined> {
    const { rows } = await this.database().pool.query<{ runner: string | null }>(
      `SELECT "runner" FROM "WorkflowStep" WHERE "workflowId" = $1 AND "key" = $2`,
      [workflowId, stepKey],
    );
    const pid = Number(rows[0]?.runner?.split(":")[1]);
    return this.bots.find((b) => b.pid === pid);
  }

  async rowsDone(): Promise<number> {
    const { rows } = await this.database()
      .pool.query<{ done: number }>(`SELECT COALESCE(sum("rowsDone"), 0)::int AS done FROM "RotationRun"`)
      .catch(() => ({ rows: [] as { done: number }[] }));
    return rows[0]?.done ?? 0;
  }

  async stop(): Promise<void> {
    for (const bot of this.bots) {
      if (bot.alive()) bot.child.kill("SIGTERM");
      const timer = setTimeout(() => bot.child.kill("SIGKILL"), 20_000);
      await bot.exited;
      clearTimeout(timer);
    }
    await this.db?.close();
    await this.slack.close();
  }
}
