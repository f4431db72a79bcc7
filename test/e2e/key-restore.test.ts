import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  APPROVER,
  GROUP_APPROVER,
  REQUESTER,
  SECURITY_CHANNEL,
  startTestBot,
  type TestBot,
} from "../support/bot.js";
import { createEmptyDatabase } from "../support/database.js";
import { engineFor } from "../support/engine.js";
import { WorkflowDriver } from "../support/workflow-driver.js";

// Issue 11 part 2 through signed Slack requests: /key-restore (the guide's Database Backup Restore)
// reads the restored copy named in configuration, never a URL typed into Slack; /key-destroy
// erases a retired key after its retention, approved by two different approvers.

let app: TestBot;
let copy: Awaited<ReturnType<typeof createEmptyDatabase>>;
const bot = () => app;

beforeAll(async () => {
  copy = await createEmptyDatabase();
  app = await startTestBot({ rows: 5, env: { KEYOPS_RESTORE_DATABASE_URL_PRODUCTION: copy.url } });
  // The restored backup: the live rows as they are now (the guide's legacy format, v1).
  const { rows } = await app.database.db.pool.query<{ id: string; credentials: string }>(
    `SELECT id, credentials FROM "PlatformIntegration"`,
  );
  await copy.pool.query(
    `CREATE TABLE "PlatformIntegration" (id text PRIMARY KEY, credentials text NOT NULL)`,
  );
  await copy.pool.query(`INSERT INTO "PlatformIntegration" SELECT * FROM unnest($1::text[], $2::text[])`, [
    rows.map((r) => r.id),
    rows.map((r) => r.credentials),
  ]);
});

afterAll(async () => {
  await app?.stop();
  await copy?.drop();
});

async function ackOf(command: string, text: string) {
  const response = await app.client.command(command, text, {
    userId: REQUESTER,
    channelId: SECURITY_CHANNEL,
  });
  expect(response.status).toBe(200);
  return response.body === "" ? {} : response.json();
}

/** A refusal that comes after the ack (the start looked at the keyring): ephemeral, nothing written. */
async function refusedAfterAck(command: string, text: string, expected: string | RegExp) {
  const workflows = await app.database.db.prisma.workflow.count();
  app.slack.clear();
  expect(await ackOf(command, text)).toEqual({});
  const reply = await app.slack.waitFor("chat.postEphemeral", `the refusal of ${command} ${text}`);
  expect(reply.args).toMatchObject({ user: REQUESTER, channel: SECURITY_CHANNEL });
  expect(String(reply.args.text)).toMatch(expected);
  expect(await app.database.db.prisma.workflow.count()).toBe(workflows);
}

describe("/key-restore", () => {
  it("checks the configured copy, then restore, verify and record; the thread never holds the URL", async () => {
    const restore = await WorkflowDriver.start(
      bot(),
      "/key-restore",
      "production backup of 2026-11-30",
      REQUESTER,
    );
    const state = await restore.state();
    expect(state.title).toBe("Production backup restore: backup of 2026-11-30");
    expect(state.steps.map((s) => [s.key, s.status])).toEqual([
      ["backup-check", "PENDING"],
      ["restore", "PENDING"],
      ["verify", "PENDING"],
      ["record", "PENDING"],
    ]);
    await restore.click(REQUESTER, "backup-check", "step_run");
    await restore.waitForStep("backup-check", "DONE");
    expect(restore.messageText()).toMatch(/production backup: 5 rows, all decrypt/);
    expect(restore.messageText()).toMatch(
      /production backup needs v1 \(active, fingerprint [0-9a-f]{8}\): 5 rows/,
    );

    await restore.click(REQUESTER, "restore", "step_done");
    await restore.waitForStep("verify", "DONE");
    expect(restore.messageText()).toMatch(/production: 5 rows, all decrypt \(v1: 5\)/);
    await restore.click(REQUESTER, "record", "step_done");
    await restore.waitForStatus("RESOLVED");

    const everything = JSON.stringify(app.slack.calls);
    expect(everything).not.toContain(copy.url);
    const password = new URL(copy.url).password;
    if (password) expect(everything).not.toContain(password);
  });

  it("a backup row no held version reads fails the check, naming it; an environment with no copy says what to run", async () => {
    await copy.pool.query(
      `INSERT INTO "PlatformIntegration" VALUES ('zz-foreign', 'v9:000000000000000000000000:00000000000000000000000000000000:00')`,
    );
    try {
      const restore = await WorkflowDriver.start(bot(), "/key-restore", "production", REQUESTER);
      await restore.click(REQUESTER, "backup-check", "step_run");
      await restore.waitForStep("backup-check", "FAILED");
      const failed = (await restore.state()).steps.find((s) => s.key === "backup-check");
      expect(failed?.error).toMatch(/production: 1 row of the backup cannot be read \(first: zz-foreign\)/);
      expect(restore.messageText()).toMatch(/v9 \(unknown to KeyOps\): 1 row, 1 do not decrypt/);
    } finally {
      await copy.pool.query(`DELETE FROM "PlatformIntegration" WHERE id = 'zz-foreign'`);
    }

    const staging = await WorkflowDriver.start(bot(), "/key-restore", "staging", REQUESTER);
    await staging.click(REQUESTER, "backup-check", "step_run");
    await staging.waitForStep("backup-check", "FAILED");
    const step = (await staging.state()).steps.find((s) => s.key === "backup-check");
    expect(step?.error).toMatch(
      /staging: no restored copy is configured \(KEYOPS_RESTORE_DATABASE_URL_STAGING\); run keyops backup check --env staging --database-url <the restored copy>/,
    );
  });

  it("refuses an unknown environment and control characters, starting nothing", async () => {
    const before = await app.database.db.prisma.workflow.count();
    expect(await ackOf("/key-restore", "moon backup")).toEqual({
      response_type: "ephemeral",
      text: 'unknown environment "moon" (expected development, staging, production)',
    });
    const control = await ackOf("/key-restore", "production backup\u0000");
    expect(String((control as { text?: string }).text)).toMatch(
      /control or text-direction character \(U\+0000\)/,
    );
    expect(await app.database.db.prisma.workflow.count()).toBe(before);
    const help = JSON.stringify(await ackOf("/keyops", "help"));
    expect(help).toContain("/key-restore` [environment] [backup date or note] — restore a database backup");
    expect(help).toContain("/key-destroy` <environment> <version> — erase a retired key");
  });
});

describe("/key-destroy", () => {
  it("refuses bad input, a missing, active or retained version, naming the date retention ends", async () => {
    expect(await ackOf("/key-destroy", "")).toEqual({
      response_type: "ephemeral",
      text: "say which environment and version: /key-destroy <environment> <version>",
    });
    expect(await ackOf("/key-destroy", "production")).toMatchObject({
      text: expect.stringMatching(/say which/),
    });
    expect(await ackOf("/key-destroy", "moon 1")).toMatchObject({
      text: 'unknown environment "moon" (expected development, staging, production)',
    });
    await refusedAfterAck(
      "/key-destroy",
      "production 9",
      "production has no key version 9. Nothing was changed.",
    );
    await refusedAfterAck(
      "/key-destroy",
      "production 1",
      "v1 of production is active: only a retired version can be destroyed. Nothing was changed.",
    );

    // Rotate the rows away from v1 and retire it: it is then retained for a year.
    const { engine } = engineFor(app.database);
    await engine.rotate("production");
    await engine.retire("production", 1);
    const until = new Date(Date.now() + 365 * 86_400_000).toISOString().slice(0, 10);
    await refusedAfterAck(
      "/key-destroy",
      "production v1",
      `v1 of production is retained until ${until} (KEYOPS_RETIRED_KEY_RETENTION_DAYS), so that backups of its era ` +
        "can still be read: it cannot be destroyed before then. Nothing was changed.",
    );
  });

  it("after retention: two different approvers, neither the requester, then the key is erased and audited", async () => {
    // A retention period that has run out (the retirement moved back, not waited for).
    await app.database.db.prisma.keyVersion.updateMany({
      where: { environment: "production", version: 1 },
      data: { retiredAt: new Date(Date.now() - 400 * 86_400_000) },
    });
    const destroy = await WorkflowDriver.start(bot(), "/key-destroy", "production 1", REQUESTER);
    expect((await destroy.state()).steps.map((s) => [s.key, s.status])).toEqual([
      ["confirm-backups", "PENDING"],
      ["approval", "AWAITING_APPROVAL"],
      ["second-approval", "PENDING"],
      ["destroy", "PENDING"],
    ]);
    await destroy.click(REQUESTER, "approval", "step_approve");
    expect(await destroy.ephemeralTo(REQUESTER)).toMatch(/two-person rule/);
    await destroy.click(APPROVER, "approval", "step_approve");
    await destroy.waitForStep("second-approval", "AWAITING_APPROVAL");
    await destroy.click(APPROVER, "second-approval", "step_approve");
    expect(await destroy.ephemeralTo(APPROVER)).toMatch(/you approved \*Approve destroying v1\* already/);
    expect(await destroy.stepStatus("second-approval")).toBe("AWAITING_APPROVAL");
    await destroy.click(GROUP_APPROVER, "second-approval", "step_approve");
    expect(await destroy.stepStatus("destroy")).toBe("PENDING"); // waits for the backups' confirmation
    await destroy.click(REQUESTER, "confirm-backups", "step_done");
    await destroy.waitForStep("destroy", "DONE");
    await destroy.waitForStatus("RESOLVED");

    const row = await app.database.db.prisma.keyVersion.findFirstOrThrow({
      where: { environment: "production", version: 1 },
    });
    expect(row).toMatchObject({
      state: "DESTROYED",
      wrappedKey: null,
      destroyedBy: `${APPROVER},${GROUP_APPROVER}`,
    });
    const events = await app.database.db.prisma.auditEvent.findMany({ where: { action: "key.destroyed" } });
    expect(events.map((e) => ({ workflowId: e.workflowId, detail: e.detail }))).toEqual([
      {
        workflowId: destroy.workflowId,
        detail: {
          environment: "production",
          version: 1,
          fingerprint: row.fingerprint,
          approvedBy: `@${APPROVER} and @${GROUP_APPROVER}`,
        },
      },
    ]);
    expect(destroy.messageText()).toMatch(
      /v1 \(fingerprint [0-9a-f]{8}\) destroyed: its wrapped key is erased/,
    );
    await refusedAfterAck(
      "/key-destroy",
      "production 1",
      "v1 of production is already destroyed. Nothing was changed.",
    );
  });
});
