import { describe, expect, it, vi } from "vitest";
import { APPROVER, BYSTANDER, REQUESTER, SECURITY_CHANNEL, useTestBot } from "../support/bot.js";
import { WorkflowDriver } from "../support/workflow-driver.js";

const OTHER_ALLOWED = "C0OTHERSEC";
const OUTSIDE = "C0RANDOM";
const NOT_OURS = "This button or form is not one of ours, or has expired. Nothing was changed.";
const ONLY_IN = `KeyOps commands work only in <#${SECURITY_CHANNEL}>, <#${OTHER_ALLOWED}>.`;

const app = useTestBot({
  rows: 5,
  env: {
    KEYOPS_ALLOWED_CHANNELS: `${SECURITY_CHANNEL},${OTHER_ALLOWED}`,
    KEYOPS_SHARED_ENVIRONMENTS: "none",
  },
});
const workflows = () => app().database.db.prisma.workflow.count();
/** Refusals from the audit log (written just after the ack: poll for them). */
const refusals = async (): Promise<Record<string, unknown>[]> =>
  (await app().database.db.prisma.auditEvent.findMany({ where: { action: "permission.refused" } })).map(
    (e) => ({ workflowId: e.workflowId, actor: e.actor, ...(e.detail as Record<string, unknown>) }),
  );

async function command(
  text: string,
  options: { command?: string; channelId?: string; teamId?: string; userId?: string } = {},
) {
  const response = await app().client.command(options.command ?? "/key-rotate", text, {
    userId: options.userId ?? REQUESTER,
    channelId: options.channelId ?? SECURITY_CHANNEL,
    ...(options.teamId ? { teamId: options.teamId } : {}),
  });
  expect(response.status).toBe(200);
  return (response.body === "" ? {} : response.json()) as { response_type?: string; text?: string };
}

/** Sends `rotation`'s button for `stepKey` as `userId`, with parts of the request changed. */
function sendButton(
  rotation: WorkflowDriver,
  stepKey: string,
  actionId: string,
  change: {
    channelId?: string;
    messageTs?: string;
    teamId?: string;
    enterpriseId?: string;
    userId?: string;
  } = {},
) {
  const element = rotation.findAction(stepKey, actionId);
  expect(element).toBeDefined();
  return app().client.blockAction({
    userId: change.userId ?? REQUESTER,
    channelId: change.channelId ?? rotation.channel,
    messageTs: change.messageTs ?? rotation.messageTs,
    actionId,
    blockId: element?.blockId ?? "",
    ...(element?.value !== undefined ? { value: element.value } : {}),
    ...(change.teamId ? { teamId: change.teamId } : {}),
    ...(change.enterpriseId ? { enterpriseId: change.enterpriseId } : {}),
  });
}

const ephemeralsTo = (user: string, channel?: string) =>
  app()
    .slack.callsOf("chat.postEphemeral")
    .filter((c) => c.args.user === user && (!channel || c.args.channel === channel))
    .map((c) => String(c.args.text));

describe("requests are bound to their workspace, channel, message and form", () => {
  it("a Done on one workflow's message carrying another workflow's id is refused and audited", async () => {
    const first = await WorkflowDriver.start(app(), "/key-rotate", "staging first", REQUESTER);
    const second = await WorkflowDriver.start(
      app(),
      "/key-rotate",
      "staging second",
      REQUESTER,
      OTHER_ALLOWED,
    );
    const { number } = await second.state();
    // The second workflow's Done, sent as if clicked on the first one's message (and channel).
    await sendButton(second, "backup-database", "step_done", {
      channelId: first.channel,
      messageTs: first.messageTs,
    });
    expect(await first.ephemeralTo(REQUESTER)).toBe(
      `That button is not on #${number}'s message. Nothing was changed.`,
    );
    // Its own message, but another channel's id.
    await sendButton(second, "backup-database", "step_done", { channelId: SECURITY_CHANNEL });
    await sendButton(second, "backup-database", "step_done", { messageTs: first.messageTs });
    expect(await second.stepStatus("backup-database")).toBe("PENDING");
    expect(await first.stepStatus("backup-database")).toBe("PENDING");
    const ofSecond = async () => (await refusals()).filter((r) => r.workflowId === second.workflowId);
    await expect.poll(async () => (await ofSecond()).length).toBe(3);
    expect((await ofSecond())[0]).toMatchObject({ actor: REQUESTER, attempted: "action step_done" });
    // The real click still works.
    await second.click(REQUESTER, "backup-database", "step_done");
    await second.waitForStep("backup-database", "DONE");
  });

  it("a command or payload from another workspace or enterprise is refused", async () => {
    const before = await workflows();
    expect(await command("staging", { teamId: "T0ELSEWHERE" })).toEqual({
      response_type: "ephemeral",
      text: "KeyOps is not installed for this workspace.",
    });
    expect(await workflows()).toBe(before);

    const rotation = await WorkflowDriver.start(app(), "/key-rotate", "staging teams", REQUESTER);
    await rotation.click(REQUESTER, "generate-key", "step_run");
    await rotation.waitForStep("generate-key", "DONE");
    await sendButton(rotation, "approval", "step_approve", { userId: APPROVER, teamId: "T0ELSEWHERE" });
    await sendButton(rotation, "approval", "step_approve", { userId: APPROVER, enterpriseId: "E0ELSEWHERE" });
    await expect.poll(async () => (await refusals()).filter((r) => r.team === "T0ELSEWHERE").length).toBe(2);
    expect(await rotation.stepStatus("approval")).not.toBe("DONE");
    expect(
      (await refusals()).some((r) => r.attempted === "command /key-rotate" && r.team === "T0ELSEWHERE"),
    ).toBe(true);
  });

  it("commands, buttons and forms from channels outside KEYOPS_ALLOWED_CHANNELS are refused, /keyops status and access too", async () => {
    for (const text of ["status", "access list", "access grant <@U0SOMEONE|s> production"]) {
      expect(await command(text, { command: "/keyops", channelId: OUTSIDE, userId: APPROVER })).toEqual({
        response_type: "ephemeral",
        text: ONLY_IN,
      });
    }
    expect(await command("staging", { channelId: OUTSIDE })).toMatchObject({ text: ONLY_IN });
    const rotation = await WorkflowDriver.start(app(), "/key-rotate", "staging channels", REQUESTER);
    await sendButton(rotation, "backup-database", "step_done", { channelId: OUTSIDE });
    await expect.poll(() => ephemeralsTo(REQUESTER, OUTSIDE)).toContain(ONLY_IN);
    expect(await rotation.stepStatus("backup-database")).toBe("PENDING");
    expect(
      app()
        .slack.callsOf("chat.postEphemeral")
        .some((c) => c.args.text === "KeyOps status"),
    ).toBe(false);
    const outside = async () =>
      (await refusals())
        .filter((r) => r.channel === OUTSIDE)
        .map((r) => String(r.attempted))
        .sort();
    await expect
      .poll(outside)
      .toEqual([
        "action step_done",
        "command /key-rotate",
        "command /keyops",
        "command /keyops",
        "command /keyops",
      ]);
  });

  it("a forged incident form, or a real one edited or sent by someone else, is refused and the form says so", async () => {
    const { client, slack } = app();
    const before = await workflows();
    const values = {
      environment: { environment: { type: "static_select", selected_option: { value: "staging" } } },
      summary: { summary: { type: "plain_text_input", value: "forged" } },
      severity: { severity: { type: "static_select", selected_option: { value: "high" } } },
    };
    const submit = (privateMetadata: string, userId = REQUESTER) =>
      client.viewSubmission({ userId, callbackId: "declare_incident", privateMetadata, values });
    const shown = (response: { json(): unknown }) =>
      JSON.stringify((response.json() as { response_action?: string; view?: unknown }).view);

    const logged: string[] = [];
    const stderr = vi.spyOn(process.stderr, "write").mockImplementation((chunk) => {
      logged.push(String(chunk));
      return true;
    });
    let forged: Awaited<ReturnType<typeof submit>>;
    try {
      forged = await submit(JSON.stringify({ workflowId: "", channelId: "C0ATTACKER" }));
    } finally {
      stderr.mockRestore();
    }
    expect(forged.json()).toMatchObject({ response_action: "update" });
    expect(shown(forged)).toContain(NOT_OURS);
    // Logged as well as shown.
    expect(logged.join("")).toMatch(/a modal's metadata did not open.*declare_incident/);

    await command("", { command: "/key-compromised" });
    const sealed = (await slack.openedView("declare_incident")).privateMetadata;
    expect(() => JSON.parse(sealed)).toThrow();
    const edited = sealed.replace(SECURITY_CHANNEL, "C0ATTACKER");
    expect(edited).not.toBe(sealed);
    expect(shown(await submit(edited))).toContain(NOT_OURS);
    expect(shown(await submit(sealed, BYSTANDER))).toContain(NOT_OURS);
    expect(await workflows()).toBe(before);
    await expect
      .poll(async () => (await refusals()).filter((r) => r.attempted === "view declare_incident").length)
      .toBe(3);
  });
});

describe("control characters in what people type", () => {
  it("a NUL byte or a direction override in command text is refused with a clear message, changing nothing", async () => {
    const before = await workflows();
    expect(await command("staging reason\u0000here")).toEqual({
      response_type: "ephemeral",
      text: "The command text holds a control or text-direction character (U+0000); type it again without it. Nothing was changed.",
    });
    expect((await command("staging \u202Eevil")).text).toContain("(U+202E)");
    expect(
      (
        await command("access grant <@U0SOMEONE|s> production\u2066", {
          command: "/keyops",
          userId: APPROVER,
        })
      ).text,
    ).toContain("(U+2066)");
    expect((await command("<@U0LEAVER|x>\u0007", { command: "/offboard" })).text).toContain("(U+0007)");
    expect(await workflows()).toBe(before);
  });

  it("a reason with a NUL byte is refused in the form, changing nothing", async () => {
    const { client, slack } = app();
    const rotation = await WorkflowDriver.start(app(), "/key-rotate", "staging cancel", REQUESTER);
    await rotation.click(REQUESTER, "workflow", "workflow_cancel");
    const modal = await slack.openedView("cancel_workflow");
    const response = await client.viewSubmission({
      userId: REQUESTER,
      callbackId: "cancel_workflow",
      privateMetadata: modal.privateMetadata,
      values: { reason: { reason: { type: "plain_text_input", value: "mistake\u0000" } } },
    });
    expect(response.json()).toEqual({
      response_action: "errors",
      errors: {
        reason:
          "This field holds a control or text-direction character (U+0000); type it again without it. Nothing was changed.",
      },
    });
    expect((await rotation.state()).status).toBe("OPEN");
  });
});
