import type { Grant } from "../workflows/roster.js";
import { slackDate, truncate } from "./format.js";

export function renderAccessList(grants: Grant[]): string {
  if (grants.length === 0) return "The roster is empty: nobody has recorded key access.";
  const lines = grants.map(
    (g) =>
      `• *${g.environment}*: <@${g.slackUserId}> (granted by <@${g.grantedBy}> ${slackDate(g.grantedAt, "{date_short}")})`,
  );
  return truncate(`*Key access roster*\n${lines.join("\n")}`, 3000);
}
