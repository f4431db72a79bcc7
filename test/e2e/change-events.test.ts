import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { APPROVER, BYSTANDER, eventually, REQUESTER, startTestBot, type TestBot } from "../support/bot.js";
import { PagerDutyStandin, type ReceivedChangeEvent } from "../support/pagerduty/standin.js";
import { TEST_WORKSPACE } from "../support/slack/standin.js";
import { WorkflowDriver } from "../support/workflow-driver.js";

const ROUTING_KEY = `R${randomBytes(15).toString("hex")}`;
const ROWS = 30;
const CORRUPT = `${"a".repeat(24)}:${"b".repeat(32)}:${"c".repeat(40)}`;

let pd: PagerDutyStandin;
let app: TestBot;

beforeAll(async () => {
  pd = await PagerDutyStandin.start();
  app = await startTestBot({
    rows: ROWS,
    pagerDutyAgent: pd.agent,
    env: {
      KEYOPS_SHARED_ENVIRONMENTS: "none",
      PAGERDUTY_ROUTING_KEY: ROUTING_KEY,
      PAGERDUTY_EVENTS_HOST: pd.host,
      PAGERDUTY_API_HOST: pd.host,
      PAGERDUTY_RETRY_ATTEMPTS: "3",
      PAGERDUTY_RETRY_DELAY_SECONDS: "0.05",
      PAGERDUTY_TIMEOUT_MS: "500",
    },
  });
});

afterAll(async () => {
  await app?.stop();
  await pd?.close();
});

/** The workflow message's permalink, as the Slack stand-in makes them. */
const permalinkOf = (rotation: WorkflowDriver) =>
  `https://${TEST_WORKSPACE.teamDomain}.slack.com/archives/${rotation.channel}/p${rotation.messageTs.replace(".", "")}`;

const changesFor = (rotation: WorkflowDriver): ReceivedChangeEvent[] =>
  pd.changeEvents().filter((e) => e.links?.some((l) => l.href === permalinkOf(rotation)));

const changeRequests = (answer?: number) =>
  pd
    .requests()
    .filter((r) => r.path === "/v2/change/enqueue" && (answer === undefined || r.answer === answer));

/** Up to the approval: backup confirmed, key generated, the page out (so it uses no stand-in failure). */
async function readyToApprove(reason: string): Promise<WorkflowDriver> {
  const rotation = await WorkflowDriver.start(app, "/key-rotate", `production ${reason}`, REQUESTER);
  await eventually("the page", async () => (await rotation.state()).page.status === "triggered");
  await rotation.click(REQUESTER, "backup-database", "step_done");
  await rotation.click(REQUESTER, "generate-key", "step_run");
  await rotation.waitForStep("generate-key", "DONE");
  return rotation;
}

describe("PagerDuty change events for finished rotations", () => {
  it("none while the rotation fails; one, with the figures and the Slack link, once it succeeds", async () => {
    const rotation = await readyToApprove("rotation with a change event");
    const { pool } = app.database.db;
    await pool.query(
      `INSERT INTO "PlatformIntegration" ("id", "platform", "displayName", "credentials", "updatedAt")
       VALUES ('zz_corrupt', 'SHOPIFY', 'Corrupt', $1, now())`,
      [CORRUPT],
    );
    await rotation.click(APPROVER, "approval", "step_approve");
    await rotation.waitForStep("reencrypt", "FAILED", 60_000);
    // Jobs run within a poll interval: give a change event time to (wrongly) arrive.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(changeRequests()).toHaveLength(0);

    await pool.query(`DELETE FROM "PlatformIntegration" WHERE "id" = 'zz_corrupt'`);
    await rotation.click(BYSTANDER, "reencrypt", "step_retry");
    await rotation.waitForStep("verify", "DONE", 60_000);
    const [change] = await eventually("the change event", async () => {
      const changes = changesFor(rotation);
      return changes.length > 0 ? changes : undefined;
    });
    const state = await rotation.state();
    const figures = state.steps.flatMap((s) => s.result?.rotations ?? []).at(-1);
    expect(figures).toBeDefined();
    expect(change).toEqual({
      routing_key: ROUTING_KEY,
      payload: {
        summary: `production key rotated to v2: ${ROWS} rows, digest unchanged`,
        timestamp: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
        source: "keyops",
        custom_details: {
          workflow: `#${state.number} Key rotation`,
          environment: "production",
          version: "v2",
          fingerprint: figures?.toFingerprint,
          rows: String(ROWS),
          // The failed run re-encrypted every good row already; the retry only finished the job.
          reencrypted: String(figures?.reencrypted),
          digest: "digest unchanged",
          run: String(figures?.runId),
          requester: REQUESTER,
        },
      },
      links: [{ href: permalinkOf(rotation), text: "Open in Slack" }],
    });
    // The figures are the rotate step's own: the message shows the same version and fingerprint.
    expect(rotation.messageText()).toContain(`fingerprint ${figures?.toFingerprint}`);
    // Never a key: neither the old nor the new one, in any encoding, in what PagerDuty received.
    const sent = JSON.stringify(pd.requests().map((r) => r.body));
    const { key: newKey } = await app.bot.runtime.engine.keys.exportKey("production", 2);
    for (const key of [app.legacyKey, newKey]) {
      for (const encoding of ["base64", "base64url", "hex"] as const) {
        expect(sent).not.toContain(key.exposeBytes().toString(encoding));
      }
    }

    // Verify and the steps after it send no more change events (the step's job ran once).
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(changesFor(rotation)).toHaveLength(1);
    expect(changeRequests()).toHaveLength(1);
  });

  it("PagerDuty down (500s): the rotation and the checklist go on; the change event arrives when it is back", async () => {
    const rotation = await readyToApprove("while PagerDuty is down");
    const before = changeRequests().length;
    // More failures than one job's tries (3): the job itself is retried later.
    pd.failNext(4, { status: 500 });
    await rotation.click(APPROVER, "approval", "step_approve");
    await rotation.waitForStep("reencrypt", "DONE", 60_000);
    await rotation.waitForStep("verify", "DONE", 60_000);
    const state = await rotation.state();
    expect(state.steps.find((s) => s.key === "reencrypt")?.error).toBeUndefined();
    expect(rotation.messageText()).toContain(
      `production: ${ROWS} rows, 0 fail to decrypt, 0 not on v3, digest unchanged`,
    );
    expect(rotation.messageText()).not.toContain("Paging failed");

    await eventually("the failed tries", async () => changeRequests(500).length >= 4, 20_000);
    const [change] = await eventually(
      "the change event after PagerDuty is back",
      async () => {
        const changes = changesFor(rotation);
        return changes.length > 0 ? changes : undefined;
      },
      30_000,
    );
    expect(change?.payload.summary).toBe(`production key rotated to v3: ${ROWS} rows, digest unchanged`);
    expect(changeRequests().length - before).toBe(5);
    // The workflow's timeline says nothing of the change event's troubles: it never touched the steps.
    const timeline = await app.bot.service.timeline(rotation.workflowId);
    expect(timeline.filter((e) => e.action === "step.failed")).toHaveLength(0);
  });
});
