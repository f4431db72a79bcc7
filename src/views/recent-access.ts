import type { UpdatedIntegration } from "../engine/guide-table.js";
import { escapeText } from "./format.js";

const LISTED_MAX = 20;

/** The guide's audit query in the thread: the summary, then the newest rows (names are user data). */
export function renderRecentAccess(summary: string, rows: UpdatedIntegration[]): string {
  const listed = rows
    .slice(0, LISTED_MAX)
    .map(
      (r) =>
        `• ${r.updatedAt.toISOString()} ${r.platform} ${escapeText(r.displayName)} (${escapeText(r.id)})`,
    );
  const more = rows.length > LISTED_MAX ? [`…and ${rows.length - LISTED_MAX} more`] : [];
  return ["*Audit: access in the last 24 hours*", escapeText(summary), ...listed, ...more].join("\n");
}
