import { describe, expect, it } from "vitest";
import { startBot } from "../../src/bot.js";
import { APPROVER, eventually, REQUESTER, SECURITY_CHANNEL, useTestBot } from "../support/bot.js";
import { testLogger } from "../support/engine.js";
import { newTriggerId, signSlackRequest } from "../support/slack/signed-requests.js";
import { WorkflowDriver } from "../support/workflow-driver.js";

const app = useTestBot({ rows: 40, env: { KEYOPS_SHARED_ENVIRONMENTS: "none" } });

const countWorkflows = () => app().database.db.prisma.workflow.count();
const countEvents = () => app().database.db.prisma.auditEvent.count();

describe("Slack's request signing", () => {
  const body = new URLSearchParams({
    command: "/key-rotate",
    text: "production",
    user_id: REQUESTER,
    channel_id: SECURITY_CHANNEL,
    trigger_id: "1.2.3",
  }).toString();

  it("refuses a bad signature, a stale timestamp and a missing signature with 401, changing nothing", async () => {
    const { client } = app();
    const before = await countWorkflows();
    const now = Math.floor(Date.now() / 1000);
    const bad = await client.send(body, "application/x-www-form-urlencoded", {
      signature: signSlackRequest("not-the-secret", now, body),
    });
    expect(bad.status).toBe(401);
    const stale = await client.send(body, "application/x-www-form-urlencoded", { timestamp: now - 6 * 60 });
    expect(stale.status).toBe(401);
    const unsigned = await client.send(body, "application/x-www-form-urlencoded", { signature: "" });
    expect(unsigned.status).toBe(401);
    expect(await countWorkflows()).toBe(before);
  });
});

describe("idempotency", () => {
  it("a command Slack retries (same trigger_id, x-slack-retry-num) starts one workflow and posts once", async () => {
    const { client, slack } = app();
    const before = await countWorkflows();
    const triggerId = newTriggerId();
    const at = { userId: REQUESTER, channelId: SECURITY_CHANNEL, triggerId };
    const first = await client.command("/key-rotate", "staging retried", at);
    const retries = await Promise.all([
      client.command("/key-rotate", "staging retried", {
        ...at,
        headers: { "x-slack-retry-num": "1", "x-slack-retry-reason": "http_timeout" },
      }),
      client.command("/key-rotate", "staging retried", {
        ...at,
        headers: { "x-slack-retry-num": "2", "x-slack-retry-reason": "http_timeout" },
      }),
    ]);
    expect([first, ...retries].map((r) => r.status)).toEqual([200, 200, 200]);
    await eventually("the workflow", async () => (await countWorkflows()) === before + 1);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(await countWorkflows()).toBe(before + 1);
    const posts = slack
      .callsOf("chat.postMessage")
      .filter((c) => !c.args.thread_ts && JSON.stringify(c.args.blocks).includes("retried"));
    expect(posts).toHaveLength(1);
  });

  it("a replayed action changes nothing; double clicks approve once and rotate once", async () => {
    const { client, bot } = app();
    const rotation = await WorkflowDriver.start(app(), "/key-rotate", "production double click", REQUESTER);
    await rotation.click(REQUESTER, "backup-database", "step_done");
    await rotation.waitForStep("backup-database", "DONE");

    // The same signed request delivered twice (a replay within the 5-minute window).
    const done = rotation.findAction("store-backup", "step_done");
    const request = client.blockActionRequest({
      userId: REQUESTER,
      channelId: SECURITY_CHANNEL,
      messageTs: rotation.messageTs,
      actionId: "step_done",
      blockId: done?.blockId ?? "",
      value: done?.value ?? "",
    });
    await request.send();
    await rotation.waitForStep("store-backup", "DONE");
    const eventsAfterFirst = await countEvents();
    const replay = await request.send();
    expect(replay.status).toBe(200);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(await countEvents()).toBe(eventsAfterFirst);

    await rotation.click(REQUESTER, "generate-key", "step_run");
    await rotation.waitForStep("generate-key", "DONE");
    await Promise.all([
      rotation.click(APPROVER, "approval", "step_approve"),
      rotation.click(APPROVER, "approval", "step_approve"),
      rotation.click(APPROVER, "approval", "step_approve"),
    ]);
    await rotation.waitForStep("verify", "DONE", 60_000);
    const timeline = await bot.service.timeline(rotation.workflowId);
    expect(timeline.filter((e) => e.action === "approval.approved")).toHaveLength(1);
    expect(timeline.filter((e) => e.action === "step.started" && e.stepKey === "reencrypt")).toHaveLength(1);
    expect(await rotation.ephemeralTo(APPROVER)).toMatch(/already done/);
    const runs = await app().database.db.prisma.rotationRun.findMany({
      where: { requestedBy: `workflow:${rotation.workflowId}` },
    });
    expect(runs).toHaveLength(1);
  });

  it("two replicas receiving the same approval approve once and run the rotation once", async () => {
    const { client, config } = app();
    const replica = await startBot(config, testLogger, { progressIntervalMs: 0 });
    try {
      const otherUrl = `http://127.0.0.1:${replica.port}/slack/events`;
      const rotation = await WorkflowDriver.start(app(), "/key-rotate", "production two replicas", REQUESTER);
      await rotation.click(REQUESTER, "generate-key", "step_run");
      await rotation.waitForStep("generate-key", "DONE");
      const approve = rotation.findAction("approval", "step_approve");
      const request = client.blockActionRequest({
        userId: APPROVER,
        channelId: SECURITY_CHANNEL,
        messageTs: rotation.messageTs,
        actionId: "step_approve",
        blockId: approve?.blockId ?? "",
        value: approve?.value ?? "",
      });
      const answers = await Promise.all([request.send(), request.send(otherUrl)]);
      expect(answers.map((a) => a.status)).toEqual([200, 200]);
      await rotation.waitForStep("verify", "DONE", 60_000);
      const timeline = await app().bot.service.timeline(rotation.workflowId);
      expect(timeline.filter((e) => e.action === "approval.approved")).toHaveLength(1);
      expect(timeline.filter((e) => e.action === "permission.refused")).toHaveLength(0);
      const runs = await app().database.db.prisma.rotationRun.findMany({
        where: { requestedBy: `workflow:${rotation.workflowId}` },
      });
      expect(runs).toHaveLength(1);
    } finally {
      await replica.stop();
    }
  });
});
