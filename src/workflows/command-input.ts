import { DateTime } from "luxon";
import { type Environment, isEnvironment, UnknownEnvironmentError } from "../environments.js";
import { UserError } from "../errors.js";
import type { CommandDefaults, Severity } from "./types.js";

const MAX_TEXT = 2000;

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

/** "<@U123|name> [yyyy-mm-dd]" as Slack escapes a mention (manifest: should_escape). */
export function parseOffboard(text: string): { subjectUserId: string; lastDay?: string } {
  const match = /^\s*<@([UW][A-Z0-9]{2,})(?:\|[^>]*)?>\s*(.*)$/.exec(text);
  if (!match) throw new UserError("say who is leaving: /offboard @person [last day as yyyy-mm-dd]");
  const subjectUserId = match[1] as string;
  const rest = (match[2] ?? "").trim();
  if (rest === "") return { subjectUserId };
  const day = DateTime.fromISO(rest, { zone: "UTC" });
  if (!/^\d{4}-\d{2}-\d{2}$/.test(rest) || !day.isValid) {
    throw new UserError(`"${rest.slice(0, 40)}" is not a date: give the last day as yyyy-mm-dd`);
  }
  return { subjectUserId, lastDay: rest };
}
