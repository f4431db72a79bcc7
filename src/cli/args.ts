import { UserError } from "../errors.js";

export function parsePositiveInteger(
  text: string | undefined,
  what: string,
  max = Number.MAX_SAFE_INTEGER,
): number {
  if (text === undefined || !/^\d+$/.test(text.trim()))
    throw new UserError(`${what} must be a positive integer`);
  const value = Number(text.trim());
  if (value < 1 || value > max) throw new UserError(`${what} must be from 1 to ${max}`);
  return value;
}

/** Versions are PostgreSQL integers. */
export const MAX_KEY_VERSION = 2_147_483_647;

export function parseVersion(text: string | undefined): number {
  const bare = text?.trim().replace(/^v/i, "");
  return parsePositiveInteger(bare, "the key version (e.g. 2 or v2)", MAX_KEY_VERSION);
}
