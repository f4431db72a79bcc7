import type { App } from "@slack/bolt";
import { renderAccessList } from "../../views/access.js";
import { renderHelp } from "../../views/help.js";
import { renderStatus } from "../../views/status.js";
import type { HandlerDeps } from "../deps.js";
import { loadStatusData } from "../status-data.js";

const MENTION = /^<@([UW][A-Z0-9]{2,})(?:\|[^>]*)?>$/;
const ACCESS_USAGE =
  "Usage: /keyops access [list | grant @person <environment> | revoke @person <environment>]";

/** /keyops help | status | access …: everything that is not a workflow. */
export function registerKeyopsCommand(app: App, deps: HandlerDeps): void {
  app.command("/keyops", async ({ command, ack, client }) => {
    const [sub = "help", ...args] = command.text.trim().split(/\s+/).filter(Boolean);
    const at = { channel: command.channel_id, user: command.user_id };
    switch (sub.toLowerCase()) {
      case "help":
        await ack({ response_type: "ephemeral", blocks: renderHelp(), text: "KeyOps commands" });
        return;
      case "status":
        await ack();
        await client.chat.postEphemeral({
          ...at,
          text: "KeyOps status",
          blocks: renderStatus(await loadStatusData(deps), new Date()),
        });
        return;
      case "access":
        await ack();
        await client.chat.postEphemeral({ ...at, text: await access(deps, command.user_id, args) });
        return;
      default:
        await ack({
          response_type: "ephemeral",
          text: `Unknown subcommand "${sub.slice(0, 30)}". Try /keyops help.`,
        });
    }
  });
}

async function access(deps: HandlerDeps, userId: string, args: string[]): Promise<string> {
  if (!(await deps.service.isApprover(userId)))
    return "Only a configured approver can see or change the roster.";
  const [action = "list", who = "", environment = ""] = args;
  if (action === "list") return renderAccessList(await deps.roster.list());
  const subject = MENTION.exec(who)?.[1];
  if ((action !== "grant" && action !== "revoke") || !subject || !environment) return ACCESS_USAGE;
  if (action === "grant") {
    await deps.roster.grant(subject, environment, userId);
    return `Granted <@${subject}> access to ${environment.toLowerCase()}.`;
  }
  await deps.roster.revoke(subject, environment, userId);
  return `Revoked <@${subject}>'s access to ${environment.toLowerCase()}.`;
}
