import { describe, expect, it } from "vitest";
import { APPROVER, BYSTANDER, eventually, REQUESTER, SECURITY_CHANNEL, useTestBot } from "../support/bot.js";
import type { PostedMessage } from "../support/slack/standin.js";
import { WorkflowDriver } from "../support/workflow-driver.js";

// Issue 13 #6: Slack's latency must not hold up the work. Slack answers HTTP 500 to every Web API
// call for a while; what runs must not wait for it, and what people see must catch up, whole.
const app = useTestBot({ rows: 10, env: { KEYOPS_SHARED_ENVIRONMENTS: "none" } });

/** The outage lasts at least this long, whatever the machine's speed. */
const OUTAGE_MS = 4000;
/** Long enough for the outbox's backoff to come round after the outage, on a slow machine. */
const CATCH_UP_MS = 90_000;

const TEST_TIMEOUT_MS = 240_000;
const PUBLICATION = "keyops_publication";

/** The thread's lines that deliver an outbox entry, by the entry's key. */
function deliveredLines(thread: PostedMessage[]): string[] {
  return thread
    .filter((m) => m.metadata?.event_type === PUBLICATION)
    .map((m) => String(m.metadata?.event_payload.key));
}

/** Every audit event of the workflow has exactly one thread line, in the events' order. */
async function expectEveryLineOnce(workflowId: string, messageTs: string) {
  const { database, slack } = app();
  let events: { sequence: number }[] = [];
  const lines = await eventually(
    "a thread line for each audit event",
    async () => {
      events = await database.db.prisma.auditEvent.findMany({
        where: { workflowId },
        orderBy: { sequence: "asc" },
        select: { sequence: true },
      });
      const rows = await database.db.pool.query<{ id: string; sequence: number; ts: string | null }>(
        `SELECT id::text, (payload->'event'->>'sequence')::int AS sequence, ts FROM "Publication"
         WHERE "workflowId" = $1 AND kind = 'line' ORDER BY "Publication".id`,
        [workflowId],
      );
      return rows.rows.every((r) => r.ts) && rows.rows.length === events.length ? rows.rows : undefined;
    },
    CATCH_UP_MS,
  );
  // One line per event, in the audit log's order.
  expect(lines.map((l) => l.sequence)).toEqual(events.map((e) => e.sequence));
  const thread = slack.thread(SECURITY_CHANNEL, messageTs);
  const keys = deliveredLines(thread).filter((k) => lines.some((l) => `publication-${l.id}` === k));
  // None twice, none missing, and posted in that order (the stand-in's ts increase).
  expect(keys).toEqual(lines.map((l) => `publication-${l.id}`));
  const tsOf = new Map(thread.map((m) => [String(m.metadata?.event_payload.key), m.ts]));
  expect(lines.map((l) => l.ts)).toEqual(lines.map((l) => tsOf.get(`publication-${l.id}`)));
}

describe("Slack answering 500 for a while", () => {
  it(
    "a click's step runs at once, a command makes its workflow, and every thread line follows once Slack is back",
    async () => {
      const { slack, bot, client } = app();
      const rotation = await WorkflowDriver.start(
        app(),
        "/key-rotate",
        "staging before the outage",
        REQUESTER,
      );
      await rotation.click(REQUESTER, "backup-database", "step_done");
      await rotation.waitForStep("backup-database", "DONE");

      slack.outage(500);
      const outageStarted = Date.now();
      const click = await rotation.click(REQUESTER, "generate-key", "step_run");
      expect(click.status).toBe(200);
      // The step's job ran although every Slack call fails (it used to wait for the message's update).
      await eventually(
        "Generate to run during the outage",
        async () => (await rotation.stepStatus("generate-key")) === "DONE",
        30_000,
      );
      const generatedAfterMs = Date.now() - outageStarted;

      // A command during the outage makes its workflow (users.info does not answer either).
      const before = (await bot.service.openWorkflows()).length;
      const ack = await client.command("/key-rotate", "production during the outage", {
        userId: REQUESTER,
        channelId: SECURITY_CHANNEL,
      });
      expect(ack.status).toBe(200);
      const started = await eventually(
        "the workflow of the command sent during the outage",
        async () =>
          (await bot.service.openWorkflows()).find((w) => w.title.startsWith("Production") && !w.messageTs),
        30_000,
      );
      expect((await bot.service.openWorkflows()).length).toBe(before + 1);
      // The requester's time zone could not be read: the workflow has none (UTC), it was not held up.
      expect(started.inputs.timeZone).toBeUndefined();

      // Whatever was attempted failed: nothing new reached the channel while Slack was down.
      const refused = slack.calls.filter((c) => c.at >= outageStarted && c.error === "http_500");
      expect(refused.length).toBeGreaterThan(0);
      const waited = OUTAGE_MS - (Date.now() - outageStarted);
      if (waited > 0) await new Promise((resolve) => setTimeout(resolve, waited));
      slack.restore();
      console.info(`Generate DONE ${generatedAfterMs} ms after the click with Slack answering 500`);

      // Once Slack answers again: the new workflow's message, the old one re-rendered, every line.
      const message = await eventually(
        "the message of the workflow started during the outage",
        async () => (await bot.service.get(started.id)).messageTs,
        CATCH_UP_MS,
      );
      expect(slack.message(SECURITY_CHANNEL, message)?.blocks).toBeDefined();
      await rotation.waitForStep("generate-key", "DONE", CATCH_UP_MS);
      await expectEveryLineOnce(rotation.workflowId, rotation.messageTs);
      await expectEveryLineOnce(started.id, message);
      // The approval request that Generate's success asked for reached the thread once, after the outage.
      const approval = await eventually(
        "the approval request, delivered",
        async () =>
          (
            await app().database.db.prisma.publication.findMany({
              where: { workflowId: rotation.workflowId, kind: "approval" },
            })
          ).find((p) => p.ts),
        CATCH_UP_MS,
      );
      expect(
        deliveredLines(rotation.thread()).filter((k) => k === `publication-${approval.id}`),
      ).toHaveLength(1);
      expect(approval.createdAt.getTime()).toBeLessThan(outageStarted + OUTAGE_MS);
      await rotation.click(APPROVER, "approval", "step_approve");
      await rotation.waitForStep("approval", "DONE", CATCH_UP_MS);
      await expectEveryLineOnce(rotation.workflowId, rotation.messageTs);
    },
    TEST_TIMEOUT_MS,
  );

  it(
    "an answer lost after Slack posted (as a crash between post and mark) does not post the line twice",
    async () => {
      const { slack } = app();
      const rotation = await WorkflowDriver.start(app(), "/key-rotate", "staging lost answers", REQUESTER);
      await expectEveryLineOnce(rotation.workflowId, rotation.messageTs);
      // This workflow's thread only: a line of the earlier test's workflows may be posted meanwhile.
      const inThisThread = (args: Record<string, unknown>) => args.thread_ts === rotation.messageTs;
      slack.loseNextAnswers("chat.postMessage", 1, inThisThread);
      await rotation.click(REQUESTER, "backup-database", "step_done");
      await rotation.waitForStep("backup-database", "DONE", CATCH_UP_MS);
      await expectEveryLineOnce(rotation.workflowId, rotation.messageTs);
      expect(slack.callsOf("chat.postMessage").filter((c) => c.error === "answer_lost")).toHaveLength(1);
      // The retry looked in the thread and found the line instead of posting it again.
      expect(
        slack.callsOf("conversations.replies").filter((c) => c.args.ts === rotation.messageTs).length,
      ).toBeGreaterThan(0);
    },
    TEST_TIMEOUT_MS,
  );

  it(
    "a first message whose answer was lost is found, not posted again",
    async () => {
      const { slack, bot, client, database } = app();
      // A workflow's first message (not a thread line of an earlier test's workflow).
      slack.loseNextAnswers("chat.postMessage", 1, (args) => args.thread_ts === undefined);
      const before = slack.messages(SECURITY_CHANNEL).filter((m) => !m.threadTs).length;
      await client.command("/key-rotate", "staging first message lost", {
        userId: REQUESTER,
        channelId: SECURITY_CHANNEL,
      });
      const w = await eventually(
        "the workflow, shown",
        async () =>
          (await bot.service.openWorkflows()).find(
            (x) => x.inputs.summary === "first message lost" && x.messageTs,
          ),
        CATCH_UP_MS,
      );
      const top = slack.messages(SECURITY_CHANNEL).filter((m) => !m.threadTs);
      expect(top).toHaveLength(before + 1);
      expect(top.at(-1)?.ts).toBe(w.messageTs);
      const post = await database.db.prisma.publication.findFirstOrThrow({
        where: { workflowId: w.id, kind: "post" },
      });
      expect(post.attempts).toBe(2);
      await expectEveryLineOnce(w.id, w.messageTs as string);
    },
    TEST_TIMEOUT_MS,
  );

  it(
    "/offboard during the outage is refused (Slack cannot say who they are) and starts nothing",
    async () => {
      const { slack, bot, client } = app();
      const before = (await bot.service.openWorkflows()).length;
      const refusedBefore = slack.calls.filter(
        (c) => c.method === "users.info" && c.error === "http_500",
      ).length;
      slack.outage(500);
      try {
        const ack = await client.command("/offboard", `<@${BYSTANDER}|bystander>`, {
          userId: REQUESTER,
          channelId: SECURITY_CHANNEL,
        });
        expect(ack.status).toBe(200);
        await eventually(
          "the subject's look-up to fail",
          async () =>
            // The look-up and its one retry.
            slack.calls.filter((c) => c.method === "users.info" && c.error === "http_500").length >=
            refusedBefore + 2,
        );
      } finally {
        slack.restore();
      }
      const reply = await slack.waitFor(
        (c) =>
          c.method === "chat.postEphemeral" && !c.error && String(c.args.text).includes("did not answer"),
        "the refusal",
        CATCH_UP_MS,
      );
      expect(reply.args.text).toBe(
        `Slack did not answer whether <@${BYSTANDER}> is a person, so nothing was started. Try again in a few minutes.`,
      );
      expect((await bot.service.openWorkflows()).length).toBe(before);
    },
    TEST_TIMEOUT_MS,
  );
});
