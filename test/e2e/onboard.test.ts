import { describe, expect, it } from "vitest";
import { APPROVER, eventually, REQUESTER, SECURITY_CHANNEL, useTestBot } from "../support/bot.js";
import { TEST_WORKSPACE } from "../support/slack/standin.js";
import { WorkflowDriver } from "../support/workflow-driver.js";

const NEWCOMER = "U0NEWCOMER";
const OTHER_BOT = "U0OTHERBOT";
const app = useTestBot({ rows: 5, env: { KEYOPS_SHARED_ENVIRONMENTS: "none" } });

const grantsOf = (userId: string) =>
  app().database.db.prisma.keyAccess.findMany({ where: { slackUserId: userId, revokedAt: null } });

describe("/onboard (the guide's Granting Access)", () => {
  it("production: the steps, then a second person's approval, then the roster grant with its audit event", async () => {
    const { slack, database } = app();
    slack.setUser(NEWCOMER, { name: "newcomer" });
    const onboarding = await WorkflowDriver.start(
      app(),
      "/onboard",
      `<@${NEWCOMER}|newcomer> production`,
      REQUESTER,
    );
    const state = await onboarding.state();
    expect(state.title).toBe(`Production access for @${NEWCOMER}`);
    expect(state.steps.map((s) => [s.key, s.status])).toEqual([
      ["hosting-access", "PENDING"],
      ["share-key", "PENDING"],
      ["approval", "AWAITING_APPROVAL"],
      ["record-roster", "PENDING"],
    ]);

    // The newcomer cannot work their own onboarding; the requester cannot approve it.
    await onboarding.click(NEWCOMER, "hosting-access", "step_done");
    expect(await onboarding.ephemeralTo(NEWCOMER)).toMatch(/you are the person this workflow is about/);
    await onboarding.click(REQUESTER, "approval", "step_approve");
    expect(await onboarding.ephemeralTo(REQUESTER)).toMatch(/two-person rule/);
    expect(await onboarding.stepStatus("approval")).toBe("AWAITING_APPROVAL");
    expect(await grantsOf(NEWCOMER)).toEqual([]);

    await onboarding.click(REQUESTER, "hosting-access", "step_done");
    await onboarding.click(REQUESTER, "share-key", "step_done");
    await onboarding.click(APPROVER, "approval", "step_approve");
    await onboarding.waitForStep("record-roster", "DONE");
    await onboarding.waitForStatus("RESOLVED");

    const grants = await grantsOf(NEWCOMER);
    expect(grants.map((g) => [g.environment, g.grantedBy])).toEqual([["production", REQUESTER]]);
    const granted = await database.db.prisma.auditEvent.findMany({ where: { action: "access.granted" } });
    expect(granted.map((e) => ({ actor: e.actor, workflowId: e.workflowId, detail: e.detail }))).toEqual([
      {
        actor: REQUESTER,
        workflowId: onboarding.workflowId,
        detail: { user: NEWCOMER, environment: "production" },
      },
    ]);
    expect(onboarding.messageText()).toContain(`access to production in the roster`);
  });

  it("staging: no approval step; the roster grant is run by hand last", async () => {
    const onboarding = await WorkflowDriver.start(
      app(),
      "/onboard",
      `<@${NEWCOMER}|newcomer> staging`,
      REQUESTER,
    );
    expect((await onboarding.state()).steps.map((s) => s.key)).toEqual([
      "hosting-access",
      "share-key",
      "record-roster",
    ]);
    await onboarding.click(REQUESTER, "hosting-access", "step_done");
    await onboarding.click(REQUESTER, "share-key", "step_done");
    await onboarding.click(REQUESTER, "record-roster", "step_run");
    await onboarding.waitForStatus("RESOLVED");
    expect((await grantsOf(NEWCOMER)).map((g) => g.environment).sort()).toEqual(["production", "staging"]);
  });

  it("refuses no person, an unknown environment, a bot, yourself and access already held, changing nothing", async () => {
    const { slack, client, database } = app();
    slack.setUser(OTHER_BOT, { name: "deploybot", isBot: true });
    const counts = async () => ({
      workflows: await database.db.prisma.workflow.count(),
      grants: await database.db.prisma.keyAccess.count(),
      events: await database.db.prisma.auditEvent.count(),
    });
    const before = await counts();
    const ackOf = async (text: string) => {
      const response = await client.command("/onboard", text, {
        userId: REQUESTER,
        channelId: SECURITY_CHANNEL,
      });
      expect(response.status).toBe(200);
      return response.body === "" ? {} : response.json();
    };
    expect(await ackOf("")).toEqual({
      response_type: "ephemeral",
      text: "say who and which environment: /onboard @person <environment>",
    });
    expect(await ackOf(`<@${NEWCOMER}|newcomer>`)).toMatchObject({
      text: expect.stringMatching(/say who and which/),
    });
    expect(await ackOf("development")).toMatchObject({ text: expect.stringMatching(/say who and which/) });
    expect(await ackOf(`<@${NEWCOMER}|newcomer> moon`)).toEqual({
      response_type: "ephemeral",
      text: 'unknown environment "moon" (expected development, staging, production)',
    });

    const refusedAfterAck = async (text: string, expected: string) => {
      slack.clear();
      expect(await ackOf(text)).toEqual({});
      const reply = await slack.waitFor("chat.postEphemeral", `the refusal of ${text}`);
      expect(reply.args).toMatchObject({ user: REQUESTER, channel: SECURITY_CHANNEL, text: expected });
    };
    await refusedAfterAck(
      `<@${TEST_WORKSPACE.botUserId}|keyops> development`,
      `<@${TEST_WORKSPACE.botUserId}> is KeyOps itself, not a person. Nothing was changed.`,
    );
    await refusedAfterAck(
      `<@${OTHER_BOT}|deploybot> development`,
      `<@${OTHER_BOT}> is a bot, not a person. Nothing was changed.`,
    );
    await refusedAfterAck(
      `<@${REQUESTER}|me> development`,
      "you cannot grant yourself access: someone else runs /onboard for you. Nothing was changed.",
    );
    await refusedAfterAck(
      `<@${NEWCOMER}|newcomer> production`,
      `<@${NEWCOMER}> already has access to production in the roster. Nothing was changed.`,
    );
    expect(await counts()).toEqual(before);
    expect(
      await eventually(
        "no open workflow",
        async () => (await app().bot.service.openWorkflows()).length === 0,
      ),
    ).toBe(true);
  });
});
