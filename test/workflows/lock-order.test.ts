import { setTimeout as sleep } from "node:timers/promises";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PermissionRefusedError } from "../../src/workflows/authority.js";
import { BYSTANDER, REQUESTER, startTestBot, type TestBot } from "../support/bot.js";
import { WorkflowDriver } from "../support/workflow-driver.js";

/** What apply() takes after the workflow's row (src/workflows/audit-log.ts). */
const AUDIT_APPEND_LOCK = 4_712_001;

let app: TestBot;

beforeAll(async () => {
  app = await startTestBot({ rows: 5 });
});

afterAll(async () => {
  await app?.stop();
});

describe("lock order", () => {
  it("a refusal audited while a transition holds the workflow's row waits its turn: no deadlock", async () => {
    const w = await WorkflowDriver.start(app, "/key-rotate", "staging", REQUESTER);
    // A transition in flight (a page job's, say): the workflow's row first, then the audit lock.
    const transition = new pg.Client({ connectionString: app.database.url });
    await transition.connect();
    try {
      await transition.query("BEGIN");
      await transition.query(`SELECT 1 FROM "Workflow" WHERE id = $1 FOR UPDATE`, [w.workflowId]);
      // Meanwhile a bystander's click is refused and the refusal audited (its outbox row points at
      // the workflow's row).
      const refusal = app.bot.service
        .check(w.workflowId, { type: "cancel", actor: BYSTANDER, reason: "not mine to cancel" })
        .then(
          () => new Error("the bystander's cancel was accepted"),
          (error: Error) => error,
        );
      await sleep(300);
      await transition.query("SELECT set_config('lock_timeout', '5s', true)");
      await transition.query(`SELECT pg_advisory_xact_lock(${AUDIT_APPEND_LOCK})`);
      await transition.query("COMMIT");
      expect(await refusal).toBeInstanceOf(PermissionRefusedError);
    } finally {
      await transition.end();
    }
    const audited = await app.database.db.prisma.auditEvent.count({
      where: { workflowId: w.workflowId, action: "permission.refused", actor: BYSTANDER },
    });
    expect(audited).toBe(1);
  });
});
