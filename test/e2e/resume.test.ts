import pg from "pg";
import { describe, expect, it } from "vitest";
import { startBot } from "../../src/bot.js";
import { APPROVER, eventually, REQUESTER, useTestBot } from "../support/bot.js";
import { testLogger } from "../support/engine.js";
import { WorkflowDriver } from "../support/workflow-driver.js";

const app = useTestBot({ rows: 30, env: { KEYOPS_SHARED_ENVIRONMENTS: "none" } });

describe("rotations survive what happens around them", () => {
  it("waits its turn while another process holds the environment's rotation, then runs", async () => {
    const other = new pg.Client({ connectionString: app().database.url });
    await other.connect();
    try {
      await other.query("SELECT pg_advisory_lock(hashtext('keyops:rotation:production'))");
      const rotation = await WorkflowDriver.start(app(), "/key-rotate", "production while busy", REQUESTER);
      await rotation.click(REQUESTER, "generate-key", "step_run");
      await rotation.waitForStep("generate-key", "DONE");
      await rotation.click(APPROVER, "approval", "step_approve");
      await rotation.waitForStep("reencrypt", "RUNNING");
      await new Promise((resolve) => setTimeout(resolve, 2500));
      expect(await rotation.stepStatus("reencrypt")).toBe("RUNNING");
      await other.query("SELECT pg_advisory_unlock(hashtext('keyops:rotation:production'))");
      await rotation.waitForStep("verify", "DONE", 30_000);
      const timeline = await app().bot.service.timeline(rotation.workflowId);
      expect(timeline.filter((e) => e.action === "step.failed")).toEqual([]);
    } finally {
      await other.end();
    }
  });

  it("a rotation whose process died before its job was queued is resumed by the next start", async () => {
    const { database, config } = app();
    const rotation = await WorkflowDriver.start(app(), "/key-rotate", "production crash", REQUESTER);
    await rotation.click(REQUESTER, "generate-key", "step_run");
    await rotation.waitForStep("generate-key", "DONE");
    // What a process leaves behind when it dies right after committing the approval: the step
    // is RUNNING, and no job was ever queued for it.
    await database.db.pool.query(
      `UPDATE "WorkflowStep" SET "status" = CASE "key" WHEN 'approval' THEN 'DONE'::"StepStatus" ELSE 'RUNNING'::"StepStatus" END,
         "finishedBy" = CASE "key" WHEN 'approval' THEN $2 ELSE NULL END
       WHERE "workflowId" = $1 AND "key" IN ('approval', 'reencrypt')`,
      [rotation.workflowId, APPROVER],
    );
    const restarted = await startBot(config, testLogger, { progressIntervalMs: 0 });
    try {
      await eventually(
        "the resumed rotation",
        async () => (await rotation.stepStatus("verify")) === "DONE",
        30_000,
      );
      const runs = await database.db.prisma.rotationRun.findMany({
        where: { requestedBy: `workflow:${rotation.workflowId}` },
      });
      expect(runs.map((r) => r.status)).toEqual(["SUCCEEDED"]);
    } finally {
      await restarted.stop();
    }
  });
});
