import { describe, expect, it } from "vitest";
import { verifyAuditChain } from "../../src/workflows/audit-log.js";
import {
  APPROVER_GROUP,
  BYSTANDER,
  eventually,
  GROUP_APPROVER,
  REQUESTER,
  useTestBot,
} from "../support/bot.js";
import { WorkflowDriver } from "../support/workflow-driver.js";

const ROWS = 300;
const app = useTestBot({ rows: ROWS });

describe("a /key-compromised incident, from the command to resolution", () => {
  it("pages nobody (PagerDuty off), works the checklist, rotates for real after approval, and resolves", async () => {
    const { client, slack, bot, legacyKey, database } = app();
    const engine = bot.runtime.engine;
    const before = await engine.verify("production");
    expect(before.rows).toBe(ROWS);

    const incident = await WorkflowDriver.start(
      app(),
      "/key-compromised",
      "production key pasted in a public gist",
      REQUESTER,
    );
    const opened = incident.messageText();
    expect(opened).toContain("Production encryption key compromised");
    expect(opened).toContain("critical");
    expect(opened).toContain("Paging is off");
    expect(opened).toContain("Shopify: 200 integrations");
    expect(opened).toContain("Amazon: 100 integrations");

    await incident.click(BYSTANDER, "assess-scope", "step_done");
    await incident.waitForStep("assess-scope", "DONE");

    await incident.click(REQUESTER, "generate-key", "step_run");
    await incident.waitForStep("generate-key", "DONE");
    const generated = (await engine.keys.list("production")).find((v) => v.version === 2);
    expect(generated?.state).toBe("PENDING");
    expect(incident.messageText()).toContain(`fingerprint ${generated?.fingerprint}`);
    expect(await incident.stepStatus("approve-rotation")).toBe("AWAITING_APPROVAL");
    const approvalNote = await eventually("the approval request", async () =>
      incident.thread().find((m) => m.text?.includes("needs your approval")),
    );
    expect(approvalNote.text).toContain(`<!subteam^${APPROVER_GROUP}>`);

    // Two-person rule: the requester cannot approve, even though the button is there.
    await incident.click(REQUESTER, "approve-rotation", "step_approve");
    expect(await incident.ephemeralTo(REQUESTER)).toMatch(/two-person rule/);
    expect(await incident.stepStatus("approve-rotation")).toBe("AWAITING_APPROVAL");
    await incident.click(BYSTANDER, "approve-rotation", "step_approve");
    expect(await incident.ephemeralTo(BYSTANDER)).toMatch(/only a configured approver/);

    // A member of the approvers' user group approves; the rotation runs as a job.
    await incident.click(GROUP_APPROVER, "approve-rotation", "step_approve");
    await incident.waitForStep("rotate", "DONE", 60_000);
    const after = await engine.verify("production");
    expect(after).toMatchObject({ rows: ROWS, failed: 0, notOnActive: 0, activeVersion: 2 });
    expect(after.plaintextDigest).toBe(before.plaintextDigest);
    const versions = await engine.keys.list("production");
    expect(versions.find((v) => v.version === 1)?.state).toBe("COMPROMISED");
    const progressShown = slack
      .callsOf("chat.update")
      .some(
        (c) =>
          JSON.stringify(c.args.blocks).includes("rows/s") && JSON.stringify(c.args.blocks).includes("▓"),
      );
    expect(progressShown).toBe(true);
    expect(incident.messageText()).toContain(`${ROWS} of ${ROWS} rows re-encrypted to v2`);

    await incident.click(BYSTANDER, "audit-access", "step_run");
    await incident.waitForStep("audit-access", "DONE");
    const audit = incident.thread().find((m) => m.text?.startsWith("*Audit: access in the last 24 hours*"));
    expect(audit?.text).toMatch(
      /production: \d+ integrations updated in the last 24 hours|no integrations updated/,
    );

    for (const step of ["revoke-tokens", "revoke-tokens.shopify", "revoke-tokens.amazon"]) {
      await incident.click(BYSTANDER, step, "step_done");
      await incident.waitForStep(step, "DONE");
    }

    // Skip asks for a reason in a modal; the submission skips the step.
    await incident.click(REQUESTER, "notify-users", "step_skip");
    const modal = await slack.openedView("skip_step");
    const submitted = await client.viewSubmission({
      userId: REQUESTER,
      callbackId: "skip_step",
      privateMetadata: modal.privateMetadata,
      values: {
        reason: { reason: { type: "plain_text_input", value: "no customer data left the building" } },
      },
    });
    expect(submitted.status).toBe(200);
    await incident.waitForStep("notify-users", "SKIPPED");

    await incident.click(REQUESTER, "document", "step_run");
    await incident.waitForStep("document", "DONE");
    const [postmortem] = slack.uploadedFiles();
    expect(postmortem?.threadTs).toBe(incident.messageTs);
    expect(postmortem?.content).toContain("# Post-mortem #1: Production encryption key compromised");
    expect(postmortem?.content).toContain(
      'skipped "Notify affected users": no customer data left the building',
    );

    const final = await incident.state();
    expect(final.status).toBe("RESOLVED");
    await eventually("the resolved message", async () => incident.messageText().includes("*Resolved*"));
    expect(incident.messageText()).toContain("Rotation production: 300 of 300 rows to v2");

    // The thread holds one line per audit event of this workflow, and the chain is intact.
    const timeline = await bot.service.timeline(final.id);
    await eventually("a thread line per event", async () => {
      const lines = incident.thread().filter((m) => m.text?.startsWith("<!date^"));
      return lines.length === timeline.length;
    });
    expect(timeline.map((e) => e.action)).toContain("permission.refused");
    expect(await verifyAuditChain(database.db.prisma)).toMatchObject({ ok: true });

    // Nothing the bot sent to Slack holds key material.
    const sent = JSON.stringify(slack.calls);
    const keyring = await engine.keys.loadKeyring("production");
    const keys = [legacyKey, database.masterKey, keyring.keyFor(2)];
    for (const key of keys) {
      expect(key).toBeDefined();
      if (!key) continue;
      expect(sent).not.toContain(key.exposeBase64());
      expect(sent.toLowerCase()).not.toContain(key.exposeBytes().toString("hex"));
    }
  });
});
