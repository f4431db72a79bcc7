import type { TimelineEvent } from "../workflows/types.js";
import {
  actorLabel,
  escapeText,
  mention,
  plainMentions,
  safeMrkdwn,
  slackDate,
  truncate,
  truncateMrkdwn,
  utcTime,
} from "./format.js";
import { LIMITS } from "./limits.js";

const DETAIL_MAX = 1000;

/** One line of the workflow's thread for one audit event: when, who, what. */
export function renderThreadLine(e: TimelineEvent, stepTitle?: string): string {
  const drill = e.detail.drill === true ? "*[DRILL]* " : "";
  return truncateMrkdwn(
    `${drill}${slackDate(e.at, "{time_secs}")} ${actorOf(e, "slack")} ${describeEvent(e, stepTitle, "slack")}`,
    LIMITS.sectionText,
  );
}

/** The same line for the post-mortem's markdown: UTC time, `@U123` for people, no Slack markup. */
export function renderPlainLine(e: TimelineEvent, stepTitle?: string): string {
  return `${utcTime(e.at)} ${actorOf(e, "plain")} ${describeEvent(e, stepTitle, "plain")}`;
}

type Style = "slack" | "plain";

/** KeyOps, PagerDuty (or "Ona Call via PagerDuty" when PagerDuty names who), or the person. */
function actorOf(e: TimelineEvent, style: Style): string {
  if (e.actor === "pagerduty" && typeof e.detail.by === "string" && e.detail.by !== "PagerDuty") {
    const by = truncate(e.detail.by, 200);
    return `${style === "slack" ? escapeText(by) : by} via PagerDuty`;
  }
  const label = actorLabel(e.actor);
  return style === "slack" ? label : plainMentions(label);
}

/** What happened, in words; `plain` for the post-mortem (no Slack markup). */
export function describeEvent(e: TimelineEvent, stepTitle: string | undefined, style: Style): string {
  const title = stepTitle ?? e.stepKey ?? "";
  const step = style === "slack" ? `*${escapeText(title)}*` : `"${title}"`;
  const user = (id: unknown) => (style === "slack" ? mention(String(id)) : `@${String(id)}`);
  const when = (value: unknown) => {
    const at = typeof value === "string" ? new Date(value) : undefined;
    if (!at || Number.isNaN(at.getTime())) return text(value);
    return style === "slack" ? slackDate(at) : utcTime(at);
  };
  const users = (ids: unknown) =>
    String(ids ?? "")
      .split(/[\s,]+/)
      .filter(Boolean)
      .map(user)
      .join(" ");
  const text = (value: unknown) => {
    const raw = truncate(String(value ?? ""), DETAIL_MAX);
    return style === "slack" ? safeMrkdwn(raw) : plainMentions(raw);
  };
  const d = e.detail;
  switch (e.action) {
    case "workflow.started": {
      const environments = String(d.environments ?? "")
        .split(",")
        .filter(Boolean)
        .join(", ");
      const facts = [environments, d.severity ? text(d.severity) : ""].filter(Boolean).join(", ");
      return `started the workflow${facts ? ` (${text(facts)})` : ""}${d.subject ? ` for ${user(d.subject)}` : ""}`;
    }
    case "workflow.resolved":
      return "resolved the workflow: every step is done or skipped";
    case "workflow.cancelled":
      return `cancelled the workflow: ${text(d.reason)}`;
    case "step.done":
      return `marked ${step} done`;
    case "step.skipped":
      return `skipped ${step}: ${text(d.reason)}`;
    case "step.assigned":
      return `assigned ${step} to ${user(d.assignee)}`;
    case "step.started":
      return `started ${step}`;
    case "step.retried":
      return `retried ${step}`;
    case "step.taken-over":
      return `took over ${step} from ${text(d.from)}, silent for ${text(d.silentSeconds)} s (stopped or lost the database); resuming from its checkpoint`;
    case "step.succeeded":
      return `${step} finished${d.summary ? `: ${text(d.summary)}` : ""}`;
    case "step.failed":
      return `${step} failed: ${text(d.error)}`;
    case "approval.requested":
      return `asked for approval of ${step}`;
    case "approval.approved":
      return `approved ${step}`;
    case "approval.rejected":
      return `rejected ${step}: ${text(d.reason)}`;
    case "permission.refused":
      return `was refused${d.attempted ? ` (${text(d.attempted)})` : ""}: ${text(d.reason)}`;
    case "page.triggered":
      return "paged on-call";
    case "page.failed":
      return `paging failed: ${text(d.error)}`;
    case "page.acknowledged":
      return "acknowledged the page";
    case "page.escalated":
      return `escalated the page${d.to ? ` to ${text(d.to)}` : ""}`;
    case "page.reassigned":
      return `reassigned the page${d.to ? ` to ${text(d.to)}` : ""}`;
    case "page.resolved":
      return "resolved the page";
    case "page.unacknowledged":
      return `nobody has acknowledged the page yet${d.onCall ? `: ${users(d.onCall)}` : ""}`;
    case "deadline.reminder": {
      const who = String(d.remind ?? "")
        .split(/\s+/)
        .filter(Boolean)
        .map((id) => (id.startsWith("S") && style === "slack" ? `<!subteam^${id}>` : user(id)))
        .join(" ");
      const line = d.late
        ? `reminder: overdue, it was due ${when(d.due)}`
        : `reminder: the rotation is due by ${when(d.due)}`;
      return who ? `${line}: ${who}` : line;
    }
    case "schedule.due":
      return `${text(d.why)}: this workflow covers it`;
    case "deadline.missed":
      return `past its deadline (${when(d.due)}) and not done${d.paged ? ": on-call paged" : ""}`;
    case "access.granted":
      return `granted ${user(d.user)} access to ${text(d.environment)}`;
    case "access.revoked":
      return `revoked ${user(d.user)}'s access to ${text(d.environment)}`;
    case "key.exported":
      return `exported v${text(d.version)} of ${text(d.environment)} (fingerprint ${text(d.fingerprint)}) to a file`;
    case "key.imported":
      return `imported lost v${text(d.version)} of ${text(d.environment)} (fingerprint ${text(d.fingerprint)}) from a backup`;
    case "key.destroyed":
      return `destroyed v${text(d.version)} of ${text(d.environment)} (fingerprint ${text(d.fingerprint)}): its key is erased, approved by ${text(d.approvedBy)}`;
  }
}
