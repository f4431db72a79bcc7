import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { nextQuarter, quarterOf } from "../../src/workflows/calendar.js";
import { Roster } from "../../src/workflows/roster.js";
import { RotationSchedules } from "../../src/workflows/rotation-schedules.js";
import type { WorkflowSnapshot } from "../../src/workflows/types.js";
import {
  APPROVER,
  APPROVER_GROUP,
  eventually,
  REQUESTER,
  SECURITY_CHANNEL,
  startTestBot,
  type TestBot,
} from "../support/bot.js";
import { PagerDutyStandin } from "../support/pagerduty/standin.js";
import { WorkflowDriver } from "../support/workflow-driver.js";

const TEAM_ZONE = "Europe/Berlin";
const KIND = "quarterly-maintenance";
const HAS_LEFT = "U0HASLEFTX";
const BEING_OFFBOARDED = "U0OFFBOARD";
const STAYS = "U0STAYSXXX";

let pd: PagerDutyStandin;
let app: TestBot;

beforeAll(async () => {
  pd = await PagerDutyStandin.start();
  app = await startTestBot({
    rows: 5,
    pagerDutyAgent: pd.agent,
    schedulePlanMs: 200,
    env: {
      ...pd.settings(),
      KEYOPS_ALERT_CHANNEL: SECURITY_CHANNEL,
      KEYOPS_TIME_ZONE: TEAM_ZONE,
      KEYOPS_SHARED_ENVIRONMENTS: "none",
    },
  });
  app.slack.setUser(HAS_LEFT, { name: "gone", deleted: true });
  app.slack.setUser(BEING_OFFBOARDED, { name: "leaving" });
  app.slack.setUser(STAYS, { name: "stays" });
  const roster = new Roster(app.database.db.prisma);
  for (const person of [HAS_LEFT, BEING_OFFBOARDED, STAYS])
    await roster.grant(person, "production", APPROVER);
});

afterAll(async () => {
  await app?.stop();
  await pd?.close();
});

const pool = () => app.database.db.pool;

interface JobRow {
  id: string;
  state: string;
  start_after: Date;
  data: Record<string, string>;
}

/** pg-boss's jobs of a queue whose data has `field` = `value`. */
async function jobs(queue: string, field: string, value: string): Promise<JobRow[]> {
  const { rows } = await pool().query<JobRow>(
    `SELECT id, state, start_after, data FROM pgboss.job WHERE name = $1 AND data->>$2 = $3 ORDER BY created_on`,
    [queue, field, value],
  );
  return rows;
}

/** The same job delivered a second time: a copy under another id (as after a lost acknowledgement). */
async function deliverTwice(job: JobRow): Promise<void> {
  await pool().query(
    `INSERT INTO pgboss.job (id, name, data, start_after, retry_limit, retry_delay, expire_in, keep_until, policy)
     SELECT gen_random_uuid(), name, data, start_after, retry_limit, retry_delay, expire_in, keep_until, policy
       FROM pgboss.job WHERE id = $1`,
    [job.id],
  );
}

/** Time moves to the jobs' due time: pg-boss's own clock (start_after) is what schedules them. */
async function runNow(queue: string, field: string, value: string): Promise<void> {
  await pool().query(
    `UPDATE pgboss.job SET start_after = now() WHERE name = $1 AND data->>$2 = $3 AND state = 'created'`,
    [queue, field, value],
  );
  await eventually(`the ${queue} jobs ran`, async () =>
    (await jobs(queue, field, value)).every((j) => j.state === "completed"),
  );
}

const maintenances = async () =>
  (await app.database.db.prisma.workflow.findMany({ where: { kind: KIND }, orderBy: { number: "asc" } })).map(
    (row) => ({
      id: row.id,
      title: row.title,
      status: row.status,
      inputs: row.inputs as Record<string, unknown>,
    }),
  );

let quarterly: WorkflowSnapshot;

describe("quarterly maintenance, started by the bot itself", () => {
  it("at the quarter's start (midnight in the team's zone), once, even when its job is delivered twice", async () => {
    const next = nextQuarter(new Date(), TEAM_ZONE);
    const planned = await eventually("the quarter's planned start", async () => {
      const rows = await jobs("workflow-schedule", "trigger", "quarter");
      return rows.length === 1 ? rows : undefined;
    });
    expect(planned[0]?.start_after.toISOString()).toBe(next.start.toISOString());
    expect(planned[0]?.state).toBe("created");
    expect(await maintenances()).toEqual([]);

    // A person is being offboarded (the roster still lists them until their revoke step runs).
    const offboarding = await WorkflowDriver.start(
      app,
      "/offboard",
      `<@${BEING_OFFBOARDED}|leaving>`,
      REQUESTER,
    );

    await deliverTwice(planned[0] as JobRow);
    await runNow("workflow-schedule", "trigger", "quarter");
    const started = await maintenances();
    expect(started.map((m) => [m.title, m.status])).toEqual([[`Key maintenance ${next.period}`, "OPEN"]]);
    quarterly = await app.bot.service.get(started[0]?.id as string);
    expect(quarterly).toMatchObject({
      requestedBy: "keyops",
      channelId: SECURITY_CHANNEL,
      inputs: { period: next.period, trigger: `${next.period} began`, dueAt: next.start.toISOString() },
      deadlineAt: next.start,
    });

    // The automated steps run by themselves; the two by hand wait.
    const driver = await WorkflowDriver.attach(app, quarterly.id);
    for (const step of ["review-schedule", "audit-access", "check-failures"])
      await driver.waitForStep(step, "DONE", 60_000);
    quarterly = await driver.state();
    expect(quarterly.steps.map((s) => [s.key, s.status])).toEqual([
      ["review-schedule", "DONE"],
      ["audit-access", "DONE"],
      ["check-failures", "DONE"],
      ["update-backup", "PENDING"],
      ["review-procedure", "PENDING"],
    ]);
    const text = driver.messageText();
    expect(text).toContain("production: never rotated through KeyOps (v1 active): due now");
    expect(text).toContain(
      "production: every 5 rows decrypts; the application reported no decryption failures",
    );
    expect(text).toContain("Start /key-rotate production");

    // The roster audit flags who has left: deactivated in Slack, or being offboarded.
    const audit = quarterly.steps.find((s) => s.key === "audit-access")?.result?.lines ?? [];
    const offboardNumber = (await offboarding.state()).number;
    expect(audit).toEqual([
      "3 people hold key access; 2 have left",
      `@${HAS_LEFT}: production ⚠️ has left: Slack says the account is deactivated; revoke with /keyops access revoke`,
      `@${BEING_OFFBOARDED}: production ⚠️ has left: offboarding #${offboardNumber} (open); revoke with /keyops access revoke`,
      `@${STAYS}: production`,
    ]);
  });

  it("the schedule review's button starts /key-rotate for the environment that is due, by whoever clicks", async () => {
    const driver = await WorkflowDriver.attach(app, quarterly.id);
    const rotations = async () =>
      (await app.bot.service.openWorkflows()).filter((w) => w.kind === "key-rotate");
    expect(await rotations()).toEqual([]);
    const button = driver.findAction("review-schedule", "workflow_start_offered_0");
    expect(button?.value).toBe(`${quarterly.id}|review-schedule#0`);
    const click = {
      userId: REQUESTER,
      channelId: SECURITY_CHANNEL,
      messageTs: driver.messageTs,
      actionId: "workflow_start_offered_0",
      blockId: button?.blockId ?? "",
      value: button?.value ?? "",
      triggerId: "13345224609.738474920.8088930838d88f008e0",
    };
    expect((await app.client.blockAction(click)).status).toBe(200);
    // The same click delivered again (Slack's retry) starts nothing more.
    expect((await app.client.blockAction(click)).status).toBe(200);
    const rotation = await eventually("the /key-rotate it started", async () =>
      (await rotations()).find((w) => w.messageTs),
    );
    expect(rotation).toMatchObject({
      title: "Production key rotation",
      requestedBy: REQUESTER,
      channelId: SECURITY_CHANNEL,
      inputs: {
        environments: ["production"],
        summary: `#${quarterly.number} ${quarterly.title}: the production rotation is due`,
      },
    });
    expect(rotation.steps.map((s) => s.key)).toContain("reencrypt");
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(await rotations()).toHaveLength(1);
    // It is a rotation like any other: its requester cannot approve it (two-person rule).
    const rotationDriver = await WorkflowDriver.attach(app, rotation.id);
    await rotationDriver.click(REQUESTER, "backup-database", "step_done");
    await rotationDriver.waitForStep("backup-database", "DONE");
  });

  it("a week overdue: a reminder in the thread mentioning the approvers, once; two weeks: a warning page", async () => {
    const driver = await WorkflowDriver.attach(app, quarterly.id);
    const reminders = await jobs("workflow-reminder", "workflowId", quarterly.id);
    expect(reminders.map((j) => j.start_after.toISOString())).toEqual([
      new Date((quarterly.deadlineAt as Date).getTime() + 7 * 86_400_000).toISOString(),
    ]);
    await deliverTwice(reminders[0] as JobRow);
    await runNow("workflow-reminder", "workflowId", quarterly.id);
    const line = await eventually("the reminder's thread line", async () =>
      driver.thread().find((m) => m.text?.includes("reminder: overdue")),
    );
    expect(line.text).toContain(`<@${APPROVER}> <!subteam^${APPROVER_GROUP}>`);
    const recorded = (await app.bot.service.timeline(quarterly.id)).filter(
      (e) => e.action === "deadline.reminder",
    );
    expect(recorded).toHaveLength(1);
    expect(pd.events().filter((e) => e.dedup_key === `${quarterly.id}:overdue`)).toEqual([]);

    const deadline = await jobs("workflow-deadline", "workflowId", quarterly.id);
    expect(deadline.map((j) => j.start_after.toISOString())).toEqual([
      new Date((quarterly.deadlineAt as Date).getTime() + 14 * 86_400_000).toISOString(),
    ]);
    await runNow("workflow-deadline", "workflowId", quarterly.id);
    const [page] = await eventually("the overdue page", async () => {
      const pages = pd
        .events()
        .filter((e) => e.dedup_key === `${quarterly.id}:overdue` && e.event_action === "trigger");
      return pages.length > 0 ? pages : undefined;
    });
    expect(page?.payload?.severity).toBe("warning");
    expect(page?.payload?.summary).toContain("past its deadline");
    expect(page?.payload?.summary).toContain("14 days ago): still open");
    await eventually("the thread line", async () =>
      driver.thread().some((m) => m.text?.includes("past its deadline") && m.text.includes("on-call paged")),
    );

    // Done by hand: the workflow resolves and the overdue page with it.
    await driver.click(APPROVER, "update-backup", "step_done");
    await driver.click(APPROVER, "review-procedure", "step_done");
    await driver.waitForStatus("RESOLVED");
    await eventually("the overdue page resolved", async () =>
      pd.events().some((e) => e.dedup_key === `${quarterly.id}:overdue` && e.event_action === "resolve"),
    );
  });

  it("when a recorded next rotation falls due, once, also with two bots on the database and the job delivered twice", async () => {
    const dueAt = new Date(Date.now() + 3_600_000);
    await new RotationSchedules(app.database.db.prisma).record("production", {
      lastRotatedAt: new Date(Date.now() - 90 * 86_400_000),
      nextDueAt: dueAt,
      timeZone: TEAM_ZONE,
      recordedBy: REQUESTER,
      workflowId: quarterly.id,
    });
    const planned = await eventually("the rotation's planned start", async () => {
      const rows = await jobs("workflow-schedule", "trigger", "rotation-due");
      return rows.length === 1 ? rows : undefined;
    });
    expect(planned[0]?.start_after.toISOString()).toBe(dueAt.toISOString());

    const second = await startTestBot({
      database: app.database,
      legacyKey: app.legacyKey,
      pagerDutyAgent: pd.agent,
      schedulePlanMs: 200,
      env: {
        ...pd.settings(),
        KEYOPS_ALERT_CHANNEL: SECURITY_CHANNEL,
        KEYOPS_TIME_ZONE: TEAM_ZONE,
        KEYOPS_SHARED_ENVIRONMENTS: "none",
      },
    });
    try {
      await deliverTwice(planned[0] as JobRow);
      await deliverTwice(planned[0] as JobRow);
      await runNow("workflow-schedule", "trigger", "rotation-due");
      const period = quarterOf(dueAt, TEAM_ZONE).period;
      const due = (await maintenances()).filter((m) => m.inputs.trigger === "production rotation due");
      expect(due.map((m) => [m.title, m.status, m.inputs.period])).toEqual([
        [`Key maintenance ${period}`, "OPEN", period],
      ]);
      // Another rotation falling due while it is open starts nothing: its thread says it covers it.
      const open = due[0] as { id: string };
      const stagingDue = new Date(Date.now() + 7_200_000);
      await new RotationSchedules(app.database.db.prisma).record("staging", {
        lastRotatedAt: new Date(Date.now() - 90 * 86_400_000),
        nextDueAt: stagingDue,
        timeZone: TEAM_ZONE,
        recordedBy: REQUESTER,
        workflowId: quarterly.id,
      });
      const stagingJob = await eventually(
        "the staging rotation's planned start",
        async () => (await jobs("workflow-schedule", "environment", "staging"))[0],
      );
      await deliverTwice(stagingJob);
      await runNow("workflow-schedule", "environment", "staging");
      expect((await maintenances()).filter((m) => m.status === "OPEN").map((m) => m.id)).toEqual([open.id]);
      const covered = (await app.bot.service.timeline(open.id)).filter((e) => e.action === "schedule.due");
      expect(covered.map((e) => e.detail.why)).toEqual(["staging rotation due"]);

      // By hand, the same quarter's maintenance is refused while that one is open.
      const refused = await app.client.command("/key-maintenance", "", {
        userId: REQUESTER,
        channelId: SECURITY_CHANNEL,
      });
      expect(refused.status).toBe(200);
      const reply = await eventually("the refusal", async () =>
        [...app.slack.calls, ...second.slack.calls].find(
          (c) => c.method === "chat.postEphemeral" && String(c.args.text).includes("is already open"),
        ),
      );
      expect(reply.args.text).toMatch(
        new RegExp(`#\\d+ Key maintenance ${period} is already open for ${period}`),
      );
      expect((await maintenances()).filter((m) => m.status === "OPEN")).toHaveLength(1);
    } finally {
      await second.stop();
    }
  });
});

describe("/key-maintenance by hand", () => {
  it("refuses bad text with its usage and starts nothing", async () => {
    const before = (await maintenances()).length;
    for (const text of ["moon", "production now", "2027-Q2"]) {
      const response = await app.client.command("/key-maintenance", text, {
        userId: REQUESTER,
        channelId: SECURITY_CHANNEL,
      });
      expect(response.status).toBe(200);
      expect(response.json()).toEqual({
        response_type: "ephemeral",
        text: expect.stringMatching(
          /^\/key-maintenance \[environment\]: this quarter's \(\d{4}-Q[1-4]\) key maintenance, of every environment or of one \(development, staging, production\)\. Nothing was started\.$/,
        ),
      });
    }
    expect((await maintenances()).length).toBe(before);
  });

  it("a drill is left out of the quarter: it starts beside the open one and /keyops status shows the real one", async () => {
    const drill = await WorkflowDriver.start(app, "/key-maintenance", "drill", REQUESTER);
    const state = await drill.state();
    expect(state.title).toMatch(/^\[DRILL\] Key maintenance \d{4}-Q[1-4]/);
    await app.client.command("/keyops", "status", { userId: REQUESTER, channelId: SECURITY_CHANNEL });
    const status = await app.slack.waitFor(
      (c) => c.method === "chat.postEphemeral" && c.args.text === "KeyOps status",
      "the status reply",
    );
    const text = JSON.stringify(status.args.blocks);
    expect(text).toContain("*Quarterly maintenance:*");
    expect(text).not.toContain("[DRILL]");
  });
});
