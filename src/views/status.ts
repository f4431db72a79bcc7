import type { HomeView, KnownBlock } from "@slack/types";
import type { KeyringStatus } from "../engine/engine.js";
import type { WorkflowSnapshot } from "../workflows/types.js";
import { slackDate, thousands, truncate } from "./format.js";
import { LIMITS } from "./limits.js";

export interface StatusData {
  workflows: WorkflowSnapshot[];
  keyrings: KeyringStatus[];
  schedules?: { environment: string; nextDueAt: Date; lastRotatedAt: Date }[];
}

const MAX_WORKFLOW_LINES = 30;

/** /keyops status: open workflows and every environment's key versions (fingerprints only). */
export function renderStatus(data: StatusData, now: Date): KnownBlock[] {
  const blocks: KnownBlock[] = [{ type: "header", text: { type: "plain_text", text: "KeyOps status" } }];
  blocks.push(section(workflowLines(data.workflows)));
  blocks.push({ type: "divider" });
  for (const keyring of data.keyrings) blocks.push(section(keyringText(keyring, data, now)));
  return blocks.slice(0, LIMITS.messageBlocks);
}

export function renderHome(data: StatusData, now: Date): HomeView {
  return { type: "home", blocks: renderStatus(data, now).slice(0, LIMITS.homeBlocks) };
}

function workflowLines(workflows: WorkflowSnapshot[]): string {
  if (workflows.length === 0) return "*Open workflows:* none";
  const lines = workflows.slice(0, MAX_WORKFLOW_LINES).map((w) => {
    const open = w.steps.filter((s) => s.status !== "DONE" && s.status !== "SKIPPED").length;
    return `• *#${w.number}* ${truncate(w.title, 120)} — ${open} open step${open === 1 ? "" : "s"}`;
  });
  if (workflows.length > MAX_WORKFLOW_LINES) lines.push(`…and ${workflows.length - MAX_WORKFLOW_LINES} more`);
  return `*Open workflows (${workflows.length}):*\n${lines.join("\n")}`;
}

function keyringText(k: KeyringStatus, data: StatusData, now: Date): string {
  const lines = [`*${k.environment}* — active: ${k.activeVersion === null ? "none" : `v${k.activeVersion}`}`];
  for (const v of [...k.versions].reverse().slice(0, 10)) {
    lines.push(
      `• v${v.version} ${v.state.toLowerCase().replace("_", "-")} \`${v.fingerprint}\` · ${thousands(v.rows)} rows`,
    );
  }
  if (k.versions.length > 10) lines.push(`…and ${k.versions.length - 10} older versions`);
  if (k.rowsUnderUnknownVersions > 0)
    lines.push(`⚠️ ${thousands(k.rowsUnderUnknownVersions)} rows under unknown versions`);
  if (k.runningRun) {
    lines.push(
      `🔄 run ${k.runningRun.id}: ${thousands(k.runningRun.rowsDone)} / ${thousands(k.runningRun.rowsTotal)} rows`,
    );
  }
  const schedule = data.schedules?.find((s) => s.environment === k.environment);
  if (schedule) {
    const overdue = schedule.nextDueAt < now ? " ⚠️ *overdue*" : "";
    lines.push(
      `Last rotated ${slackDate(schedule.lastRotatedAt, "{date_short}")}; next due ${slackDate(schedule.nextDueAt, "{date_short}")}${overdue}`,
    );
  }
  return lines.join("\n");
}

function section(text: string): KnownBlock {
  return { type: "section", text: { type: "mrkdwn", text: truncate(text, LIMITS.sectionText) } };
}
