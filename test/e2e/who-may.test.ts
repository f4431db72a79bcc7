import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Roster } from "../../src/workflows/roster.js";
import {
  APPROVER,
  BYSTANDER,
  eventually,
  GROUP_APPROVER,
  REQUESTER,
  startTestBot,
  type TestBot,
} from "../support/bot.js";
import { PagerDutyStandin, signPagerDutyWebhook, webhookBody } from "../support/pagerduty/standin.js";
import { WorkflowDriver } from "../support/workflow-driver.js";

/** Issue 9 #1–#3: who may act in a workflow, through signed Slack requests and PagerDuty webhooks. */

const ONCALL = "U0ONCALLXX";
const COLLEAGUE = "U0COLLEAGU";
const WEBHOOK_SECRET = randomBytes(16).toString("hex");

let pd: PagerDutyStandin;
let app: TestBot;

beforeAll(async () => {
  pd = await PagerDutyStandin.start();
  pd.setOnCall([{ name: "Ona Call", email: "ona@example.com", escalationLevel: 1 }]);
  app = await startTestBot({
    rows: 10,
    pagerDutyAgent: pd.agent,
    env: {
      ...pd.settings(WEBHOOK_SECRET),
      // Held requests (the races below) must not time out while held.
      PAGERDUTY_TIMEOUT_MS: "15000",
      KEYOPS_SHARED_ENVIRONMENTS: "none",
    },
  });
  app.slack.setUser(ONCALL, { email: "ona@example.com", name: "ona" });
});

afterAll(async () => {
  await app?.stop();
  await pd?.close();
});

const pdEvents = (workflowId: string, action: string) =>
  pd.events().filter((e) => e.dedup_key === workflowId && e.event_action === action);

async function deliver(body: string) {
  const response = await fetch(`http://127.0.0.1:${app.bot.port}/pagerduty/webhook`, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      "x-pagerduty-signature": signPagerDutyWebhook(WEBHOOK_SECRET, body),
      "x-webhook-id": randomBytes(8).toString("hex"),
    },
    body,
  });
  expect(response.status).toBe(200);
}

/** Each refusal: an ephemeral reply to the person and a permission.refused event, nothing changed. */
async function expectRefused(
  driver: WorkflowDriver,
  userId: string,
  attempted: string,
  reply: RegExp,
): Promise<void> {
  expect(await driver.ephemeralTo(userId)).toMatch(reply);
  await eventually(`the ${attempted} refusal in the audit log`, async () =>
    (await app.bot.service.timeline(driver.workflowId)).some(
      (e) => e.action === "permission.refused" && e.actor === userId && e.detail.attempted === attempted,
    ),
  );
}

async function triggered(driver: WorkflowDriver): Promise<void> {
  await eventually("the page with on-call", async () => {
    const page = (await driver.state()).page;
    return page.status === "triggered" && page.onCall.includes(ONCALL);
  });
  await eventually("the page's buttons", async () => driver.findAction("page", "page_acknowledge"));
}

describe("the person being offboarded (issue 9 #1)", () => {
  it("may not approve, reject, cancel, assign, skip or complete anything in their offboarding", async () => {
    await new Roster(app.database.db.prisma).grant(APPROVER, "staging", GROUP_APPROVER);
    const offboarding = await WorkflowDriver.start(
      app,
      "/offboard",
      `<@${APPROVER}|a> 2026-12-05`,
      REQUESTER,
    );
    const SUBJECT = /you are the person this workflow is about/;

    await offboarding.click(APPROVER, "approval", "step_approve");
    await expectRefused(offboarding, APPROVER, "approve", SUBJECT);
    await offboarding.clickWithReason(APPROVER, "approval", "step_reject", "not leaving after all");
    await expectRefused(offboarding, APPROVER, "reject", SUBJECT);
    await offboarding.clickWithReason(APPROVER, "workflow", "workflow_cancel", "I stay");
    await expectRefused(offboarding, APPROVER, "cancel", SUBJECT);
    await offboarding.click(APPROVER, "remove-hosting", "step_done");
    await expectRefused(offboarding, APPROVER, "complete", SUBJECT);
    await offboarding.clickWithReason(APPROVER, "remove-vaults", "step_skip", "no vaults");
    await expectRefused(offboarding, APPROVER, "skip", SUBJECT);
    await offboarding.assign(APPROVER, "revoke-roster", APPROVER);
    await expectRefused(offboarding, APPROVER, "assign", SUBJECT);
    await offboarding.click(APPROVER, "revoke-roster", "step_run");
    await expectRefused(offboarding, APPROVER, "run", SUBJECT);

    const w = await offboarding.state();
    expect(w.status).toBe("OPEN");
    expect(w.steps.map((s) => [s.key, s.status, s.assignee])).toEqual([
      ["remove-hosting", "PENDING", undefined],
      ["remove-vaults", "PENDING", undefined],
      ["revoke-roster", "PENDING", undefined],
      ["approval", "AWAITING_APPROVAL", undefined],
      ["rotate", "PENDING", undefined],
    ]);
    // Nor can a step be handed to them to hold it up.
    await offboarding.assign(REQUESTER, "remove-hosting", APPROVER);
    expect(await offboarding.ephemeralTo(REQUESTER)).toBe(
      "a step cannot be assigned to the person this workflow is about",
    );
    // Another approver still can; the requester still can cancel.
    await offboarding.clickWithReason(GROUP_APPROVER, "approval", "step_reject", "wait for Monday");
    await eventually("the rejection", async () => (await offboarding.stepStatus("approval")) === "FAILED");
    await offboarding.clickWithReason(REQUESTER, "workflow", "workflow_cancel", "wrong date");
    await offboarding.waitForStatus("CANCELLED");
    expect((await offboarding.state()).closedBy).toBe(REQUESTER);
  });
});

describe("the page (issue 9 #2)", () => {
  it("is acknowledged by on-call, approvers or the requester, and resolved by approvers only", async () => {
    const incident = await WorkflowDriver.start(
      app,
      "/key-compromised",
      "production leaked in CI",
      REQUESTER,
    );
    await triggered(incident);

    await incident.click(BYSTANDER, "page", "page_acknowledge");
    await expectRefused(incident, BYSTANDER, "page-acknowledge", /only the people on call/);
    await incident.click(BYSTANDER, "page", "page_resolve");
    await expectRefused(incident, BYSTANDER, "page-resolve", /only an approver can resolve the page/);
    await incident.click(REQUESTER, "page", "page_resolve");
    await expectRefused(incident, REQUESTER, "page-resolve", /only an approver can resolve the page/);
    expect(pdEvents(incident.workflowId, "acknowledge")).toHaveLength(0);
    expect(pdEvents(incident.workflowId, "resolve")).toHaveLength(0);
    expect((await incident.state()).page.status).toBe("triggered");

    await incident.click(ONCALL, "page", "page_acknowledge");
    await eventually(
      "the acknowledgement",
      async () => (await incident.state()).page.status === "acknowledged",
    );
    expect(pdEvents(incident.workflowId, "acknowledge")).toHaveLength(1);
    await eventually("Resolve page alone", async () => !incident.findAction("page", "page_acknowledge"));
    await incident.click(APPROVER, "page", "page_resolve");
    await eventually("the resolve", async () => (await incident.state()).page.status === "resolved");
    expect(pdEvents(incident.workflowId, "resolve")).toHaveLength(1);
  });

  it("a click and a webhook at the same moment: the later one sees the earlier, nothing is lost", async () => {
    const incident = await WorkflowDriver.start(app, "/key-compromised", "staging leaked", REQUESTER);
    await triggered(incident);
    // The click's acknowledgement reaches PagerDuty; before it returns, PagerDuty's resolve arrives.
    const held = pd.holdNext(
      (r) => r.path === "/v2/enqueue" && (r.body as { event_action?: string }).event_action === "acknowledge",
    );
    await incident.click(ONCALL, "page", "page_acknowledge");
    await held.reached;
    await deliver(
      webhookBody({
        eventType: "incident.resolved",
        incidentKey: incident.workflowId,
        agentName: "Ona Call",
      }),
    );
    await eventually(
      "the webhook's resolve",
      async () => (await incident.state()).page.status === "resolved",
    );
    held.release();
    expect(await incident.ephemeralTo(ONCALL)).toBe("the page is already resolved");
    const w = await incident.state();
    expect(w.page).toMatchObject({ status: "resolved", by: "Ona Call" });
    await eventually("the message shows it", async () =>
      incident.messageText().includes("Page resolved by Ona Call"),
    );
  });

  it("an acknowledgement that arrives while the page job looks up on-call is kept", async () => {
    const held = pd.holdNext((r) => r.path === "/oncalls");
    const incident = await WorkflowDriver.start(app, "/key-compromised", "development leaked", REQUESTER);
    await held.reached;
    await deliver(
      webhookBody({
        eventType: "incident.acknowledged",
        incidentKey: incident.workflowId,
        agentName: "Ona Call",
      }),
    );
    await eventually(
      "the acknowledgement",
      async () => (await incident.state()).page.status === "acknowledged",
    );
    held.release();
    await eventually("the page job to finish", async () =>
      (await app.bot.service.timeline(incident.workflowId)).some((e) => e.action === "page.triggered"),
    );
    expect((await incident.state()).page).toMatchObject({
      status: "acknowledged",
      by: "Ona Call",
      onCall: [ONCALL],
    });
  });
});

describe("assignment (issue 9 #3)", () => {
  it("the requester and approvers assign; anyone may take an unassigned step; approvals are not assignable", async () => {
    const rotation = await WorkflowDriver.start(app, "/key-rotate", "staging assigned", REQUESTER);
    await rotation.assign(REQUESTER, "backup-database", COLLEAGUE);
    await rotation.waitForAssignee("backup-database", COLLEAGUE);

    await rotation.click(BYSTANDER, "backup-database", "step_done");
    await expectRefused(rotation, BYSTANDER, "complete", /is assigned to <@U0COLLEAGU>, not to you/);
    // The walk-around: re-assigning it to themselves first.
    await rotation.assign(BYSTANDER, "backup-database", BYSTANDER);
    await expectRefused(rotation, BYSTANDER, "assign", /only the requester, an approver or its assignee/);
    expect((await rotation.state()).steps.find((s) => s.key === "backup-database")?.assignee).toBe(COLLEAGUE);

    // Taking an unassigned step is fine; giving one to someone else is not.
    await rotation.assign(BYSTANDER, "store-backup", COLLEAGUE);
    await expectRefused(rotation, BYSTANDER, "assign", /only the requester, an approver or its assignee/);
    await rotation.assign(BYSTANDER, "store-backup", BYSTANDER);
    await rotation.waitForAssignee("store-backup", BYSTANDER);
    // An approver re-assigns; the assignee hands it on.
    await rotation.assign(APPROVER, "backup-database", BYSTANDER);
    await rotation.waitForAssignee("backup-database", BYSTANDER);
    await rotation.assign(BYSTANDER, "backup-database", COLLEAGUE);
    await rotation.waitForAssignee("backup-database", COLLEAGUE);
    await rotation.click(COLLEAGUE, "backup-database", "step_done");
    await rotation.waitForStep("backup-database", "DONE");

    await rotation.click(REQUESTER, "generate-key", "step_run");
    await rotation.waitForStep("generate-key", "DONE");
    expect(rotation.findAction("approval", "step_approve")).toBeDefined();
    expect(rotation.findAction("approval", "step_assign")).toBeUndefined();
    await rotation.forge(REQUESTER, "approval", "step_assign", { selectedUser: COLLEAGUE });
    expect(await rotation.ephemeralTo(REQUESTER)).toBe("*Approval* is an approval: any approver can give it");
    expect((await rotation.state()).steps.find((s) => s.key === "approval")?.assignee).toBeUndefined();
  });
});
