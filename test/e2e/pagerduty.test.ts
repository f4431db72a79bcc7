import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  APPROVER,
  eventually,
  REQUESTER,
  SECURITY_CHANNEL,
  startTestBot,
  type TestBot,
} from "../support/bot.js";
import { PagerDutyStandin, signPagerDutyWebhook, webhookBody } from "../support/pagerduty/standin.js";
import { newTriggerId } from "../support/slack/signed-requests.js";
import { WorkflowDriver } from "../support/workflow-driver.js";

const ONCALL = "U0ONCALLXX";
const WEBHOOK_SECRET = randomBytes(16).toString("hex");
const ROUTING_KEY = `R${randomBytes(15).toString("hex")}`;

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
      PAGERDUTY_ROUTING_KEY: ROUTING_KEY,
      PAGERDUTY_TIMEOUT_MS: "500",
      PAGERDUTY_ACK_REMINDER_MINUTES: "0.01",
      PAGERDUTY_SEVERITY_OFFBOARD: "error",
    },
  });
  app.slack.setUser(ONCALL, { email: "ona@example.com", name: "ona" });
  app.slack.setUser("U0LEAVERXX", { name: "leaver" });
});

afterAll(async () => {
  await app?.stop();
  await pd?.close();
});

const eventsFor = (workflowId: string, action?: string) =>
  pd.events().filter((e) => e.dedup_key === workflowId && (!action || e.event_action === action));

async function deliver(body: string, headers: Record<string, string>) {
  const response = await fetch(`http://127.0.0.1:${app.bot.port}/pagerduty/webhook`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body,
  });
  return { status: response.status, body: await response.json() };
}

describe("paging on-call through PagerDuty", () => {
  it("pages once per incident even when Slack retries the command, shows on-call, reminds, and takes an ack from Slack", async () => {
    const triggerId = newTriggerId();
    const at = { userId: REQUESTER, channelId: SECURITY_CHANNEL, triggerId };
    const incident = await WorkflowDriver.start(
      app,
      "/key-compromised",
      "production key in a gist",
      REQUESTER,
    );
    await app.client.command("/key-compromised", "production retried", at);
    await app.client.command("/key-compromised", "production retried", {
      ...at,
      headers: { "x-slack-retry-num": "1", "x-slack-retry-reason": "http_timeout" },
    });
    await eventually("the page", async () => eventsFor(incident.workflowId, "trigger").length === 1);
    const [trigger] = eventsFor(incident.workflowId, "trigger");
    expect(trigger).toMatchObject({
      routing_key: ROUTING_KEY,
      payload: {
        severity: "critical",
        source: "keyops",
        component: "production",
        custom_details: { environments: "production", requester: REQUESTER },
      },
      links: [{ href: expect.stringContaining("slack"), text: "Open in Slack" }],
    });
    expect(trigger?.payload?.summary).toContain(
      "KeyOps #1: Production encryption key compromised — key in a gist",
    );
    await eventually("on-call in the message", async () =>
      incident.messageText().includes(`Paged via PagerDuty · on call: <@${ONCALL}>`),
    );
    await eventually("the unacknowledged reminder", async () =>
      incident.thread().some((m) => m.text?.includes(`nobody has acknowledged the page yet: <@${ONCALL}>`)),
    );

    await incident.click(ONCALL, "page", "page_acknowledge");
    await eventually(
      "the acknowledgement",
      async () => eventsFor(incident.workflowId, "acknowledge").length === 1,
    );
    await eventually("the message", async () =>
      incident.messageText().includes(`Acknowledged by <@${ONCALL}>`),
    );
    // KeyOps's own acknowledgement comes back by webhook: it changes nothing.
    const before = (await app.bot.service.timeline(incident.workflowId)).length;
    const echo = webhookBody({
      eventType: "incident.acknowledged",
      incidentKey: incident.workflowId,
      agentName: "KeyOps",
      agentType: "service_reference",
    });
    expect(
      await deliver(echo, {
        "x-pagerduty-signature": signPagerDutyWebhook(WEBHOOK_SECRET, echo),
        "x-webhook-id": "echo-1",
      }),
    ).toMatchObject({ status: 200, body: { result: "unchanged" } });
    expect(await app.bot.service.timeline(incident.workflowId)).toHaveLength(before);

    // The retried commands started nothing: one incident, one page.
    expect(await app.database.db.prisma.workflow.count({ where: { kind: "key-compromised" } })).toBe(2);
    expect(pd.events().filter((e) => e.event_action === "trigger")).toHaveLength(2);

    // Cancelling (or resolving) the workflow resolves the page.
    await incident.click(REQUESTER, "workflow", "workflow_cancel");
    const modal = await app.slack.openedView("cancel_workflow");
    await app.client.viewSubmission({
      userId: REQUESTER,
      callbackId: "cancel_workflow",
      privateMetadata: modal.privateMetadata,
      values: { reason: { reason: { value: "drill" } } },
    });
    await eventually("the resolve event", async () => eventsFor(incident.workflowId, "resolve").length === 1);
    await eventually("the page resolved", async () => (await incident.state()).page.status === "resolved");
  });

  it("webhooks: acknowledged by a person, signatures checked, deliveries deduplicated, bad ones refused", async () => {
    const rotation = await WorkflowDriver.start(app, "/offboard", "<@U0LEAVERXX|x>", REQUESTER);
    await eventually("the page", async () => (await rotation.state()).page.status === "triggered");
    expect(eventsFor(rotation.workflowId, "trigger")[0]?.payload?.severity).toBe("error");
    const escalated = webhookBody({
      eventType: "incident.escalated",
      incidentKey: rotation.workflowId,
      agentName: "PagerDuty",
      assignees: ["Bo Backup"],
    });
    const good = signPagerDutyWebhook(WEBHOOK_SECRET, escalated);
    const old = signPagerDutyWebhook("the-previous-secret", escalated);
    const count = async () =>
      (await app.bot.service.timeline(rotation.workflowId)).filter(
        (e) => e.action.startsWith("page.") && e.action !== "page.unacknowledged",
      ).length;

    const before = await count();
    expect(
      (await deliver(escalated, { "x-pagerduty-signature": `${old},${good}`, "x-webhook-id": "d-1" })).status,
    ).toBe(200);
    expect((await deliver(escalated, { "x-pagerduty-signature": good, "x-webhook-id": "d-1" })).status).toBe(
      200,
    );
    expect(await count()).toBe(before + 1);
    await eventually("the thread line", async () =>
      rotation.thread().some((m) => m.text?.includes("escalated the page to Bo Backup")),
    );

    expect((await deliver(escalated, { "x-pagerduty-signature": old, "x-webhook-id": "d-2" })).status).toBe(
      401,
    );
    expect((await deliver(escalated, { "x-webhook-id": "d-3" })).status).toBe(401);
    const malformed = "{not json";
    expect(
      (await deliver(malformed, { "x-pagerduty-signature": signPagerDutyWebhook(WEBHOOK_SECRET, malformed) }))
        .status,
    ).toBe(400);
    const unknown = webhookBody({
      eventType: "incident.acknowledged",
      incidentKey: "6f1c3c1e-0000-4000-8000-000000000000",
      agentName: "Ona Call",
    });
    expect(
      await deliver(unknown, { "x-pagerduty-signature": signPagerDutyWebhook(WEBHOOK_SECRET, unknown) }),
    ).toEqual({
      status: 202,
      body: { result: "unknown incident" },
    });
    expect(await count()).toBe(before + 1);

    const acknowledged = webhookBody({
      eventType: "incident.acknowledged",
      incidentKey: rotation.workflowId,
      agentName: "Ona Call",
    });
    expect(
      (
        await deliver(acknowledged, {
          "x-pagerduty-signature": signPagerDutyWebhook(WEBHOOK_SECRET, acknowledged),
          "x-webhook-id": "d-4",
        })
      ).status,
    ).toBe(200);
    await eventually("the message", async () => rotation.messageText().includes("Acknowledged by Ona Call"));
    // The reminder stops once acknowledged.
    const reminders = () =>
      rotation.thread().filter((m) => m.text?.includes("nobody has acknowledged")).length;
    const seen = reminders();
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(reminders()).toBe(seen);
  });

  it("webhooks: the same event under another delivery id or none applies once; news older than the page is ignored", async () => {
    const rotation = await WorkflowDriver.start(app, "/key-rotate", "staging webhooks", REQUESTER);
    await eventually("the page", async () => (await rotation.state()).page.status === "triggered");
    const sign = (body: string) => signPagerDutyWebhook(WEBHOOK_SECRET, body);
    const actions = async (action: string) =>
      (await app.bot.service.timeline(rotation.workflowId)).filter((e) => e.action === action).length;

    const escalated = webhookBody({
      eventType: "incident.escalated",
      incidentKey: rotation.workflowId,
      agentName: "PagerDuty",
      assignees: ["Bo Backup"],
      eventId: "01EVENTESCALATED",
    });
    const deliveries: Record<string, string>[] = [{ "x-webhook-id": "d-10" }, { "x-webhook-id": "d-11" }, {}];
    for (const headers of deliveries) {
      expect(
        (await deliver(escalated, { "x-pagerduty-signature": sign(escalated), ...headers })).status,
      ).toBe(200);
    }
    await expect.poll(() => actions("page.escalated")).toBe(1);

    // An acknowledgement from 2020, signed and new: older than the workflow, so ignored.
    const ancient = webhookBody({
      eventType: "incident.acknowledged",
      incidentKey: rotation.workflowId,
      agentName: "Old Timer",
      occurredAt: "2020-01-01T00:00:00Z",
    });
    expect((await deliver(ancient, { "x-pagerduty-signature": sign(ancient) })).status).toBe(200);

    const ackedAt = new Date();
    const acknowledged = webhookBody({
      eventType: "incident.acknowledged",
      incidentKey: rotation.workflowId,
      agentName: "Ona Call",
      occurredAt: ackedAt.toISOString(),
    });
    await deliver(acknowledged, { "x-pagerduty-signature": sign(acknowledged) });
    expect((await rotation.state()).page).toMatchObject({
      status: "acknowledged",
      by: "Ona Call",
      at: ackedAt,
    });
    // A resolve that happened before that acknowledgement, delivered after it: older than the page.
    const earlier = webhookBody({
      eventType: "incident.resolved",
      incidentKey: rotation.workflowId,
      agentName: "Ona Call",
      occurredAt: new Date(ackedAt.getTime() - 60_000).toISOString(),
    });
    await deliver(earlier, { "x-pagerduty-signature": sign(earlier) });
    const later = webhookBody({
      eventType: "incident.resolved",
      incidentKey: rotation.workflowId,
      agentName: "Ona Call",
      occurredAt: new Date(ackedAt.getTime() + 1000).toISOString(),
    });
    await deliver(later, { "x-pagerduty-signature": sign(later) });
    // Had the earlier one been taken, the page would carry its time and the later one be ignored.
    await expect
      .poll(async () => (await rotation.state()).page)
      .toMatchObject({
        status: "resolved",
        at: new Date(ackedAt.getTime() + 1000),
      });
    expect(await actions("page.resolved")).toBe(1);
    expect(await actions("page.escalated")).toBe(1);
  });

  it("PagerDuty down: the checklist goes on, the message says paging failed, Page again pages", async () => {
    pd.failNext(3, { status: 500 });
    const rotation = await WorkflowDriver.start(
      app,
      "/key-rotate",
      "staging while PagerDuty is down",
      REQUESTER,
    );
    // The checklist does not wait for paging.
    await rotation.click(REQUESTER, "backup-database", "step_done");
    await rotation.waitForStep("backup-database", "DONE");
    await eventually(
      "paging to give up",
      async () => (await rotation.state()).page.status === "failed",
      20_000,
    );
    // The state commits before its re-render reaches Slack: wait for the message to show it.
    await eventually("the message", async () => rotation.messageText().includes("gave up after 3 tries"));
    expect(rotation.messageText()).toContain("Paging failed");
    expect(rotation.messageText()).toContain("gave up after 3 tries");
    expect(eventsFor(rotation.workflowId)).toHaveLength(0);

    await rotation.click(APPROVER, "page", "page_again");
    await eventually("the page", async () => eventsFor(rotation.workflowId, "trigger").length === 1);
    expect(eventsFor(rotation.workflowId, "trigger")[0]?.payload?.severity).toBe("info");
    await eventually("the message", async () => rotation.messageText().includes("Paged via PagerDuty"));
  });
});
