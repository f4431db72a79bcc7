import type { ActionsBlock, Button, KnownBlock } from "@slack/types";
import type { RotationProgress, StepSnapshot, WorkflowSnapshot } from "../workflows/types.js";
import { escapeText, humanDuration, mention, slackDate, thousands, truncate } from "./format.js";
import { ACTION, encodeStepRef, stepBlockId } from "./ids.js";
import { LIMITS } from "./limits.js";

export const STATUS_ICON: Record<StepSnapshot["status"], string> = {
  PENDING: "⬜",
  AWAITING_APPROVAL: "⏳",
  RUNNING: "🔄",
  DONE: "✅",
  SKIPPED: "⏭️",
  FAILED: "❌",
};

/** The workflow's one message: re-rendered in place after every change. */
export function renderWorkflowMessage(
  w: WorkflowSnapshot,
  now: Date,
): { text: string; blocks: KnownBlock[] } {
  const head: KnownBlock[] = [
    {
      type: "header",
      text: { type: "plain_text", text: truncate(`#${w.number} ${w.title}`, LIMITS.headerText) },
    },
    { type: "section", fields: fields(w, now) },
    ...pageBlocks(w),
  ];
  const story = [
    w.inputs.summary ? `*What happened:* ${escapeText(w.inputs.summary)}` : "",
    w.inputs.foundBy ? `*How it was found:* ${escapeText(w.inputs.foundBy)}` : "",
  ].filter(Boolean);
  if (story.length > 0) {
    head.push({
      type: "section",
      text: { type: "mrkdwn", text: truncate(story.join("\n"), LIMITS.sectionText) },
    });
  }
  head.push({ type: "divider" });
  const tail = footer(w, now);
  const steps = stepBlocks(w, LIMITS.messageBlocks - head.length - tail.length);
  return {
    text: truncate(`#${w.number} ${w.title}: ${statusWord(w)}`, 3000),
    blocks: [...head, ...steps, ...tail],
  };
}

function statusWord(w: WorkflowSnapshot): string {
  return w.status === "OPEN" ? "open" : w.status === "RESOLVED" ? "resolved" : "cancelled";
}

function fields(w: WorkflowSnapshot, now: Date) {
  const list = [
    `*Environment*\n${w.inputs.environments.join(", ") || "—"}`,
    `*Status*\n${w.status === "OPEN" ? "🟠 Open" : w.status === "RESOLVED" ? "🟢 Resolved" : "⚪ Cancelled"}`,
    `*${w.kind === "key-compromised" ? "Declared" : "Requested"} by*\n${mention(w.requestedBy)}`,
    `*Started*\n${slackDate(w.createdAt)}`,
  ];
  if (w.inputs.severity) list.push(`*Severity*\n${w.inputs.severity}`);
  if (w.inputs.subjectUserId) list.push(`*Leaving*\n${mention(w.inputs.subjectUserId)}`);
  if (w.inputs.lastDay) list.push(`*Last day*\n${w.inputs.lastDay}`);
  if (w.deadlineAt) {
    const overdue = w.status === "OPEN" && now > w.deadlineAt;
    list.push(`*Rotate by*\n${slackDate(w.deadlineAt)}${overdue ? " ⚠️ *overdue*" : ""}`);
  }
  return list
    .slice(0, LIMITS.fields)
    .map((text) => ({ type: "mrkdwn" as const, text: truncate(text, LIMITS.field) }));
}

function pageBlocks(w: WorkflowSnapshot): KnownBlock[] {
  const page = w.page;
  const onCall = page.onCall.length > 0 ? ` · on call: ${page.onCall.map(mention).join(" ")}` : "";
  const buttons: Button[] = [];
  let text: string;
  switch (page.status) {
    case "off":
      text = "🔕 Paging is off (PagerDuty not configured)";
      break;
    case "paging":
      text = page.error
        ? `⚠️ Paging failed: ${escapeText(page.error)}; retrying`
        : "📟 Paging on-call via PagerDuty…";
      break;
    case "triggered":
      text = `📟 Paged via PagerDuty${onCall}`;
      buttons.push(
        button("Acknowledge", ACTION.pageAcknowledge, w.id),
        button("Resolve page", ACTION.pageResolve, w.id),
      );
      break;
    case "acknowledged":
      text = `✋ Acknowledged${page.by ? ` by ${person(page.by)}` : ""}${page.at ? ` at ${slackDate(page.at, "{time}")}` : ""}${onCall}`;
      buttons.push(button("Resolve page", ACTION.pageResolve, w.id));
      break;
    case "resolved":
      text = `✔️ Page resolved${page.by ? ` by ${person(page.by)}` : ""}`;
      break;
    case "failed":
      text = `⚠️ Paging failed${page.error ? `: ${escapeText(page.error)}` : ""}`;
      buttons.push(button("Page again", ACTION.pageAgain, w.id));
      break;
  }
  const blocks: KnownBlock[] = [
    { type: "context", elements: [{ type: "mrkdwn", text: truncate(text, LIMITS.sectionText) }] },
  ];
  if (w.status === "OPEN" && buttons.length > 0) {
    blocks.push({ type: "actions", block_id: "page", elements: buttons });
  }
  return blocks;
}

/** A Slack user id as a mention; a PagerDuty name as text. */
function person(who: string): string {
  return /^[UW][A-Z0-9]{2,}$/.test(who) ? mention(who) : escapeText(who);
}

interface StepEntry {
  text: string;
  actions: ActionsBlock | undefined;
}

/**
 * One section per step and one actions block per open step. When that would pass the message's
 * block limit, steps without buttons are merged into shared sections and only the first open
 * steps keep their buttons; every step still appears.
 */
function stepBlocks(w: WorkflowSnapshot, budget: number): KnownBlock[] {
  const entries: StepEntry[] = w.steps.map((step) => ({
    text: stepText(w, step),
    actions: stepActions(w, step),
  }));
  const full = entries.length + entries.filter((e) => e.actions).length;
  if (full <= budget) {
    return entries.flatMap((e) => [section(e.text), ...(e.actions ? [e.actions] : [])]);
  }
  const open = entries.filter((e) => e.actions).length;
  for (let withButtons = Math.min(open, Math.floor((budget - 2) / 3)); withButtons >= 0; withButtons--) {
    const blocks = packed(entries, withButtons);
    if (blocks.length <= budget) return blocks;
  }
  return packed(entries, 0).slice(0, budget);
}

function packed(entries: StepEntry[], withButtons: number): KnownBlock[] {
  const blocks: KnownBlock[] = [];
  let merged: string[] = [];
  let kept = 0;
  let withheld = 0;
  const flush = () => {
    if (merged.length > 0) blocks.push(section(merged.join("\n")));
    merged = [];
  };
  for (const entry of entries) {
    if (entry.actions && kept < withButtons) {
      flush();
      blocks.push(section(entry.text), entry.actions);
      kept += 1;
      continue;
    }
    if (entry.actions) withheld += 1;
    const line = truncate(entry.text.split("\n")[0] ?? "", 300);
    if ([...merged, line].join("\n").length > LIMITS.sectionText) flush();
    merged.push(line);
  }
  if (withheld > 0)
    merged.push(`_${withheld} more open steps get their buttons when the ones above are done_`);
  flush();
  return blocks;
}

function section(text: string): KnownBlock {
  return { type: "section", text: { type: "mrkdwn", text: truncate(text, LIMITS.sectionText) } };
}

function stepText(w: WorkflowSnapshot, step: StepSnapshot): string {
  const indent = step.parent ? "      ↳ " : "";
  const lines = [`${indent}${STATUS_ICON[step.status]} *${escapeText(step.title)}*${who(step)}`];
  const open = step.status !== "DONE" && step.status !== "SKIPPED";
  if (open && step.hint) lines.push(`${indent}_${escapeText(step.hint)}_`);
  if (step.assignee && open) lines.push(`${indent}Assigned to ${mention(step.assignee)}`);
  if (step.status === "AWAITING_APPROVAL")
    lines.push(`${indent}Waiting for an approver (not ${mention(w.requestedBy)})`);
  if (step.skipReason) lines.push(`${indent}Skipped: ${escapeText(step.skipReason)}`);
  if (step.approval?.decision === "REJECTED") {
    lines.push(
      `${indent}Rejected by ${mention(step.approval.by)}: ${escapeText(step.approval.reason ?? "")}`,
    );
  }
  if (step.status === "RUNNING" && step.action === "rotate" && w.rotation)
    lines.push(progressLine(w.rotation));
  for (const line of step.result?.lines ?? []) lines.push(`${indent}> ${escapeText(line)}`);
  if (step.status === "FAILED" && step.result?.failedRows) {
    lines.push(
      `${indent}*${thousands(step.result.failedRows)} rows could not be re-encrypted* (left unchanged)`,
    );
  }
  if (step.status === "FAILED" && step.error && step.approval?.decision !== "REJECTED") {
    lines.push(`${indent}Failed: ${escapeText(step.error)}`);
  }
  return lines.join("\n");
}

function who(step: StepSnapshot): string {
  if (step.status === "DONE" && step.approval?.decision === "APPROVED") {
    return ` — approved by ${mention(step.approval.by)} ${slackDate(step.approval.at, "{time}")}`;
  }
  if ((step.status === "DONE" || step.status === "SKIPPED") && step.finishedBy) {
    const by = step.finishedBy === "keyops" ? "KeyOps" : mention(step.finishedBy);
    return ` — ${step.status === "DONE" ? "done" : "skipped"} by ${by}${step.finishedAt ? ` ${slackDate(step.finishedAt, "{time}")}` : ""}`;
  }
  return "";
}

/** `▓▓▓▓▓░░░░░ 52% · 104,000 / 200,000 rows · 41,200 rows/s · ETA 3 s` */
export function progressLine(p: RotationProgress): string {
  const share = p.total > 0 ? Math.min(1, p.done / p.total) : 0;
  const filled = Math.round(share * 20);
  const eta = p.etaSeconds === null ? "" : ` · ETA ${humanDuration(p.etaSeconds * 1000)}`;
  return (
    `\`${"▓".repeat(filled)}${"░".repeat(20 - filled)}\` ${Math.floor(share * 100)}% · ${p.environment} ${p.phase} · ` +
    `${thousands(p.done)} / ${thousands(p.total)} rows · ${thousands(p.rowsPerSecond)} rows/s${eta}`
  );
}

function stepActions(w: WorkflowSnapshot, step: StepSnapshot): ActionsBlock | undefined {
  if (
    w.status !== "OPEN" ||
    step.status === "DONE" ||
    step.status === "SKIPPED" ||
    step.status === "RUNNING"
  ) {
    return undefined;
  }
  const needsDone = (step.needs ?? []).every((key) => w.steps.find((s) => s.key === key)?.status === "DONE");
  if (!needsDone) return undefined;
  const ref = encodeStepRef({ workflowId: w.id, stepKey: step.key });
  const elements: ActionsBlock["elements"] = [];
  if (step.requiresApproval) {
    elements.push(
      button("Approve", ACTION.approve, ref, "primary"),
      button("Reject", ACTION.reject, ref, "danger"),
    );
  } else if (step.action && step.automatic) {
    if (step.status === "FAILED") elements.push(button("Retry", ACTION.retry, ref, "primary"));
  } else {
    if (step.status === "FAILED") elements.push(button("Retry", ACTION.retry, ref, "primary"));
    else if (step.action) elements.push(button(step.runLabel ?? "Run", ACTION.run, ref, "primary"));
    else elements.push(button("Done", ACTION.done, ref, "primary"));
    if (step.skippable !== false) elements.push(button("Skip…", ACTION.skip, ref));
    elements.push({
      type: "users_select",
      action_id: ACTION.assign,
      placeholder: { type: "plain_text", text: "Assign…" },
      ...(step.assignee ? { initial_user: step.assignee } : {}),
    });
  }
  if (elements.length === 0) return undefined;
  return { type: "actions", block_id: stepBlockId({ workflowId: w.id, stepKey: step.key }), elements };
}

function button(text: string, actionId: string, value: string, style?: "primary" | "danger"): Button {
  return {
    type: "button",
    text: { type: "plain_text", text: truncate(text, LIMITS.buttonText) },
    action_id: actionId,
    value,
    ...(style ? { style } : {}),
  };
}

function footer(w: WorkflowSnapshot, now: Date): KnownBlock[] {
  if (w.status === "OPEN") {
    const cancel: Button = {
      ...button("Cancel workflow…", ACTION.cancel, w.id, "danger"),
      confirm: {
        title: { type: "plain_text", text: "Cancel this workflow?" },
        text: { type: "mrkdwn", text: "You will be asked for a reason. Steps already done stay done." },
        confirm: { type: "plain_text", text: "Continue" },
        deny: { type: "plain_text", text: "Keep it open" },
      },
    };
    return [{ type: "divider" }, { type: "actions", block_id: "workflow", elements: [cancel] }];
  }
  return [{ type: "divider" }, section(summary(w, now))];
}

/** How it ended: who, why, how long, who did what, and the rotation's figures. */
export function summary(w: WorkflowSnapshot, now: Date): string {
  const ended = w.closedAt ?? now;
  const how =
    w.status === "RESOLVED"
      ? "*Resolved*: every step done or skipped"
      : `*Cancelled* by ${mention(w.closedBy ?? "")}: ${escapeText(w.closeReason ?? "")}`;
  const lines = [`${how} · took ${humanDuration(ended.getTime() - w.createdAt.getTime())}`];
  const counts = new Map<string, number>();
  for (const step of w.steps) {
    const by = step.approval?.decision === "APPROVED" ? step.approval.by : step.finishedBy;
    if (by && by !== "keyops") counts.set(by, (counts.get(by) ?? 0) + 1);
  }
  if (counts.size > 0) {
    lines.push(
      `Who did what: ${[...counts].map(([user, n]) => `${mention(user)} ${n} step${n === 1 ? "" : "s"}`).join(", ")}`,
    );
  }
  for (const r of w.steps.flatMap((s) => s.result?.rotations ?? [])) {
    lines.push(
      `Rotation ${r.environment}: ${thousands(r.reencrypted)} of ${thousands(r.rows)} rows to v${r.toVersion} ` +
        `(${r.toFingerprint}) in ${humanDuration(r.durationMs)}, ${thousands(r.rowsPerSecond)} rows/s, ` +
        `${r.failed} failed, digest ${r.digestUnchanged ? "unchanged ✓" : "CHANGED ✗"}`,
    );
  }
  return lines.join("\n");
}
