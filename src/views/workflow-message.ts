import type { ActionsBlock, Button, KnownBlock } from "@slack/types";
import { workflowVerbsNow } from "../workflows/authority.js";
import type { WorkflowSnapshot } from "../workflows/types.js";
import { button, divider, fieldsSection, header, section } from "./blocks.js";
import {
  actorLabel,
  escapeText,
  humanDuration,
  mention,
  plural,
  slackDate,
  slackMentions,
  truncateMrkdwn,
  userText,
} from "./format.js";
import { ACTION } from "./ids.js";
import { LIMITS } from "./limits.js";
import { pageBlocks } from "./page-status.js";
import { rotationSentence } from "./rotation.js";
import { isClosed, REASON_SHOWN_MAX, stepActions, stepCompact, stepText } from "./step-view.js";

export { progressLine } from "./rotation.js";
export { STATUS_ICON } from "./step-view.js";

export const WORKFLOW_BLOCK_ID = "workflow";
const SUMMARY_MAX = 2000;
const FOUND_BY_MAX = 900;
/** How long one step's line may be when steps share a section, tried in turn until all fit. */
const COMPACT_LINE_LENGTHS = [300, 120, 60];

/** The workflow's one message: re-rendered and `chat.update`d after every change. */
export function renderWorkflowMessage(
  w: WorkflowSnapshot,
  now: Date,
): { text: string; blocks: KnownBlock[] } {
  const head: KnownBlock[] = [
    header(`#${w.number} ${headerTitle(w)}`),
    fieldsSection(fields(w, now)),
    ...pageBlocks(w),
    ...story(w),
    divider(),
  ];
  const tail = footer(w, now);
  const steps = stepBlocks(w, LIMITS.messageBlocks - head.length - tail.length);
  return {
    text: truncateMrkdwn(`#${w.number} ${slackMentions(w.title)}: ${statusWord(w)}`, LIMITS.sectionText),
    blocks: [...head, ...steps, ...tail],
  };
}

/** A header is plain text, where a mention would show as `<@U123>`: the fields name the person. */
function headerTitle(w: WorkflowSnapshot): string {
  const title = w.title
    .replace(/<@[UW][A-Z0-9]+(?:\|[^<>]*)?>/g, "")
    .replace(/(^|\s)@[UW][A-Z0-9]{2,}\b/g, "$1")
    .replace(/\s+/g, " ")
    .trim();
  return title || w.name;
}

function statusWord(w: WorkflowSnapshot): string {
  return w.status === "OPEN" ? "open" : w.status === "RESOLVED" ? "resolved" : "cancelled";
}

function fields(w: WorkflowSnapshot, now: Date): string[] {
  const list = [
    `*Environment*\n${w.inputs.environments.join(", ") || "—"}`,
    `*Status*\n${w.status === "OPEN" ? "🟠 Open" : w.status === "RESOLVED" ? "🟢 Resolved" : "⚪ Cancelled"}`,
    `*${w.requesterLabel} by*\n${mention(w.requestedBy)}`,
    `*Started*\n${slackDate(w.createdAt)}`,
  ];
  if (w.inputs.severity) list.push(`*Severity*\n${w.inputs.severity}`);
  if (w.inputs.subjectUserId) list.push(`*Leaving*\n${mention(w.inputs.subjectUserId)}`);
  if (w.inputs.lastDay) list.push(`*Last day*\n${userText(w.inputs.lastDay, 100)}`);
  if (w.inputs.period) list.push(`*Period*\n${userText(w.inputs.period, 40)}`);
  if (w.inputs.trigger) list.push(`*Started because*\n${userText(w.inputs.trigger, 200)}`);
  if (w.deadlineAt) {
    const overdue = w.status === "OPEN" && now > w.deadlineAt;
    list.push(
      `*${escapeText(w.deadlineLabel ?? "Rotate by")}*\n${slackDate(w.deadlineAt)}${overdue ? " ⚠️ *overdue*" : ""}`,
    );
  }
  return list;
}

function story(w: WorkflowSnapshot): KnownBlock[] {
  const lines = [
    w.inputs.summary ? `*What happened:* ${userText(w.inputs.summary, SUMMARY_MAX)}` : "",
    w.inputs.foundBy ? `*How it was found:* ${userText(w.inputs.foundBy, FOUND_BY_MAX)}` : "",
  ].filter(Boolean);
  return lines.length > 0 ? [section(lines.join("\n"))] : [];
}

interface StepEntry {
  full: string;
  compact: string;
  actions: ActionsBlock | undefined;
}

/**
 * One section per step and, under each open step, its buttons. When that passes the message's
 * block budget it degrades, each stage only if the one before still does not fit:
 *  1. steps without buttons (closed, running, waiting) shrink to their headline and consecutive
 *     ones share a section;
 *  2. only the first K open steps keep their buttons (K as large as fits); the others shrink too,
 *     and a line says how many more open steps there are;
 *  3. shared lines are cut shorter;
 *  4. (only with hundreds of steps) the last section says how many steps are not shown.
 * Every step stays in the text through stage 3.
 */
function stepBlocks(w: WorkflowSnapshot, budget: number): KnownBlock[] {
  const blockIds = new Set<string>();
  const entries: StepEntry[] = w.steps.map((step) => {
    let actions = stepActions(w, step);
    // Two steps with one key would make Slack refuse the whole message; the second loses its buttons.
    if (actions?.block_id && blockIds.has(actions.block_id)) actions = undefined;
    if (actions?.block_id) blockIds.add(actions.block_id);
    return { full: stepText(w, step), compact: stepCompact(w, step), actions };
  });
  const everything = entries.flatMap((e) => [section(e.full), ...(e.actions ? [e.actions] : [])]);
  if (everything.length <= budget) return everything;

  // Each step kept with buttons costs two blocks, so no more than half the budget can keep them.
  const open = entries.filter((e) => e.actions).length;
  for (let withButtons = Math.min(open, Math.floor(budget / 2)); withButtons >= 0; withButtons--) {
    for (const lineMax of COMPACT_LINE_LENGTHS) {
      const blocks = packed(entries, withButtons, lineMax);
      if (blocks.length <= budget) return blocks;
    }
  }
  return headlinesOnly(entries, Math.max(1, budget));
}

/** The first `withButtons` open steps in full with their buttons; every other step as one line. */
function packed(entries: StepEntry[], withButtons: number, lineMax: number): KnownBlock[] {
  const blocks: KnownBlock[] = [];
  const shared = new SharedSection(blocks);
  let kept = 0;
  let withheld = 0;
  for (const entry of entries) {
    if (entry.actions && kept < withButtons) {
      shared.flush();
      blocks.push(section(entry.full), entry.actions);
      kept += 1;
      continue;
    }
    if (entry.actions) withheld += 1;
    shared.add(truncateMrkdwn(entry.compact, lineMax));
  }
  if (withheld > 0) shared.add(`_${plural(withheld, "more open step")} — finish the ones above first_`);
  shared.flush();
  return blocks;
}

/** Lines gathered into as few sections as the section limit allows. */
class SharedSection {
  private lines: string[] = [];
  private length = 0;

  constructor(private readonly blocks: KnownBlock[]) {}

  add(line: string): void {
    if (this.length + line.length + 1 > LIMITS.sectionText) this.flush();
    this.lines.push(line);
    this.length += line.length + 1;
  }

  flush(): void {
    if (this.lines.length > 0) this.blocks.push(section(this.lines.join("\n")));
    this.lines = [];
    this.length = 0;
  }
}

function headlinesOnly(entries: StepEntry[], budget: number): KnownBlock[] {
  const lineMax = COMPACT_LINE_LENGTHS.at(-1) ?? 60;
  const noteRoom = 80;
  const sections: string[][] = [[]];
  let length = 0;
  let shown = 0;
  for (const entry of entries) {
    const line = truncateMrkdwn(entry.compact, lineMax);
    if (length + line.length + 1 > LIMITS.sectionText - noteRoom) {
      if (sections.length >= budget) break;
      sections.push([]);
      length = 0;
    }
    sections.at(-1)?.push(line);
    length += line.length + 1;
    shown += 1;
  }
  if (shown < entries.length)
    sections.at(-1)?.push(`_…and ${plural(entries.length - shown, "more step")} not shown_`);
  return sections.map((lines) => section(lines.join("\n")));
}

function footer(w: WorkflowSnapshot, now: Date): KnownBlock[] {
  if (w.status === "OPEN") {
    if (!workflowVerbsNow(w).includes("cancel")) return [];
    const cancel: Button = {
      ...button("Cancel workflow…", ACTION.cancel, w.id, "danger"),
      confirm: {
        title: { type: "plain_text", text: "Cancel this workflow?" },
        text: { type: "mrkdwn", text: "You will be asked for a reason. Steps already done stay done." },
        confirm: { type: "plain_text", text: "Continue" },
        deny: { type: "plain_text", text: "Keep it open" },
      },
    };
    return [divider(), { type: "actions", block_id: WORKFLOW_BLOCK_ID, elements: [cancel] }];
  }
  return [divider(), section(closingSummary(w, now))];
}

/** How it ended: who and why, how long it took, who did which steps, the rotation's figures. */
export function closingSummary(w: WorkflowSnapshot, now: Date): string {
  const ended = w.closedAt ?? now;
  const by = w.closedBy && w.closedBy !== "keyops" ? ` by ${actorLabel(w.closedBy)}` : "";
  const how =
    w.status === "RESOLVED"
      ? `*Resolved*${by}: every step done or skipped`
      : `*Cancelled*${by}: ${userText(w.closeReason ?? "", REASON_SHOWN_MAX)}`;
  const lines = [`${how} · took ${humanDuration(ended.getTime() - w.createdAt.getTime())}`];
  const counts = new Map<string, number>();
  for (const step of w.steps) {
    if (!isClosed(step)) continue;
    const who = step.approval?.decision === "APPROVED" ? step.approval.by : step.finishedBy;
    if (who) counts.set(who, (counts.get(who) ?? 0) + 1);
  }
  if (counts.size > 0) {
    const people = [...counts].map(([who, n]) => `${actorLabel(who)} ${plural(n, "step")}`);
    lines.push(`Who did what: ${people.join(", ")}`);
  }
  for (const figures of w.steps.flatMap((s) => s.result?.rotations ?? []))
    lines.push(rotationSentence(figures));
  return lines.join("\n");
}
