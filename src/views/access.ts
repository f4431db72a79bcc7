import type { Grant } from "../workflows/roster.js";
import { escapeText, mention, slackDate, thousands } from "./format.js";
import { LIMITS } from "./limits.js";

const NOTE_ROOM = 40;

/** /keyops access list: who may read which environment's keys, as one message text. */
export function renderAccessList(grants: Grant[]): string {
  if (grants.length === 0) return "The roster is empty: nobody has recorded key access.";
  const lines = ["*Key access roster*"];
  let length = lines[0]?.length ?? 0;
  let shown = 0;
  for (const g of grants) {
    const line =
      `• *${escapeText(g.environment)}*: ${mention(g.slackUserId)} ` +
      `(granted by ${mention(g.grantedBy)} ${slackDate(g.grantedAt, "{date_short}")})`;
    if (length + 1 + line.length > LIMITS.sectionText - NOTE_ROOM) break;
    lines.push(line);
    length += 1 + line.length;
    shown += 1;
  }
  if (shown < grants.length) lines.push(`…and ${thousands(grants.length - shown)} more`);
  return lines.join("\n");
}
