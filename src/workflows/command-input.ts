import { DateTime } from "luxon";
import { type Environment, isEnvironment, UnknownEnvironmentError } from "../environments.js";
import { UserError } from "../errors.js";
import type { CommandDefaults, Severity } from "./types.js";

const MAX_TEXT = 2000;

/**
 * Refuses text holding control characters (NUL, escapes; tab and newlines are fine) or Unicode
 * text-direction marks, embeddings, overrides and isolates (which make text read otherwise than it is).
 */
export function refuseUnsafeCharacters(text: string, what: string): void {
  for (const character of text) {
    const code = character.codePointAt(0) ?? 0;
    if (!isUnsafe(code)) continue;
    const name = `U+${code.toString(16).toUpperCase().padStart(4, "0")}`;
    throw new UserError(
      `${what} holds a control or text-direction character (${name}); type it again without it. Nothing was changed.`,
    );
  }
}

function isUnsafe(code: number): boolean {
  if (code < 0x20) return code !== 0x09 && code !== 0x0a && code !== 0x0d;
  if (code >= 0x7f && code <= 0x9f) return true;
  return (
    code === 0x061c ||
    code === 0x200e ||
    code === 0x200f ||
    (code >= 0x2028 && code <= 0x202e) ||
    (code >= 0x2066 && code <= 0x2069)
  );
}

/** "[environment] [free text]": an empty text means the default environment. */
export function parseEnvironmentAndText(
  text: string,
  defaults: CommandDefaults,
): { environment: Environment; rest: string } {
  const trimmed = text.trim();
  if (trimmed === "") return { environment: defaults.environment, rest: "" };
  const [first = "", ...rest] = trimmed.split(/\s+/);
  const candidate = first.toLowerCase();
  if (!isEnvironment(candidate)) throw new UnknownEnvironmentError(first.slice(0, 40));
  return { environment: candidate, rest: rest.join(" ").slice(0, MAX_TEXT) };
}

export function defaultSeverity(environment: Environment): Severity {
  return environment === "production" ? "critical" : "high";
}

/** "@U123 <environment>": a person by their directory id and the environment they are to read. */
export function parsePersonAndEnvironment(
  text: string,
  usage: string,
): { subjectUserId: string; environment: Environment } {
  const match = /^\s*@([A-Z0-9]{3,})\s+(\S+)\s*$/.exec(text);
  if (!match) throw new UserError(`say who and which environment: ${usage}`);
  const candidate = (match[2] as string).toLowerCase();
  if (!isEnvironment(candidate)) throw new UnknownEnvironmentError((match[2] as string).slice(0, 40));
  return { subjectUserId: match[1] as string, environment: candidate };
}

/** A last day further ahead than this is a typo, not a plan (and would schedule reminders for it). */
const LAST_DAY_MAX_AHEAD = { years: 1 } as const;

/** "@U123 [yyyy-mm-dd]": the person by their directory id (the handler reads Slack's mention into it). */

export function parseOffboard(text: string, now = new Date()): { subjectUserId: string; lastDay?: string } {
  const match = /^\s*@([A-Z0-9]{3,})(?:\s+(.*))?$/.exec(text);
  if (!match) throw new UserError("say who is leaving: /offboard @person [last day as yyyy-mm-dd]");
  const subjectUserId = match[1] as string;
  const rest = (match[2] ?? "").trim();
  if (rest === "") return { subjectUserId };
  const day = DateTime.fromISO(rest, { zone: "UTC" });
  if (!/^\d{4}-\d{2}-\d{2}$/.test(rest) || !day.isValid) {
    throw new UserError(`"${rest.slice(0, 40)}" is not a date: give the last day as yyyy-mm-dd`);
  }
  const latest = DateTime.fromJSDate(now, { zone: "UTC" }).plus(LAST_DAY_MAX_AHEAD).plus({ days: 1 });
  if (day > latest) {
    throw new UserError(
      `${rest} is more than a year ahead: give a last day within the next year (yyyy-mm-dd). Nothing was changed.`,
    );
  }
  return { subjectUserId, lastDay: rest };
}
