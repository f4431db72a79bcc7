import { DateTime } from "luxon";
import { describe, expect, it } from "vitest";
import { APPROVER, BYSTANDER, REQUESTER, SECURITY_CHANNEL, useTestBot } from "../support/bot.js";
import { TEST_WORKSPACE } from "../support/slack/standin.js";
import { WorkflowDriver } from "../support/workflow-driver.js";

const app = useTestBot({
  rows: 10,
  env: { KEYOPS_ALLOWED_CHANNELS: `${SECURITY_CHANNEL},C0OTHERSEC`, KEYOPS_SHARED_ENVIRONMENTS: "none" },
});
const workflows = () => app().database.db.prisma.workflow.count();

async function commandReply(command: string, text: string, channelId = SECURITY_CHANNEL) {
  const response = await app().client.command(command, text, { userId: REQUESTER, channelId });
  expect(response.status).toBe(200);
  return (response.body === "" ? {} : response.json()) as {
    response_type?: string;
    text?: string;
    blocks?: unknown[];
  };
}

describe("bad input gets a clear ephemeral reply and changes nothing", () => {
  it("commands: unknown environment, missing or bad /offboard arguments, unknown /keyops subcommand", async () => {
    const before = await workflows();
    expect(await commandReply("/key-rotate", "moon quarterly")).toEqual({
      response_type: "ephemeral",
      text: 'unknown environment "moon" (expected development, staging, production)',
    });
    expect(await commandReply("/key-compromised", "prod leaked")).toMatchObject({
      text: expect.stringContaining('unknown environment "prod"'),
    });
    expect((await commandReply("/offboard", "")).text).toMatch(/say who is leaving/);
    expect((await commandReply("/offboard", "bob")).text).toMatch(/say who is leaving/);
    expect((await commandReply("/offboard", "<@U0LEAVER|leaver> next friday")).text).toMatch(
      /"next friday" is not a date/,
    );
    expect((await commandReply("/offboard", `<@${REQUESTER}|me>`)).text).toBeUndefined();
    expect((await commandReply("/keyops", "launch")).text).toMatch(/Unknown subcommand "launch"/);
    expect(await workflows()).toBe(before);
  });

  it("offboarding yourself, or someone with no key access, is refused in an ephemeral message", async () => {
    const { slack } = app();
    const replies = () => slack.callsOf("chat.postEphemeral").map((c) => String(c.args.text));
    slack.setUser("U0NOACCESS", { name: "no access" });
    await app().client.command("/offboard", `<@${REQUESTER}|me>`, {
      userId: REQUESTER,
      channelId: SECURITY_CHANNEL,
    });
    await slack.waitFor(
      (c) => c.method === "chat.postEphemeral" && String(c.args.text).includes("yourself"),
      "a refusal",
    );
    await app().client.command("/offboard", "<@U0NOACCESS|x>", {
      userId: REQUESTER,
      channelId: SECURITY_CHANNEL,
    });
    await slack.waitFor(
      (c) => c.method === "chat.postEphemeral" && String(c.args.text).includes("no key access"),
      "a refusal",
    );
    expect(replies().every((text) => !text.includes("Error") && !text.includes("    at "))).toBe(true);
  });

  it("/offboard with a last day more than a year ahead is refused at once, leaving nothing", async () => {
    const before = await workflows();
    expect(await commandReply("/offboard", "<@U0LEAVER|leaver> 9999-12-31")).toEqual({
      response_type: "ephemeral",
      text: "9999-12-31 is more than a year ahead: give a last day within the next year (yyyy-mm-dd). Nothing was changed.",
    });
    const nextYear = DateTime.utc().plus({ years: 1, days: 3 }).toISODate();
    expect((await commandReply("/offboard", `<@U0LEAVER|leaver> ${nextYear}`)).text).toMatch(
      /more than a year ahead/,
    );
    expect(await workflows()).toBe(before);
  });

  it("/offboard of KeyOps itself, another bot or someone Slack does not know is refused", async () => {
    const { slack } = app();
    const before = await workflows();
    const refusal = async (text: string, expected: string) => {
      slack.clear();
      expect(await commandReply("/offboard", text)).toEqual({});
      const reply = await slack.waitFor("chat.postEphemeral", `the refusal of ${text}`);
      expect(reply.args).toMatchObject({ user: REQUESTER, channel: SECURITY_CHANNEL, text: expected });
    };
    await refusal(
      `<@${TEST_WORKSPACE.botUserId}|keyops>`,
      `<@${TEST_WORKSPACE.botUserId}> is KeyOps itself, not a person. Nothing was changed.`,
    );
    slack.setUser("U0DEPLOYBOT", { name: "deploybot", isBot: true });
    await refusal("<@U0DEPLOYBOT|deploybot>", "<@U0DEPLOYBOT> is a bot, not a person. Nothing was changed.");
    await refusal(
      "<@U0NOBODYXX|ghost>",
      "Slack does not know U0NOBODYXX: name a person in this workspace. Nothing was changed.",
    );
    expect(await workflows()).toBe(before);
  });

  it("a start that fails after its row was written leaves nothing behind: no workflow, audit event or message", async () => {
    const { slack, database } = app();
    const before = { workflows: await workflows(), events: await database.db.prisma.auditEvent.count() };
    const messages = slack.messages(SECURITY_CHANNEL).length;
    slack.clear();
    // The database refuses the start's last write, its first outbox entry (the message).
    await database.db.pool.query(`
      CREATE FUNCTION refuse_publication() RETURNS trigger LANGUAGE plpgsql AS
        $$ BEGIN RAISE EXCEPTION 'refused by the test'; END $$;
      CREATE TRIGGER refuse_publication BEFORE INSERT ON "Publication"
        FOR EACH STATEMENT EXECUTE FUNCTION refuse_publication();`);
    try {
      expect(await commandReply("/key-rotate", "staging no message")).toEqual({});
      const reply = await slack.waitFor("chat.postEphemeral", "the reply");
      expect(reply.args.text).toBe(
        "Something went wrong on our side; it has been logged. Nothing was changed.",
      );
    } finally {
      await database.db.pool.query(
        `DROP TRIGGER refuse_publication ON "Publication"; DROP FUNCTION refuse_publication();`,
      );
    }
    expect(await workflows()).toBe(before.workflows);
    expect(await database.db.prisma.auditEvent.count()).toBe(before.events);
    expect(slack.messages(SECURITY_CHANNEL)).toHaveLength(messages);
    expect(slack.callsOf("chat.postMessage")).toHaveLength(0);
    // Once the database takes it, the same command starts its workflow.
    await WorkflowDriver.start(app(), "/key-rotate", "staging no message", REQUESTER);
    expect(await workflows()).toBe(before.workflows + 1);
  });

  it("a start does not wait for Slack to take its message: the workflow exists, its message follows", async () => {
    const { slack, bot } = app();
    const before = await workflows();
    slack.failNext("chat.postMessage", "not_in_channel");
    const driver = await WorkflowDriver.start(
      app(),
      "/key-rotate",
      "staging message refused once",
      REQUESTER,
    );
    expect(await workflows()).toBe(before + 1);
    expect((await bot.service.get(driver.workflowId)).messageTs).toBe(driver.messageTs);
    expect(slack.callsOf("chat.postMessage").some((c) => c.error === "not_in_channel")).toBe(true);
  });

  it("commands outside the configured channels are refused", async () => {
    const reply = await commandReply("/key-rotate", "staging", "C0RANDOM");
    expect(reply.text).toBe(`KeyOps commands work only in <#${SECURITY_CHANNEL}>, <#C0OTHERSEC>.`);
  });

  it("/keyops help lists the commands; /keyops status shows workflows and key versions", async () => {
    const help = await commandReply("/keyops", "help");
    const text = JSON.stringify(help.blocks);
    for (const command of ["/key-compromised", "/key-rotate", "/offboard", "/keyops status"]) {
      expect(text).toContain(command);
    }
    await commandReply("/keyops", "status");
    const status = await app().slack.waitFor(
      (c) => c.method === "chat.postEphemeral" && c.args.text === "KeyOps status",
      "the status reply",
    );
    expect(JSON.stringify(status.args.blocks)).toMatch(/production\* — active: v1/);
  });

  it("a step assigned to someone else, and anything on a cancelled workflow, is refused and audited", async () => {
    const { slack, client, bot } = app();
    const rotation = await WorkflowDriver.start(app(), "/key-rotate", "staging assigned", REQUESTER);
    const assign = rotation.findAction("backup-database", "step_assign");
    await client.blockAction({
      userId: REQUESTER,
      channelId: SECURITY_CHANNEL,
      messageTs: rotation.messageTs,
      actionId: "step_assign",
      blockId: assign?.blockId ?? "",
      selectedUser: BYSTANDER,
    });
    await rotation.waitForAssignee("backup-database", BYSTANDER);
    await rotation.click(REQUESTER, "backup-database", "step_done");
    expect(await rotation.ephemeralTo(REQUESTER)).toBe(
      `*Back up the database* is assigned to <@${BYSTANDER}>, not to you`,
    );
    expect(await rotation.stepStatus("backup-database")).toBe("PENDING");

    // Cancel: the button opens a modal; the reason is required.
    await rotation.click(REQUESTER, "workflow", "workflow_cancel");
    const modal = await slack.openedView("cancel_workflow");
    const metadata = modal.privateMetadata;
    const tooShort = await client.viewSubmission({
      userId: REQUESTER,
      callbackId: "cancel_workflow",
      privateMetadata: metadata,
      values: { reason: { reason: { type: "plain_text_input", value: " x" } } },
    });
    expect(tooShort.json()).toEqual({
      response_action: "errors",
      errors: { reason: "Give a reason of at least 3 characters." },
    });
    await client.viewSubmission({
      userId: REQUESTER,
      callbackId: "cancel_workflow",
      privateMetadata: metadata,
      values: { reason: { reason: { type: "plain_text_input", value: "opened by mistake" } } },
    });
    await rotation.waitForStatus("CANCELLED");
    expect(rotation.messageText()).toContain("*Cancelled* by <@U0REQUESTR>: opened by mistake");

    // A button from before the cancel, clicked now.
    await client.blockAction({
      userId: BYSTANDER,
      channelId: SECURITY_CHANNEL,
      messageTs: rotation.messageTs,
      actionId: "step_done",
      blockId: assign?.blockId ?? "",
      value: assign?.blockId.replace(/^step\|/, "") ?? "",
    });
    expect(await rotation.ephemeralTo(BYSTANDER)).toMatch(/^#\d+ is already cancelled$/);
    const timeline = await bot.service.timeline(rotation.workflowId);
    expect(timeline.map((e) => e.action)).toEqual([
      "workflow.started",
      "step.assigned",
      "permission.refused",
      "workflow.cancelled",
    ]);
  });

  it("a rejection asks for a reason in a modal, shows it, and leaves Approve for later", async () => {
    const { client, slack } = app();
    const rotation = await WorkflowDriver.start(app(), "/key-rotate", "staging rejected", REQUESTER);
    await rotation.click(REQUESTER, "generate-key", "step_run");
    await rotation.waitForStep("generate-key", "DONE");
    await rotation.click(APPROVER, "approval", "step_reject");
    const modal = await slack.openedView("reject_approval");
    await client.viewSubmission({
      userId: APPROVER,
      callbackId: "reject_approval",
      privateMetadata: modal.privateMetadata,
      values: { reason: { reason: { type: "plain_text_input", value: "not during the sale" } } },
    });
    await rotation.waitForStep("approval", "FAILED");
    expect(rotation.messageText()).toContain(`Rejected by <@${APPROVER}>: not during the sale`);
    expect(rotation.findAction("approval", "step_approve")).toBeDefined();
    expect(await rotation.stepStatus("reencrypt")).toBe("PENDING");
  });

  it("a button that is not ours is refused without a stack trace", async () => {
    const { client } = app();
    await client.blockAction({
      userId: APPROVER,
      channelId: SECURITY_CHANNEL,
      messageTs: "1.2",
      actionId: "step_approve",
      blockId: "x",
      value: "no-such-workflow|approval",
    });
    const rotation = {
      ephemeralTo: (user: string) =>
        app().slack.waitFor((c) => c.method === "chat.postEphemeral" && c.args.user === user, "a reply"),
    };
    const reply = await rotation.ephemeralTo(APPROVER);
    expect(reply.args.text).toBe(
      "This button or form is not one of ours, or has expired. Nothing was changed.",
    );
  });

  it("/key-compromised with no text opens the incident form, and its submission declares the incident", async () => {
    const { slack, client } = app();
    await commandReply("/key-compromised", "");
    const modal = await slack.openedView("declare_incident");
    const view = { private_metadata: modal.privateMetadata, blocks: modal.blocks };
    expect(JSON.stringify(view.blocks)).toContain(
      '"initial_option":{"text":{"type":"plain_text","text":"critical"}',
    );
    const missing = await client.viewSubmission({
      userId: REQUESTER,
      callbackId: "declare_incident",
      privateMetadata: view.private_metadata,
      values: {},
    });
    expect(missing.json()).toMatchObject({
      response_action: "errors",
      errors: { summary: "Say what was exposed." },
    });
    const before = await workflows();
    await client.viewSubmission({
      userId: REQUESTER,
      callbackId: "declare_incident",
      privateMetadata: view.private_metadata,
      values: {
        environment: { environment: { type: "static_select", selected_option: { value: "staging" } } },
        summary: { summary: { type: "plain_text_input", value: "staging key in a CI log" } },
        found_by: { found_by: { type: "plain_text_input", value: "secret scanner" } },
        severity: { severity: { type: "static_select", selected_option: { value: "high" } } },
      },
    });
    await slack.waitFor(
      (c) =>
        c.method === "chat.postMessage" &&
        JSON.stringify(c.args.blocks ?? "").includes("staging key in a CI log"),
      "the incident message",
    );
    // The message is posted inside the start's transaction: the row commits just after it.
    await expect.poll(workflows).toBe(before + 1);
  });
});
