import { describe, expect, it } from "vitest";
import { eventually, REQUESTER, useTestBot } from "../support/bot.js";
import { WorkflowDriver } from "../support/workflow-driver.js";

const app = useTestBot({ rows: 10 });

describe("Slack refusing a publication for good", () => {
  it("a re-render Slack can never apply (message_not_found) is skipped and logged; the thread lines after it still come, at once", async () => {
    const { slack, database } = app();
    const w = await WorkflowDriver.start(app(), "/key-rotate", "staging", REQUESTER);
    await eventually("the start's thread line", async () => w.thread().length >= 1);
    const linesBefore = w.thread().length;
    // Every re-render from now on is refused as it would be for a deleted message.
    for (let i = 0; i < 20; i++) slack.failNext("chat.update", "message_not_found");

    await w.click(REQUESTER, "backup-database", "step_done");
    // Retried with backoff (1 s, 2 s, 4 s … ) the re-render would hold the line back for minutes.
    await eventually("the step's thread line", async () => w.thread().length > linesBefore, 10_000);

    const { rows } = await database.db.pool.query<{
      kind: string;
      lastError: string | null;
      delivered: boolean;
    }>(
      `SELECT kind, "lastError", "deliveredAt" IS NOT NULL AS delivered FROM "Publication"
        WHERE "workflowId" = $1 AND "lastError" IS NOT NULL`,
      [w.workflowId],
    );
    expect(rows).toEqual([
      { kind: "update", lastError: "refused for good: message_not_found", delivered: true },
    ]);
    const refusedUpdates = slack.calls.filter((c) => c.method === "chat.update" && c.error);
    expect(refusedUpdates).toHaveLength(1);
  });
});
