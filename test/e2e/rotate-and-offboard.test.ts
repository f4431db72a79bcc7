import { DateTime } from "luxon";
import { describe, expect, it } from "vitest";
import { APPROVER, BYSTANDER, eventually, REQUESTER, SECURITY_CHANNEL, useTestBot } from "../support/bot.js";
import { WorkflowDriver } from "../support/workflow-driver.js";

const LEAVER = "U0LEAVERXX";
const app = useTestBot({ rows: 120, env: { KEYOPS_SHARED_ENVIRONMENTS: "none" } });

describe("/key-rotate", () => {
  it("fails closed on a row it cannot decrypt, retries once it is fixed, verifies and records the next date", async () => {
    const { bot, database } = app();
    const rotation = await WorkflowDriver.start(
      app(),
      "/key-rotate",
      "production quarterly rotation",
      REQUESTER,
    );
    await rotation.click(REQUESTER, "backup-database", "step_done");
    await rotation.click(REQUESTER, "generate-key", "step_run");
    await rotation.waitForStep("generate-key", "DONE");

    // A row no key can decrypt (written under a key KeyOps never had).
    await database.db.pool.query(
      `INSERT INTO "PlatformIntegration" ("id", "platform", "displayName", "credentials", "updatedAt")
       VALUES ('zz_corrupt', 'SHOPIFY', 'Corrupt', $1, now())`,
      [`${"a".repeat(24)}:${"b".repeat(32)}:${"c".repeat(40)}`],
    );
    await rotation.click(APPROVER, "approval", "step_approve");
    await rotation.waitForStep("reencrypt", "FAILED", 60_000);
    expect(rotation.messageText()).toContain("*1 row could not be re-encrypted* (left unchanged)");
    expect(rotation.findAction("reencrypt", "step_retry")).toBeDefined();
    const corrupt = await database.db.pool.query(
      `SELECT "credentials" FROM "PlatformIntegration" WHERE "id" = 'zz_corrupt'`,
    );
    expect(corrupt.rows[0].credentials).toBe(`${"a".repeat(24)}:${"b".repeat(32)}:${"c".repeat(40)}`);

    await database.db.pool.query(`DELETE FROM "PlatformIntegration" WHERE "id" = 'zz_corrupt'`);
    await rotation.click(BYSTANDER, "reencrypt", "step_retry");
    await rotation.waitForStep("verify", "DONE", 60_000);
    expect(rotation.messageText()).toContain(
      "production: 120 rows, 0 fail to decrypt, 0 not on v2, digest unchanged",
    );

    await rotation.click(REQUESTER, "store-backup", "step_done");
    await rotation.click(REQUESTER, "record-schedule", "step_run");
    await rotation.waitForStep("record-schedule", "DONE");
    const schedule = await database.db.prisma.rotationSchedule.findUniqueOrThrow({
      where: { environment: "production" },
    });
    const rotated = DateTime.fromJSDate(schedule.lastRotatedAt, { zone: "Europe/Berlin" });
    expect(schedule.timeZone).toBe("Europe/Berlin");
    expect(DateTime.fromJSDate(schedule.nextDueAt, { zone: "Europe/Berlin" }).toISODate()).toBe(
      rotated.plus({ months: 3 }).toISODate(),
    );
    expect(rotation.messageText()).toContain(
      `next rotation due ${rotated.plus({ months: 3 }).toISODate()} (Europe/Berlin)`,
    );
    await rotation.waitForStatus("RESOLVED");
    const timeline = await bot.service.timeline(rotation.workflowId);
    expect(timeline.filter((e) => e.action === "step.failed").map((e) => e.detail.error)).toEqual([
      "1 row could not be re-encrypted",
    ]);
  });
});

describe("/offboard", () => {
  it("rotates what the person could read, before a deadline it shows and reminds of", async () => {
    const { client, slack, bot, database } = app();
    slack.setUser(LEAVER, { name: "leaver" });
    // Only an approver may change the roster.
    await client.command("/keyops", `access grant <@${LEAVER}|leaver> production`, {
      userId: BYSTANDER,
      channelId: SECURITY_CHANNEL,
    });
    await slack.waitFor(
      (c) => c.method === "chat.postEphemeral" && String(c.args.text).includes("Only a configured approver"),
      "a refusal",
    );
    await client.command("/keyops", `access grant <@${LEAVER}|leaver> production`, {
      userId: APPROVER,
      channelId: SECURITY_CHANNEL,
    });
    await slack.waitFor(
      (c) => c.method === "chat.postEphemeral" && String(c.args.text).startsWith("Granted"),
      "the grant",
    );

    // A grant recorded and taken back again leaves no access behind.
    for (const action of ["grant", "revoke"]) {
      await client.command("/keyops", `access ${action} <@${LEAVER}|leaver> staging`, {
        userId: APPROVER,
        channelId: SECURITY_CHANNEL,
      });
      const done = action === "grant" ? "Granted" : "Revoked";
      await slack.waitFor(
        (c) =>
          c.method === "chat.postEphemeral" &&
          String(c.args.text).startsWith(`${done} <@${LEAVER}>`) &&
          String(c.args.text).includes("staging"),
        `the ${action}`,
      );
    }
    await client.command("/keyops", "access list", { userId: APPROVER, channelId: SECURITY_CHANNEL });
    const list = await slack.waitFor(
      (c) => c.method === "chat.postEphemeral" && String(c.args.text).startsWith("*Key access roster*"),
      "the roster",
    );
    expect(String(list.args.text)).toContain(`*production*: <@${LEAVER}>`);
    expect(String(list.args.text)).not.toContain("*staging*");

    const lastDay = DateTime.now().setZone("Europe/Berlin").plus({ days: 3 }).toISODate();
    const offboarding = await WorkflowDriver.start(
      app(),
      "/offboard",
      `<@${LEAVER}|leaver> ${lastDay}`,
      REQUESTER,
    );
    const state = await offboarding.state();
    expect(state.inputs.environments).toEqual(["production"]);
    const expectedDeadline = DateTime.fromISO(lastDay ?? "", { zone: "Europe/Berlin" })
      .endOf("day")
      .plus({ hours: 24 });
    expect(state.deadlineAt?.getTime()).toBe(expectedDeadline.toMillis());
    expect(offboarding.messageText()).toContain(`<!date^${Math.floor(expectedDeadline.toSeconds())}^`);
    expect(await offboarding.stepStatus("approval")).toBe("AWAITING_APPROVAL");

    // Reminders are durable jobs: two hours before the deadline and at it.
    const reminders = await eventually("both reminders queued", async () => {
      const queued = await database.db.pool.query<{ start_after: Date }>(
        `SELECT start_after FROM pgboss.job WHERE name = 'workflow-reminder' AND data->>'workflowId' = $1 ORDER BY start_after`,
        [offboarding.workflowId],
      );
      return queued.rows.length === 2 ? queued : undefined;
    });
    expect(reminders.rows.map((r) => r.start_after.getTime())).toEqual([
      expectedDeadline.minus({ hours: 2 }).toMillis(),
      expectedDeadline.toMillis(),
    ]);
    await bot.service.remind(offboarding.workflowId);
    await eventually("the reminder in the thread", async () =>
      offboarding.thread().some((m) => m.text?.includes("reminder: the rotation is due by")),
    );

    await offboarding.click(REQUESTER, "remove-hosting", "step_done");
    await offboarding.click(REQUESTER, "remove-vaults", "step_done");
    await offboarding.click(REQUESTER, "revoke-roster", "step_run");
    await offboarding.waitForStep("revoke-roster", "DONE");
    const grants = await database.db.prisma.keyAccess.findMany({
      where: { slackUserId: LEAVER },
      orderBy: { id: "asc" },
    });
    expect(grants.map((g) => ({ environment: g.environment, revokedBy: g.revokedBy }))).toEqual([
      { environment: "production", revokedBy: REQUESTER },
      { environment: "staging", revokedBy: APPROVER },
    ]);
    // The workflow's revocation is audited as the roster's own is: one access.revoked per grant.
    const revocations = await database.db.prisma.auditEvent.findMany({
      where: { action: "access.revoked" },
      orderBy: { sequence: "asc" },
    });
    expect(revocations.map((e) => ({ actor: e.actor, workflowId: e.workflowId, detail: e.detail }))).toEqual([
      { actor: APPROVER, workflowId: null, detail: { user: LEAVER, environment: "staging" } },
      {
        actor: REQUESTER,
        workflowId: offboarding.workflowId,
        detail: { user: LEAVER, environment: "production" },
      },
    ]);
    await offboarding.click(APPROVER, "approval", "step_approve");
    await offboarding.waitForStep("rotate", "DONE", 60_000);
    await offboarding.waitForStatus("RESOLVED");
    const active = (await bot.runtime.engine.status("production")).activeVersion;
    expect(offboarding.messageText()).toContain(`re-encrypted to v${active}`);
  });
});
