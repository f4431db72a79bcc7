import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Roster } from "../../src/workflows/roster.js";
import { APPROVER, eventually, REQUESTER, startTestBot, type TestBot } from "../support/bot.js";
import { PagerDutyStandin } from "../support/pagerduty/standin.js";
import { WorkflowDriver } from "../support/workflow-driver.js";

const LATE_LEAVER = "U0LATELEFT";
const ON_TIME_LEAVER = "U0ONTIMEXX";
const STAYER = "U0STAYSXXX";

let pd: PagerDutyStandin;
let app: TestBot;

beforeAll(async () => {
  pd = await PagerDutyStandin.start();
  app = await startTestBot({
    rows: 10,
    pagerDutyAgent: pd.agent,
    env: {
      KEYOPS_SHARED_ENVIRONMENTS: "none",
      PAGERDUTY_ROUTING_KEY: `R${"0".repeat(31)}`,
      PAGERDUTY_EVENTS_HOST: pd.host,
      PAGERDUTY_RETRY_DELAY_SECONDS: "0.05",
      PAGERDUTY_TIMEOUT_MS: "500",
    },
  });
  for (const leaver of [LATE_LEAVER, ON_TIME_LEAVER, STAYER]) {
    app.slack.setUser(leaver, { name: leaver.toLowerCase() });
    await new Roster(app.database.db.prisma).grant(leaver, "production", APPROVER);
  }
});

afterAll(async () => {
  await app?.stop();
  await pd?.close();
});

const overdueEvents = (workflowId: string, action: string) =>
  pd.events().filter((e) => e.dedup_key === `${workflowId}:overdue` && e.event_action === action);

/** The deadline job as pg-boss holds it. */
async function deadlineJob(workflowId: string) {
  const jobs = await app.database.db.pool.query<{ start_after: Date; state: string }>(
    `SELECT start_after, state FROM pgboss.job WHERE name = 'workflow-deadline' AND data->>'workflowId' = $1`,
    [workflowId],
  );
  return jobs.rows;
}

/** Time moves to the deadline for the job: pg-boss's own clock (start_after) is what schedules it. */
async function reachDeadline(workflowId: string) {
  await app.database.db.pool.query(
    `UPDATE pgboss.job SET start_after = now() WHERE name = 'workflow-deadline' AND data->>'workflowId' = $1`,
    [workflowId],
  );
  await eventually(
    "the deadline job ran",
    async () => (await deadlineJob(workflowId))[0]?.state === "completed",
  );
}

describe("an offboarding past its 24-hour deadline", () => {
  it("pages on-call at the deadline when the rotation is not done, once, and resolves that page when it ends", async () => {
    const offboarding = await WorkflowDriver.start(app, "/offboard", `<@${LATE_LEAVER}|late>`, REQUESTER);
    const { deadlineAt } = await offboarding.state();
    const jobs = await eventually("the deadline job", async () => {
      const rows = await deadlineJob(offboarding.workflowId);
      return rows.length === 1 ? rows : undefined;
    });
    expect(jobs[0]?.start_after.getTime()).toBe(deadlineAt?.getTime());
    expect(jobs[0]?.state).toBe("created");
    expect(overdueEvents(offboarding.workflowId, "trigger")).toEqual([]);

    await reachDeadline(offboarding.workflowId);
    const [page] = await eventually("the overdue page", async () => {
      const pages = overdueEvents(offboarding.workflowId, "trigger");
      return pages.length > 0 ? pages : undefined;
    });
    expect(page?.payload?.severity).toBe("error");
    expect(page?.payload?.summary).toContain("past its deadline");
    expect(page?.payload?.summary).toContain("Rotate every key they could read not done");
    await eventually("the thread line", async () =>
      offboarding
        .thread()
        .some((m) => m.text?.includes("past its deadline") && m.text.includes("on-call paged")),
    );
    const missed = (await app.bot.service.timeline(offboarding.workflowId)).filter(
      (e) => e.action === "deadline.missed",
    );
    expect(missed).toHaveLength(1);

    await offboarding.click(REQUESTER, "remove-hosting", "step_done");
    await offboarding.click(REQUESTER, "remove-vaults", "step_done");
    await offboarding.click(REQUESTER, "revoke-roster", "step_run");
    await offboarding.click(APPROVER, "approval", "step_approve");
    await offboarding.waitForStep("rotate", "DONE", 60_000);
    await offboarding.waitForStatus("RESOLVED");
    await eventually(
      "the overdue page resolved",
      async () => overdueEvents(offboarding.workflowId, "resolve").length > 0,
    );
    expect(overdueEvents(offboarding.workflowId, "trigger")).toHaveLength(1);
  });

  it("does nothing at the deadline when the rotation was done in time", async () => {
    const offboarding = await WorkflowDriver.start(
      app,
      "/offboard",
      `<@${ON_TIME_LEAVER}|ontime>`,
      REQUESTER,
    );
    await offboarding.click(APPROVER, "approval", "step_approve");
    await offboarding.waitForStep("rotate", "DONE", 60_000);
    expect((await offboarding.state()).status).toBe("OPEN");
    await reachDeadline(offboarding.workflowId);
    expect(overdueEvents(offboarding.workflowId, "trigger")).toEqual([]);
    expect(
      (await app.bot.service.timeline(offboarding.workflowId)).some((e) => e.action === "deadline.missed"),
    ).toBe(false);
  });

  it("does nothing at the deadline when the offboarding was cancelled", async () => {
    const offboarding = await WorkflowDriver.start(app, "/offboard", `<@${STAYER}|stays>`, REQUESTER);
    await offboarding.clickWithReason(REQUESTER, "workflow", "workflow_cancel", "stays after all");
    await offboarding.waitForStatus("CANCELLED");
    await reachDeadline(offboarding.workflowId);
    expect(overdueEvents(offboarding.workflowId, "trigger")).toEqual([]);
    expect(
      (await app.bot.service.timeline(offboarding.workflowId)).some((e) => e.action === "deadline.missed"),
    ).toBe(false);
  });
});
