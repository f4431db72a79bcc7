import type { HomeView, KnownBlock } from "@slack/types";
import type { ClientInstanceInfo } from "../engine/client-registry.js";
import type { KeyringStatus } from "../engine/engine.js";
import type { WorkflowSnapshot } from "../workflows/types.js";
import { context, divider, header, section } from "./blocks.js";
import { escapeText, humanDuration, plural, slackDate, thousands, userText } from "./format.js";
import { LIMITS } from "./limits.js";
import { progressBar } from "./rotation.js";
import { isClosed } from "./step-view.js";

export interface RotationScheduleView {
  environment: string;
  nextDueAt: Date;
  lastRotatedAt: Date;
}

export interface StatusData {
  /** The open workflows. */
  workflows: WorkflowSnapshot[];
  keyrings: KeyringStatus[];
  schedules?: RotationScheduleView[];
  /** The application's instances seen in the last day (keyops/client reports). */
  clients?: ClientInstanceInfo[];
  /** Workflows the bot starts by itself (quarterly maintenance): the latest one (not a drill), the next start. */
  scheduled?: ScheduledView[];
}

export interface ScheduledView {
  name: string;
  command: string;
  latest?: WorkflowSnapshot;
  nextStartAt?: Date;
}

/** How much of each list a surface shows before "…and N more". */
interface Room {
  blocks: number;
  workflowLines: number;
  workflowSections: number;
  versionsPerEnvironment: number;
  clientsPerEnvironment: number;
}

const MESSAGE_ROOM: Room = {
  blocks: LIMITS.messageBlocks,
  workflowLines: 30,
  workflowSections: 3,
  versionsPerEnvironment: 10,
  clientsPerEnvironment: 8,
};
const HOME_ROOM: Room = {
  blocks: LIMITS.homeBlocks,
  workflowLines: 100,
  workflowSections: 10,
  versionsPerEnvironment: 20,
  clientsPerEnvironment: 30,
};
const TITLE_MAX = 150;
/** Room kept in every list section for the "…and N more" line. */
const NOTE_ROOM = 100;

/** /keyops status: open workflows and every environment's key versions (fingerprints only). */
export function renderStatus(data: StatusData, now: Date): KnownBlock[] {
  return statusBlocks(data, now, MESSAGE_ROOM);
}

/** The App Home: the same, with room for longer lists. */
export function renderHome(data: StatusData, now: Date): HomeView {
  return { type: "home", blocks: statusBlocks(data, now, HOME_ROOM) };
}

function statusBlocks(data: StatusData, now: Date, room: Room): KnownBlock[] {
  const keyrings = data.keyrings.map((k) =>
    section(keyringText(k, data.schedules ?? [], data.clients ?? [], now, room)),
  );
  const top: KnownBlock[] = [header("KeyOps status"), context(`As of ${slackDate(now)}`)];
  const sectionsLeft = room.blocks - top.length - 1 - keyrings.length;
  const workflows = listSections(
    data.workflows.length === 0
      ? "*Open workflows:* none"
      : `*Open workflows (${thousands(data.workflows.length)}):*`,
    data.workflows.map((w) => workflowLine(w, now)),
    room.workflowLines,
    Math.max(1, Math.min(room.workflowSections, sectionsLeft)),
  );
  const scheduled = (data.scheduled ?? []).map((s) => scheduledLine(s, now));
  return [
    ...top,
    ...workflows.map(section),
    ...(scheduled.length > 0 ? [section(scheduled.join("\n"))] : []),
    divider(),
    ...keyrings,
  ].slice(0, room.blocks);
}

/** `*Quarterly maintenance:* #12 Key maintenance 2027-Q1 — 🟠 open · 2 open steps · ⚠️ overdue · next starts …`. */
export function scheduledLine(s: ScheduledView, now: Date): string {
  const next = s.nextStartAt ? ` · next starts by itself ${slackDate(s.nextStartAt, "{date_short}")}` : "";
  const w = s.latest;
  if (!w) return `*${escapeText(s.name)}:* none yet (\`${escapeText(s.command)}\` starts one)${next}`;
  const open = w.steps.filter((step) => !isClosed(step)).length;
  const facts =
    w.status === "OPEN"
      ? ["🟠 open", plural(open, "open step")]
      : [
          `${w.status === "RESOLVED" ? "🟢 resolved" : "⚪ cancelled"} ${slackDate(w.closedAt ?? w.createdAt, "{date_short}")}`,
        ];
  if (w.status === "OPEN" && w.deadlineAt && now > w.deadlineAt) facts.push("⚠️ *overdue*");
  return `*${escapeText(s.name)}:* #${w.number} ${userText(w.title, TITLE_MAX)} — ${facts.join(" · ")}${next}`;
}

function workflowLine(w: WorkflowSnapshot, now: Date): string {
  const open = w.steps.filter((s) => !isClosed(s)).length;
  const facts = [`${w.status === "OPEN" ? "🟠 open" : w.status.toLowerCase()}`, plural(open, "open step")];
  if (w.steps.some((s) => s.status === "AWAITING_APPROVAL")) facts.push("⏳ awaiting approval");
  if (w.steps.some((s) => s.status === "RUNNING")) {
    facts.push(w.rotation ? `🔄 ${progressBar(w.rotation.done, w.rotation.total)}` : "🔄 running");
  }
  if (w.steps.some((s) => s.status === "FAILED")) facts.push("❌ a step failed");
  if (w.deadlineAt && w.status === "OPEN" && now > w.deadlineAt) facts.push("⚠️ *overdue*");
  return `• *#${w.number}* ${userText(w.title, TITLE_MAX)} — ${facts.join(" · ")}`;
}

/**
 * A heading and lines spread over at most `maxSections` section texts, at most `maxLines` lines;
 * whatever does not fit is counted in a last "…and N more" line, which always has room.
 */
function listSections(heading: string, lines: string[], maxLines: number, maxSections: number): string[] {
  const sections: string[][] = [[heading]];
  let length = heading.length;
  let shown = 0;
  for (const line of lines) {
    if (shown >= maxLines) break;
    if (length + 1 + line.length > LIMITS.sectionText - NOTE_ROOM) {
      if (sections.length >= maxSections) break;
      sections.push([]);
      length = -1;
    }
    sections.at(-1)?.push(line);
    length += 1 + line.length;
    shown += 1;
  }
  if (shown < lines.length) sections.at(-1)?.push(`…and ${thousands(lines.length - shown)} more`);
  return sections.map((s) => s.join("\n"));
}

function keyringText(
  k: KeyringStatus,
  schedules: RotationScheduleView[],
  clients: ClientInstanceInfo[],
  now: Date,
  room: Room,
): string {
  const lines = [
    `*${k.environment}* — active: ${k.activeVersion === null ? "none" : `v${k.activeVersion}`} · ` +
      `${escapeText(k.target)}`,
  ];
  const newestFirst = [...k.versions].sort((a, b) => b.version - a.version);
  for (const v of newestFirst.slice(0, room.versionsPerEnvironment)) {
    lines.push(
      `• v${v.version}${v.legacy ? " (legacy)" : ""} ${v.state.toLowerCase().replace("_", "-")} ` +
        `\`${escapeText(v.fingerprint)}\` · ${plural(v.rows, "row")}`,
    );
  }
  const older = newestFirst.length - room.versionsPerEnvironment;
  if (older > 0) lines.push(`…and ${plural(older, "older version")}`);
  if (k.rowsUnderUnknownVersions > 0) {
    lines.push(`⚠️ ${plural(k.rowsUnderUnknownVersions, "row")} under unknown versions`);
  }
  if (k.runningRun) {
    const run = k.runningRun;
    lines.push(
      `🔄 run ${run.id}: ${progressBar(run.rowsDone, run.rowsTotal)} · ` +
        `${thousands(run.rowsDone)} / ${thousands(run.rowsTotal)} rows · started ${slackDate(run.startedAt, "{time}")}`,
    );
  }
  lines.push(
    ...clientLines(
      clients.filter((c) => c.environment === k.environment),
      now,
      room,
    ),
  );
  const schedule = schedules.find((s) => s.environment === k.environment);
  if (schedule) {
    const overdue = schedule.nextDueAt < now ? " ⚠️ *overdue*" : "";
    lines.push(
      `Last rotated ${slackDate(schedule.lastRotatedAt, "{date_short}")}; ` +
        `next due ${slackDate(schedule.nextDueAt, "{date_short}")}${overdue}`,
    );
  }
  return lines.join("\n");
}

/** `Application: 2 live instances` and a line each: versions held, version written, last seen, failures. */
function clientLines(clients: ClientInstanceInfo[], now: Date, room: Room): string[] {
  if (clients.length === 0)
    return ["Application: no instance reports (the hand-over gate cannot vouch for it)"];
  const live = clients.filter((c) => c.live);
  const lines = [`Application: ${plural(live.length, "live instance")}`];
  for (const c of clients.slice(0, room.clientsPerEnvironment)) {
    const seen = humanDuration(now.getTime() - c.lastSeenAt.getTime());
    const held = c.versions.map((v) => `v${v.version}`).join(" ") || "no keys";
    const writes = c.encryptsVersion === null ? "writes nothing" : `writes v${c.encryptsVersion}`;
    const state = c.stoppedAt ? "stopped" : c.live ? "" : "silent ";
    const failures =
      c.failuresLastHour > 0 ? ` · ⚠️ ${plural(c.failuresLastHour, "failure")} in the last hour` : "";
    const problems = c.problems.length > 0 ? ` · ⚠️ ${escapeText(c.problems[0] ?? "")}` : "";
    lines.push(
      `• ${escapeText(c.service)} \`${escapeText(c.instanceId)}\` (${c.source}) ${state}holds ${held} · ${writes} · ` +
        `seen ${seen} ago${failures}${problems}`,
    );
  }
  if (clients.length > room.clientsPerEnvironment) {
    lines.push(`…and ${plural(clients.length - room.clientsPerEnvironment, "more instance")}`);
  }
  return lines;
}
