import { DateTime } from "luxon";

/** A calendar quarter in a time zone: "2027-Q1", from its first midnight to the next quarter's. */
export interface Quarter {
  /** e.g. "2027-Q1". */
  period: string;
  start: Date;
  /** The next quarter's start (exclusive). */
  end: Date;
}

/** The calendar quarter `at` falls in, in `timeZone` (an IANA zone): its start is midnight there, not UTC. */
export function quarterOf(at: Date, timeZone: string): Quarter {
  const local = DateTime.fromJSDate(at, { zone: timeZone });
  if (!local.isValid) throw new Error(`unknown time zone "${timeZone}"`);
  const start = local.startOf("quarter");
  return {
    period: `${start.year}-Q${start.quarter}`,
    start: start.toJSDate(),
    end: start.plus({ months: 3 }).toJSDate(),
  };
}

/** The quarter after the one `at` falls in. */
export function nextQuarter(at: Date, timeZone: string): Quarter {
  return quarterOf(quarterOf(at, timeZone).end, timeZone);
}

/** Whether `timeZone` is an IANA zone luxon (and so Intl) knows. */
export function isTimeZone(timeZone: string): boolean {
  return DateTime.now().setZone(timeZone).isValid;
}
