import type { StepSnapshot, TimelineEvent, WorkflowSnapshot } from "../workflows/types.js";
import { humanDuration, plainMentions, thousands, utcTime } from "./format.js";
import { renderPlainLine } from "./thread-line.js";

/** A markdown post-mortem draft from the timeline, for the team to finish. */
export function renderPostmortem(
  w: WorkflowSnapshot,
  events: TimelineEvent[],
  stepTitles: Record<string, string>,
): string {
  const ended = w.closedAt;
  const until = ended ?? events.at(-1)?.at ?? w.createdAt;
  const took = humanDuration(until.getTime() - w.createdAt.getTime());
  const lines = [
    `# Post-mortem #${w.number}: ${plainMentions(w.title)}`,
    "",
    "## Summary",
    "",
    `- Environment: ${w.inputs.environments.join(", ") || "none"}`,
    ...(w.inputs.severity ? [`- Severity: ${w.inputs.severity}`] : []),
    `- ${w.requesterLabel} by: @${w.requestedBy}`,
    ...(w.inputs.subjectUserId ? [`- Leaving: @${w.inputs.subjectUserId}`] : []),
    `- Started: ${utcTime(w.createdAt)}`,
    ended
      ? `- Ended: ${utcTime(ended)} (${w.status.toLowerCase()})`
      : `- Ended: not yet (${w.status.toLowerCase()})`,
    `- Duration: ${took}${ended ? "" : " so far"}`,
    ...(w.deadlineAt ? [`- Deadline: ${utcTime(w.deadlineAt)}`] : []),
    ...(w.status === "CANCELLED" && w.closeReason
      ? [`- Cancelled because: ${plainMentions(w.closeReason)}`]
      : []),
    "",
    "## What happened",
    "",
    w.inputs.summary ? plainMentions(w.inputs.summary) : "_(not given)_",
    ...(w.inputs.foundBy ? ["", `How it was found: ${plainMentions(w.inputs.foundBy)}`] : []),
    "",
    "## Timeline (UTC)",
    "",
    ...(events.length === 0 ? ["_(no events)_"] : []),
    ...events.map((e) => `- ${renderPlainLine(e, e.stepKey ? stepTitles[e.stepKey] : undefined)}`),
    "",
    "## Checklist",
    "",
    ...w.steps.map(checklistLine),
  ];
  const rotations = w.steps.flatMap((s) => s.result?.rotations ?? []);
  if (w.inputs.drill) lines.push("", ...drillResponseTimes(w, events));
  if (rotations.length > 0) {
    lines.push("", "## Rotation", "");
    for (const r of rotations) {
      lines.push(
        `- ${r.environment}: ${thousands(r.reencrypted)} of ${thousands(r.rows)} rows re-encrypted to v${r.toVersion} ` +
          `(fingerprint ${r.toFingerprint}), ${thousands(r.failed)} failed, ${thousands(r.rowsPerSecond)} rows/s, ` +
          `took ${humanDuration(r.durationMs)}, digest ${r.digestUnchanged ? "unchanged" : r.applicationWrites ? `changed only by ${r.applicationWrites} application writes` : "CHANGED"}`,
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

function checklistLine(s: StepSnapshot): string {
  const mark = s.status === "DONE" ? "x" : " ";
  const indent = s.parent ? "  " : "";
  const who = (id: string) => (id === "keyops" ? "KeyOps" : `@${id}`);
  let outcome: string;
  if (s.status === "DONE" && s.approval?.decision === "APPROVED")
    outcome = `approved by ${who(s.approval.by)}`;
  else if (s.status === "DONE") outcome = s.finishedBy ? `done by ${who(s.finishedBy)}` : "done";
  else if (s.status === "SKIPPED") {
    outcome = `skipped${s.finishedBy ? ` by ${who(s.finishedBy)}` : ""}${s.skipReason ? `: ${plainMentions(s.skipReason)}` : ""}`;
  } else if (s.approval?.decision === "REJECTED") {
    outcome = `rejected by ${who(s.approval.by)}${s.approval.reason ? `: ${plainMentions(s.approval.reason)}` : ""}`;
  } else outcome = s.status.toLowerCase().replace("_", " ");
  const results = (s.result?.lines ?? []).map((line) => `${indent}  - ${plainMentions(line)}`);
  return [`${indent}- [${mark}] ${plainMentions(s.title)} (${outcome})`, ...results].join("\n");
}

/**
 * A drill's response times from its timeline (to acknowledge, to approval, to rotation done) and
 * how long the live targets would take at the rate the scratch copy was rotated at.
 */
function drillResponseTimes(w: WorkflowSnapshot, events: TimelineEvent[]): string[] {
  const since = (e: TimelineEvent | undefined, none: string) =>
    e ? humanDuration(e.at.getTime() - w.createdAt.getTime()) : none;
  const rotateKeys = new Set(w.steps.filter((s) => s.action === "rotate").map((s) => s.key));
  const acknowledged = events.find((e) => e.action === "page.acknowledged");
  const approved = events.find((e) => e.action === "approval.approved");
  const rotated = events.find((e) => e.action === "step.succeeded" && rotateKeys.has(e.stepKey ?? ""));
  const lines = [
    "## Drill: response times",
    "",
    "This was a drill: the rotation ran on a scratch copy of the targets and keyring, dropped when the drill ends; the live rows and key states were not touched.",
    "",
    `- To acknowledge: ${since(acknowledged, w.page.status === "off" ? "not paged" : "not acknowledged")}`,
    `- To approval: ${since(approved, "not approved")}`,
    `- To rotation done: ${since(rotated, "not rotated")}`,
  ];
  for (const r of w.steps.flatMap((s) => s.result?.rotations ?? [])) {
    const estimate =
      r.rowsPerSecond > 0
        ? `about ${humanDuration((r.rows / r.rowsPerSecond) * 1000)}`
        : "(no rate measured)";
    lines.push(
      `- Rotating ${r.environment}'s live targets (${thousands(r.rows)} rows) would take ${estimate} ` +
        `at the measured ${thousands(r.rowsPerSecond)} rows/s (the drill's whole run took ${humanDuration(r.durationMs)})`,
    );
  }
  return lines;
}
