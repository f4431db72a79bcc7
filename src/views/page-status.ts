import type { ActionsBlock, Button, KnownBlock } from "@slack/types";
import { type WorkflowVerb, workflowVerbsNow } from "../workflows/authority.js";
import type { WorkflowSnapshot } from "../workflows/types.js";
import { button, context } from "./blocks.js";
import { mention, person, slackDate, userText } from "./format.js";
import { ACTION } from "./ids.js";

export const PAGE_BLOCK_ID = "page";
const MAX_ON_CALL_SHOWN = 20;
const ERROR_MAX = 500;

const PAGE_BUTTONS: Record<Exclude<WorkflowVerb, "cancel">, (workflowId: string) => Button> = {
  "page-acknowledge": (id) => button("Acknowledge", ACTION.pageAcknowledge, id, "primary"),
  "page-resolve": (id) => button("Resolve page", ACTION.pageResolve, id),
  "page-again": (id) => button("Page again", ACTION.pageAgain, id, "primary"),
};

/** The paging line under the header and, while the workflow is open, the buttons that fit it. */
export function pageBlocks(w: WorkflowSnapshot): KnownBlock[] {
  const page = w.page;
  let text: string;
  switch (page.status) {
    case "off":
      text = "🔕 Paging is off (PagerDuty not configured)";
      break;
    case "paging":
      text = page.error
        ? `⚠️ Paging failed: ${userText(page.error, ERROR_MAX)}; retrying`
        : "📟 Paging on-call via PagerDuty…";
      break;
    case "triggered":
      text = `📟 Paged via PagerDuty${onCall(page.onCall)}`;
      break;
    case "acknowledged":
      text =
        `✋ Acknowledged${page.by ? ` by ${person(page.by)}` : ""}` +
        `${page.at ? ` at ${slackDate(page.at, "{time}")}` : ""}${onCall(page.onCall)}`;
      break;
    case "resolved":
      text = `✔️ Page resolved${page.by ? ` by ${person(page.by)}` : ""}`;
      break;
    case "failed":
      text = `⚠️ Paging failed${page.error ? `: ${userText(page.error, ERROR_MAX)}` : ""}`;
      break;
  }
  const buttons = workflowVerbsNow(w).flatMap((verb) =>
    verb === "cancel" ? [] : [PAGE_BUTTONS[verb](w.id)],
  );
  const blocks: KnownBlock[] = [context(text)];
  if (buttons.length > 0) blocks.push(pageActions(buttons));
  return blocks;
}

function pageActions(elements: Button[]): ActionsBlock {
  return { type: "actions", block_id: PAGE_BLOCK_ID, elements };
}

function onCall(userIds: string[]): string {
  if (userIds.length === 0) return "";
  const shown = userIds.slice(0, MAX_ON_CALL_SHOWN).map(mention).join(" ");
  const more = userIds.length > MAX_ON_CALL_SHOWN ? ` and ${userIds.length - MAX_ON_CALL_SHOWN} more` : "";
  return ` · on call: ${shown}${more}`;
}
