import { randomBytes } from "node:crypto";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../../src/config.js";
import { seedPlatformIntegrations } from "../../src/demo/seed.js";
import { createLogger } from "../../src/logger.js";
import { APPROVER, eventually, REQUESTER, SECURITY_CHANNEL } from "../support/bot.js";
import { runKeyops, spawnNode } from "../support/cli.js";
import { createTestDatabase, newTestKey } from "../support/database.js";
import { SlackClient } from "../support/slack/signed-requests.js";
import { SlackStandin } from "../support/slack/standin.js";
import { thrown } from "../support/thrown.js";

const MAIN = fileURLToPath(new URL("../../src/main.ts", import.meta.url));
const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const ROWS = 9;
const LEVELS = ["debug", "info", "warn", "error"];

let database: Awaited<ReturnType<typeof createTestDatabase>>;
let slack: SlackStandin;
const legacyKey = newTestKey();

beforeAll(async () => {
  database = await createTestDatabase();
  slack = await SlackStandin.start();
  await seedPlatformIntegrations(database.db.pool, legacyKey, { rows: ROWS });
});
afterAll(async () => {
  await slack?.close();
  await database?.drop();
});

interface Entry {
  time: string;
  level: string;
  message: string;
  [field: string]: unknown;
}

/** Every line of `stderr` is one JSON object with time (ISO 8601, UTC), level and message. */
function parseLines(stderr: string): Entry[] {
  const lines = stderr.split("\n");
  expect(lines.pop(), "the output ends with a line break").toBe("");
  return lines.map((line) => {
    let entry: Entry;
    try {
      entry = JSON.parse(line) as Entry;
    } catch {
      throw new Error(`not a JSON line: ${line.slice(0, 200)}`);
    }
    expect(Object.keys(entry).slice(0, 3), line).toEqual(["time", "level", "message"]);
    expect(entry.time, line).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
    expect(new Date(entry.time).toISOString()).toBe(entry.time);
    expect(LEVELS, line).toContain(entry.level);
    expect(typeof entry.message, line).toBe("string");
    return entry;
  });
}

function commonEnv() {
  return {
    DATABASE_URL: database.url,
    KEYOPS_MASTER_KEY: database.masterKey.exposeBase64(),
    ENCRYPTION_KEY_PRODUCTION: legacyKey.exposeBase64(),
    KEYOPS_ENVIRONMENT: "production",
    KEYOPS_LOG_LEVEL: "debug",
    KEYOPS_LOG_FORMAT: "json",
  };
}

interface Block {
  type: string;
  block_id?: string;
  elements?: { action_id: string; value?: string }[];
}

describe("KEYOPS_LOG_FORMAT=json", () => {
  it("the bot writes only JSON lines on stderr through a whole /key-rotate, Bolt's and the Web API client's included", async () => {
    const signingSecret = randomBytes(16).toString("hex");
    const port = 30_000 + Math.floor(Math.random() * 20_000);
    const child = spawnNode(
      ["--import", "tsx", MAIN],
      {
        ...commonEnv(),
        SLACK_BOT_TOKEN: "xoxb-test-token",
        SLACK_SIGNING_SECRET: signingSecret,
        SLACK_API_URL: slack.url,
        KEYOPS_APPROVERS: APPROVER,
        PORT: String(port),
      },
      { cwd: ROOT },
    );
    let stderr = "";
    child.stderr?.on("data", (chunk: string) => {
      stderr += chunk;
    });
    const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
    try {
      await eventually(
        "the bot to listen",
        async () => stderr.includes('"message":"KeyOps is listening"'),
        30_000,
      );
      const client = new SlackClient({ url: `http://127.0.0.1:${port}/slack/events`, signingSecret });

      // /key-rotate, clicked through the way people do, until the engine's run is verified.
      const ack = await client.command("/key-rotate", "production", {
        userId: REQUESTER,
        channelId: SECURITY_CHANNEL,
      });
      expect(ack.status).toBe(200);
      const message = await eventually("the workflow message", async () =>
        slack.messages(SECURITY_CHANNEL).find((m) => !m.threadTs && m.blocks),
      );
      const click = async (userId: string, stepKey: string, actionId: string) => {
        const button = await eventually(`${actionId} on ${stepKey}`, async () => {
          for (const block of (slack.message(SECURITY_CHANNEL, message.ts)?.blocks ?? []) as Block[]) {
            const blockId = block.block_id ?? "";
            if (block.type !== "actions" || !(blockId === stepKey || blockId.endsWith(`|${stepKey}`)))
              continue;
            const element = block.elements?.find((e) => e.action_id === actionId);
            if (element) return { blockId, value: element.value };
          }
          return undefined;
        });
        const response = await client.blockAction({
          userId,
          channelId: SECURITY_CHANNEL,
          messageTs: message.ts,
          actionId,
          blockId: button.blockId,
          ...(button.value !== undefined ? { value: button.value } : {}),
        });
        expect(response.status).toBe(200);
      };
      const stepStatus = async (key: string) => {
        const { rows } = await database.db.pool.query<{ status: string }>(
          `SELECT s."status" FROM "WorkflowStep" s JOIN "Workflow" w ON w."id" = s."workflowId"
            WHERE w."messageTs" = $1 AND s."key" = $2`,
          [message.ts, key],
        );
        return rows[0]?.status;
      };
      await click(REQUESTER, "backup-database", "step_done");
      await click(REQUESTER, "generate-key", "step_run");
      await eventually("the new key", async () => (await stepStatus("generate-key")) === "DONE");
      await click(APPROVER, "approval", "step_approve");
      await eventually("the verified rotation", async () => (await stepStatus("verify")) === "DONE", 60_000);

      child.kill("SIGTERM");
      expect(await exited).toBe(0);
    } finally {
      child.kill("SIGKILL");
    }

    const entries = parseLines(stderr);
    const messages = entries.map((e) => e.message);
    expect(messages).toContain("KeyOps is listening");
    expect(entries.find((e) => e.message === "KeyOps is listening")).toMatchObject({ level: "info", port });
    // The engine's own line, with its fields at the top level.
    expect(entries).toContainEqual(
      expect.objectContaining({
        level: "info",
        message: expect.stringMatching(/^rotation (run )?finished$/),
        environment: "production",
        status: "SUCCEEDED",
        reencrypted: ROWS,
      }),
    );
    // The Web API client's and Bolt's lines come through the same logger.
    expect(messages.some((m) => m.includes("apiCall('chat.postMessage')"))).toBe(true);
    expect(entries).toContainEqual(expect.objectContaining({ message: "shutting down", signal: "SIGTERM" }));
  });

  it("the CLI writes its log lines as JSON too, and refuses another format naming the setting", async () => {
    const result = await runKeyops(["rotate", "--json"], commonEnv());
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ environment: "production", status: "SUCCEEDED" });
    const entries = parseLines(result.stderr);
    expect(entries.length).toBeGreaterThan(0);
    expect(entries.map((e) => e.message)).toContainEqual(expect.stringMatching(/^rotation (run )?finished$/));

    const bad = await runKeyops(["keys", "status"], { ...commonEnv(), KEYOPS_LOG_FORMAT: "xml" });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("KEYOPS_LOG_FORMAT");
    expect(thrown(() => loadConfig({ KEYOPS_LOG_FORMAT: "JSON" }), ConfigError).problems.join()).toContain(
      "KEYOPS_LOG_FORMAT",
    );
    expect(loadConfig({}).logFormat).toBe("text");
  });

  it("a field never replaces time, level or message, and any value serialises on one line", () => {
    const lines: string[] = [];
    const log = createLogger("debug", (line) => lines.push(line), "json");
    const loop: Record<string, unknown> = { name: "loop" };
    loop.self = loop;
    log.warn("two\nlines", {
      time: "then",
      level: "low",
      message: "other",
      big: 2n ** 70n,
      error: new Error("boom"),
      loop,
    });
    expect(lines).toHaveLength(1);
    expect(lines[0]?.endsWith("\n")).toBe(true);
    expect(lines[0]?.slice(0, -1)).not.toContain("\n");
    const entry = parseLines(lines.join(""))[0];
    expect(entry).toMatchObject({
      level: "warn",
      message: "two\nlines",
      "field.time": "then",
      "field.level": "low",
      "field.message": "other",
      big: "1180591620717411303424",
      error: "boom",
      loop: { name: "loop", self: "[circular]" },
    });
  });
});
