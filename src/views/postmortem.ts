import type { TimelineEvent, WorkflowSnapshot } from "../workflows/types.js";
import { humanDuration, utcTime } from "./format.js";
import { describeEvent } from "./thread-line.js";

/** A markdown post-mortem draft from the timeline, for the team to finish. */
export function renderPostmortem(
  w: WorkflowSnapshot,
  events: TimelineEvent[],
  stepTitles: Record<string, string>,
): string {
  const end = w.closedAt ?? events.at(-1)?.at ?? w.createdAt;
  const who = (id: string) => (id === "keyops" ? "KeyOps" : id === "pagerduty" ? "PagerDuty" : `@${id}`);
  const lines = [
    `# Post-mortem #${w.number}: ${w.title}`,
    "",
    "## Summary",
    "",
    `- Environment: ${w.inputs.environments.join(", ")}`,
    ...(w.inputs.severity ? [`- Severity: ${w.inputs.severity}`] : []),
    `- Declared by: @${w.requestedBy}`,
    `- Started: ${utcTime(w.createdAt)}`,
    `- Status: ${w.status.toLowerCase()} (${humanDuration(end.getTime() - w.createdAt.getTime())} so far)`,
    "",
    "## What happened",
    "",
    w.inputs.summary ?? "_(not given)_",
    ...(w.inputs.foundBy ? ["", `How it was found: ${w.inputs.foundBy}`] : []),
    "",
    "## Timeline (UTC)",
    "",
    ...events.map(
      (e) =>
        `- ${utcTime(e.at)} ${who(e.actor)} ${describeEvent(e, e.stepKey ? stepTitles[e.stepKey] : undefined, "plain")}`,
    ),
    "",
    "## Checklist",
    "",
    ...w.steps.map((s) => {
      const mark = s.status === "DONE" ? "x" : " ";
      const by = s.finishedBy ? ` (${s.status.toLowerCase()} by ${who(s.finishedBy)})` : "";
      const reason = s.skipReason ? `: ${s.skipReason}` : "";
      return `- [${mark}] ${s.parent ? "  " : ""}${s.title}${by}${reason}`;
    }),
  ];
  const rotations = w.steps.flatMap((s) => s.result?.rotations ?? []);
  if (rotations.length > 0) {
    lines.push("", "## Rotation", "");
    for (const r of rotations) {
      lines.push(
        `- ${r.environment}: ${r.reencrypted} of ${r.rows} rows re-encrypted to v${r.toVersion} (fingerprint ${r.toFingerprint}), ` +
          `${r.failed} failed, ${r.rowsPerSecond} rows/s, digest ${r.digestUnchanged ? "unchanged" : "changed"}`,
      );
    }
  }
  lines.push(
    "",
    "## Learnings",
    "",
    "### What went well",
    "",
    "- ",
    "",
    "### What to improve",
    "",
    "- ",
    "",
    "### Follow-ups",
    "",
    "- [ ] ",
    "",
  );
  return lines.join("\n");
}
