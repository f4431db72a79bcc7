import type { TimelineEvent } from "../workflows/types.js";
import { actorLabel, escapeText, mention, slackDate, truncate } from "./format.js";

/** One line of the workflow's thread for one audit event: when, who, what. */
export function renderThreadLine(e: TimelineEvent, stepTitle?: string): string {
  return truncate(
    `${slackDate(e.at, "{time_secs}")} ${actorLabel(e.actor)} ${describeEvent(e, stepTitle, "slack")}`,
    3000,
  );
}

/** What happened, in words; `plain` for the post-mortem (no Slack markup). */
export function describeEvent(
  e: TimelineEvent,
  stepTitle: string | undefined,
  style: "slack" | "plain",
): string {
  const step =
    style === "slack" ? `*${escapeText(stepTitle ?? e.stepKey ?? "")}*` : `"${stepTitle ?? e.stepKey ?? ""}"`;
  const user = (id: unknown) => (style === "slack" ? mention(String(id)) : `@${String(id)}`);
  const text = (value: unknown) =>
    style === "slack" ? escapeText(String(value ?? "")) : String(value ?? "");
  const d = e.detail;
  switch (e.action) {
    case "workflow.started":
      return `started the workflow (${text(d.environments)}${d.severity ? `, ${text(d.severity)}` : ""})`;
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
    case "step.succeeded":
      return `finished ${step}: ${text(d.summary)}`;
    case "step.failed":
      return `${step} failed: ${text(d.error)}`;
    case "approval.requested":
      return `asked for approval of ${step}`;
    case "approval.approved":
      return `approved ${step}`;
    case "approval.rejected":
      return `rejected ${step}: ${text(d.reason)}`;
    case "permission.refused":
      return `was refused (${text(d.attempted)}): ${text(d.reason)}`;
    case "page.triggered":
      return "paged on-call";
    case "page.failed":
      return `paging failed: ${text(d.error)}`;
    case "page.acknowledged":
      return `acknowledged the page${d.by ? ` (${text(d.by)})` : ""}`;
    case "page.escalated":
      return `escalated the page${d.to ? ` to ${text(d.to)}` : ""}`;
    case "page.reassigned":
      return `reassigned the page${d.to ? ` to ${text(d.to)}` : ""}`;
    case "page.resolved":
      return "resolved the page";
    case "page.unacknowledged":
      return `nobody has acknowledged the page yet${d.onCall ? `: ${String(d.onCall).split(" ").map(user).join(" ")}` : ""}`;
    case "access.granted":
      return `granted ${user(d.user)} access to ${text(d.environment)}`;
    case "access.revoked":
      return `revoked ${user(d.user)}'s access to ${text(d.environment)}`;
    case "deadline.reminder":
      return `reminder: the rotation is due by ${style === "slack" && typeof d.due === "string" ? slackDate(new Date(d.due)) : text(d.due)}`;
  }
}
