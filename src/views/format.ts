import { DateTime, Duration } from "luxon";

/** Cuts text to at most `max` characters, marking the cut. */
export function truncate(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, Math.max(0, max - 1))}…`;
}

/** User-typed text shown in mrkdwn: Slack's three control characters escaped. */
export function escapeText(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

export const mention = (userId: string) => `<@${userId}>`;

/** The actor of an audit event as people read it. */
export function actorLabel(actor: string): string {
  if (actor === "keyops") return "KeyOps";
  if (actor === "pagerduty") return "PagerDuty";
  return mention(actor);
}

/** A time every reader sees in their own zone, with an ISO fallback. */
export function slackDate(at: Date, format = "{date_short_pretty} {time}"): string {
  const seconds = Math.floor(at.getTime() / 1000);
  return `<!date^${seconds}^${format}|${at.toISOString()}>`;
}

export function humanDuration(ms: number): string {
  const d = Duration.fromMillis(Math.max(0, ms)).shiftTo("days", "hours", "minutes", "seconds");
  const parts: string[] = [];
  if (d.days) parts.push(`${d.days} d`);
  if (d.hours) parts.push(`${d.hours} h`);
  if (d.minutes) parts.push(`${d.minutes} min`);
  if (parts.length === 0) parts.push(`${Math.round(d.seconds)} s`);
  return parts.join(" ");
}

export function utcTime(at: Date): string {
  return DateTime.fromJSDate(at, { zone: "UTC" }).toFormat("yyyy-MM-dd HH:mm:ss 'UTC'");
}

export const thousands = (n: number) => Math.round(n).toLocaleString("en-US");
