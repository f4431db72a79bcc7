import { MAX_KEY_VERSION } from "../crypto/ciphertext.js";
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

export function parseVersion(text: string | undefined): number {
  const bare = text?.trim().replace(/^v/i, "");
  return parsePositiveInteger(bare, "the key version (e.g. 2 or v2)", MAX_KEY_VERSION);
}
