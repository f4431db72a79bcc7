import { DateTime, Duration } from "luxon";

import { cutBefore, ELLIPSIS } from "../text.js";

export { truncate } from "../text.js";

/**
 * Cuts mrkdwn to at most `max` characters without leaving half a `<…>` token (a mention, a date)
 * or half an `&…;` entity, which Slack would show as raw markup.
 */
export function truncateMrkdwn(text: string, max: number): string {
  if (text.length <= max) return text;
  let cut = Math.max(0, max - ELLIPSIS.length);
  const head = text.slice(0, cut);
  const openToken = head.lastIndexOf("<");
  if (openToken > head.lastIndexOf(">")) cut = openToken;
  const openEntity = head.lastIndexOf("&");
  if (openEntity > head.lastIndexOf(";") && openEntity >= cut - 5) cut = Math.min(cut, openEntity);
  return `${text.slice(0, cutBefore(text, cut))}${ELLIPSIS}`;
}

/** User-typed text shown in mrkdwn: Slack's three control characters escaped. */
export function escapeText(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

const USER_MENTION = /<@([UW][A-Z0-9]+)(?:\|[^<>]*)?>/g;

/**
 * Text from people or stored data shown in mrkdwn: escaped so it cannot ping @channel or a user
 * group, but a user mention (`<@U123>`, `<@U123|bob>` from a slash command) still renders.
 */
export function safeMrkdwn(text: string): string {
  const source = slackMentions(text);
  const parts: string[] = [];
  let last = 0;
  for (const match of source.matchAll(USER_MENTION)) {
    parts.push(escapeText(source.slice(last, match.index)), mention(match[1] ?? ""));
    last = match.index + match[0].length;
  }
  parts.push(escapeText(source.slice(last)));
  return parts.join("");
}

/**
 * Workflows name people as `@U123` (their Slack id), never in Slack's markup: here each becomes a
 * mention. `<@U123>` (Slack's own, as typed in a command) is left as it is.
 */
export function slackMentions(text: string): string {
  return text.replace(PERSON_REF, (_, before: string, id: string) => `${before}${mention(id)}`);
}

const PERSON_REF = /(^|[^<\w@])@([UW][A-Z0-9]{2,})\b/g;

/** `safeMrkdwn`, then cut to `max` characters (the cut counts the escaped length). */
export function userText(text: string, max: number): string {
  return truncateMrkdwn(safeMrkdwn(text), max);
}

/** Text for plain_text surfaces and the post-mortem: a mention becomes `@U123` (or `@name`). */
export function plainMentions(text: string): string {
  return text.replace(/<@([UW][A-Z0-9]+)(?:\|([^<>]*))?>/g, (_, id: string, name?: string) =>
    name ? `@${name}` : `@${id}`,
  );
}

export const mention = (userId: string) => `<@${userId}>`;

/** Someone named by PagerDuty (a name) or by Slack (a user id). */
export function person(who: string): string {
  return /^[UW][A-Z0-9]{2,}$/.test(who) ? mention(who) : escapeText(who);
}

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

/** "1 h 12 min", "3 d 4 h", "42 s". */
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

/** "1 step", "3 steps". */
export function plural(count: number, word: string): string {
  return `${thousands(count)} ${word}${count === 1 ? "" : "s"}`;
}
