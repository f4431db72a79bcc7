import { describe, expect, it } from "vitest";
import { APPROVER, REQUESTER, SECURITY_CHANNEL, useTestBot } from "../support/bot.js";
import { runKeyops } from "../support/cli.js";
import { newTestKey } from "../support/database.js";
import { WorkflowDriver } from "../support/workflow-driver.js";

// The guide's "Key Lost" as /key-lost: check the backups; found, `keyops keys import` takes the
// key back (only the version's own key); not found, a second person confirms, KeyOps counts what
// was under it, marks it lost, activates a new key and records the rows for re-authentication.

const app = useTestBot({ rows: 10, env: { KEYOPS_SHARED_ENVIRONMENTS: "none" } });
const BACKUP_CHECKS = ["check-password-manager", "check-secure-notes", "check-backup-files"];

const prisma = () => app().database.db.prisma;
const v1 = () =>
  prisma().keyVersion.findUniqueOrThrow({
    where: { environment_version: { environment: "production", version: 1 } },
  });
/** What a damaged keyring looks like: KeyOps's wrapped copy of v1 is gone. */
const loseV1 = () =>
  prisma().keyVersion.update({
    where: { environment_version: { environment: "production", version: 1 } },
    data: { wrappedKey: null },
  });
const importKey = (input: string) =>
  runKeyops(
    ["keys", "import", "--env", "production", "--version", "1"],
    {
      DATABASE_URL: app().database.url,
      KEYOPS_MASTER_KEY: app().database.masterKey.exposeBase64(),
      KEYOPS_ENVIRONMENT: "production",
      KEYOPS_LOG_LEVEL: "error",
    },
    { input },
  );

async function ackOf(text: string) {
  const response = await app().client.command("/key-lost", text, {
    userId: REQUESTER,
    channelId: SECURITY_CHANNEL,
  });
  expect(response.status).toBe(200);
  return response.body === "" ? {} : response.json();
}

const statuses = async (driver: WorkflowDriver) =>
  Object.fromEntries((await driver.state()).steps.map((s) => [s.key, s.status]));

describe("/key-lost (the guide's Key Lost)", () => {
  it("refuses an unknown environment, NUL bytes, a drill and nothing lost, changing nothing", async () => {
    const { slack } = app();
    const before = { workflows: await prisma().workflow.count(), events: await prisma().auditEvent.count() };
    expect(before.events).toBe(0);
    expect(await ackOf("moon")).toEqual({
      response_type: "ephemeral",
      text: 'unknown environment "moon" (expected development, staging, production)',
    });
    expect(await ackOf("production\u0000")).toEqual({
      response_type: "ephemeral",
      text: "The command text holds a control or text-direction character (U+0000); type it again without it. Nothing was changed.",
    });
    expect(await ackOf("drill production")).toEqual({
      response_type: "ephemeral",
      text: "/key-lost has no drill",
    });
    const help = await app().client.command("/keyops", "help", {
      userId: REQUESTER,
      channelId: SECURITY_CHANNEL,
    });
    expect(JSON.stringify(help.json())).toContain("/key-lost` [environment] — a key KeyOps no longer holds");
    for (const environment of ["production", "staging"]) {
      slack.clear();
      expect(await ackOf(environment)).toEqual({});
      const reply = await slack.waitFor("chat.postEphemeral", `the refusal for ${environment}`);
      expect(reply.args).toMatchObject({
        user: REQUESTER,
        text:
          `nothing to recover: KeyOps holds the key of every version of ${environment} but those already marked ` +
          "lost (a backup of one of those comes back with keyops keys import). Nothing was changed.",
      });
    }
    // The NUL byte's refusal is itself audited (permission.refused); nothing else was written.
    expect(await prisma().workflow.count()).toBe(before.workflows);
    const events = await prisma().auditEvent.findMany({ where: { sequence: { gt: before.events } } });
    expect(events.map((e) => e.action)).toEqual(["permission.refused"]);
  });

  it("found: a wrong key is refused, the right one is taken back, and the not-found branch closes by itself", async () => {
    await loseV1();
    const lost = await WorkflowDriver.start(app(), "/key-lost", "production", REQUESTER);
    const state = await lost.state();
    expect(state.title).toBe("Production key v1 lost");
    expect(state.inputs.keyVersion).toBe(1);
    expect(await statuses(lost)).toMatchObject({
      "check-password-manager": "PENDING",
      "key-recovered": "PENDING",
      "confirm-unrecoverable": "PENDING",
      "mark-lost": "PENDING",
    });
    await lost.click(REQUESTER, "check-password-manager", "step_done");
    await lost.waitForStep("check-password-manager", "DONE");

    // Before the import: the check fails, saying what to do.
    await lost.click(REQUESTER, "key-recovered", "step_run");
    await lost.waitForStep("key-recovered", "FAILED");
    expect((await lost.state()).steps.find((s) => s.key === "key-recovered")?.error).toMatch(
      /v1 \(fingerprint [0-9a-f]{8}\) is still lost to KeyOps; take it back from the backup with keyops keys import --env production --version 1, then Retry/,
    );

    const wrong = newTestKey();
    const refused = await importKey(`${wrong.exposeBase64()}\n`);
    expect({ code: refused.code, stdout: refused.stdout, stderr: refused.stderr }).toEqual({
      code: 4,
      stdout: "",
      stderr:
        `keyops: that key is not version 1 of production (fingerprint ${wrong.fingerprint}, expected ` +
        `${app().legacyKey.fingerprint}); nothing was changed\n`,
    });
    expect((await v1()).wrappedKey).toBeNull();

    const imported = await importKey(`${app().legacyKey.exposeBase64()}\n`);
    expect({ code: imported.code, stderr: imported.stderr }).toEqual({ code: 0, stderr: "" });
    expect(await v1()).toMatchObject({ state: "ACTIVE", wrappedKey: expect.any(String), lostAt: null });

    await lost.click(REQUESTER, "key-recovered", "step_retry");
    await lost.waitForStep("key-recovered", "DONE");
    await lost.waitForStatus("RESOLVED");
    expect(await statuses(lost)).toEqual({
      "check-password-manager": "DONE",
      "check-secure-notes": "SKIPPED",
      "check-backup-files": "SKIPPED",
      "key-recovered": "DONE",
      "confirm-unrecoverable": "SKIPPED",
      "count-rows": "SKIPPED",
      "mark-lost": "SKIPPED",
      "generate-key": "SKIPPED",
      "activate-key": "SKIPPED",
      "record-reauth": "SKIPPED",
      "notify.amazon": "SKIPPED",
      "notify.shopify": "SKIPPED",
    });
    expect(lost.messageText()).toContain("is back: 10 rows under it decrypt");
    expect(lost.messageText()).toContain("not needed: Check the key is back is done");
    const events = await prisma().auditEvent.findMany({ where: { action: "key.imported" } });
    expect(events.map((e) => e.detail)).toEqual([
      { environment: "production", version: 1, fingerprint: app().legacyKey.fingerprint, state: "ACTIVE" },
    ]);
    expect(await prisma().keyVersion.count({ where: { environment: "production" } })).toBe(1);
  });

  it("not found: a second person confirms; counts per platform, v1 lost, a new key active, the rows to re-authenticate", async () => {
    await loseV1();
    const perPlatform = Object.fromEntries(
      (
        await app().database.db.pool.query<{ platform: string; n: number }>(
          `SELECT "platform"::text AS platform, count(*)::int AS n FROM "PlatformIntegration" GROUP BY 1`,
        )
      ).rows.map((r) => [r.platform, r.n]),
    );
    const lost = await WorkflowDriver.start(app(), "/key-lost", "production", REQUESTER);
    const notify = (await lost.state()).steps.filter((s) => s.key.startsWith("notify."));
    expect(notify.map((s) => s.title).sort()).toEqual(
      Object.entries(perPlatform)
        .map(
          ([p, n]) =>
            `Notify ${p.charAt(0)}${p.slice(1).toLowerCase()} users to reconnect: ${n} integration${n === 1 ? "" : "s"}`,
        )
        .sort(),
    );
    for (const key of BACKUP_CHECKS) await lost.click(REQUESTER, key, "step_done");
    await lost.waitForStep("confirm-unrecoverable", "AWAITING_APPROVAL");

    // The two-person rule: the requester cannot confirm it themselves.
    await lost.click(REQUESTER, "confirm-unrecoverable", "step_approve");
    expect(await lost.ephemeralTo(REQUESTER)).toMatch(/two-person rule/);
    expect(await lost.stepStatus("confirm-unrecoverable")).toBe("AWAITING_APPROVAL");

    await lost.click(APPROVER, "confirm-unrecoverable", "step_approve");
    await lost.waitForStep("record-reauth", "DONE");
    await lost.waitForStep("activate-key", "DONE");
    expect(await statuses(lost)).toMatchObject({
      "key-recovered": "SKIPPED",
      "count-rows": "DONE",
      "mark-lost": "DONE",
      "generate-key": "DONE",
    });
    expect(await v1()).toMatchObject({ state: "LOST", wrappedKey: null, lostAt: expect.any(Date) });
    const status = await app().bot.runtime.engine.status("production");
    expect(status.activeVersion).toBe(2);
    expect(status.versions.map((v) => [v.version, v.state])).toEqual([
      [1, "LOST"],
      [2, "ACTIVE"],
    ]);
    const counted = Object.entries(perPlatform)
      .sort()
      .map(([p, n]) => `${p} ${n}`)
      .join(", ");
    expect(lost.messageText()).toContain(`integrations per platform: ${counted}`);
    expect(lost.messageText()).toContain("nothing decrypted");

    const ids = (
      await app().database.db.pool.query<{ id: string }>(
        `SELECT "id" FROM "PlatformIntegration" ORDER BY "id"`,
      )
    ).rows.map((r) => r.id);
    const listed = await runKeyops(["reauth", "list", "--env", "production", "--ids"], {
      DATABASE_URL: app().database.url,
      KEYOPS_MASTER_KEY: app().database.masterKey.exposeBase64(),
      KEYOPS_LOG_LEVEL: "error",
    });
    expect({ code: listed.code, stderr: listed.stderr }).toEqual({ code: 0, stderr: "" });
    expect(listed.stdout.trim().split("\n")).toEqual(ids);
    const recorded = await prisma().reauthRow.findMany({ where: { environment: "production" } });
    expect(new Set(recorded.map((r) => r.workflowId))).toEqual(new Set([lost.workflowId]));

    for (const step of notify) await lost.click(REQUESTER, step.key, "step_done");
    await lost.waitForStatus("RESOLVED");

    // Settled: v1 is LOST, so there is nothing left for /key-lost to start on.
    app().slack.clear();
    expect(await ackOf("production")).toEqual({});
    const reply = await app().slack.waitFor("chat.postEphemeral", "the refusal");
    expect(String(reply.args.text)).toMatch(/^nothing to recover/);
  });
});
