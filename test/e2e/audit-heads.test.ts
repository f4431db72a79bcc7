import { describe, expect, it } from "vitest";
import { lastPublishedHead } from "../../src/audit/audit-heads.js";
import { readChainHead, verifyAuditChain } from "../../src/workflows/audit-log.js";
import { eventually, REQUESTER, SECURITY_CHANNEL, useTestBot } from "../support/bot.js";
import { WorkflowDriver } from "../support/workflow-driver.js";

// Issue 9 #14: the bot publishes the audit chain's head outside the database at every workflow's
// end (and at start, and on its timer): a line in the append-only file and one in the security channel.

const app = useTestBot({
  env: { KEYOPS_ALERT_CHANNEL: SECURITY_CHANNEL, KEYOPS_AUDIT_PUBLISH_SECONDS: "0" },
});

describe("the audit chain's head, published by the bot", () => {
  it("at a workflow's end: the file's last line and the security channel name the chain's head", async () => {
    const { slack, client, bot, config } = app();
    const rotation = await WorkflowDriver.start(app(), "/key-rotate", "staging published", REQUESTER);
    await rotation.click(REQUESTER, "workflow", "workflow_cancel");
    const modal = await slack.openedView("cancel_workflow");
    await client.viewSubmission({
      userId: REQUESTER,
      callbackId: "cancel_workflow",
      privateMetadata: modal.privateMetadata,
      values: { reason: { reason: { type: "plain_text_input", value: "opened by mistake" } } },
    });
    await rotation.waitForStatus("CANCELLED");
    const number = (await rotation.state()).number;
    const head = await eventually("the head published at the workflow's end", async () => {
      const last = await lastPublishedHead(config.auditHeadFile);
      return last?.reason === `workflow #${number} cancelled` ? last : undefined;
    });
    expect(head).toMatchObject(await readChainHead(bot.runtime.db.prisma));
    const line = await slack.waitFor(
      (c) =>
        c.method === "chat.postMessage" &&
        String(c.args.text).startsWith(`:link: Audit chain head: event #${head.sequence}, hash ${head.hash}`),
      "the head's line in the security channel",
    );
    expect(line.args).toMatchObject({ channel: SECURITY_CHANNEL });
    expect(String(line.args.text)).toContain(`(workflow #${number} cancelled,`);
    expect(await verifyAuditChain(bot.runtime.db.prisma, head)).toMatchObject({
      ok: true,
      tailMissing: false,
    });
  });
});
