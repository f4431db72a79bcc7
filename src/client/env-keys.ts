import { SecretKey } from "../crypto/secret-key.js";

/** The keys a service holds in its hosting variables (the guide's Option B). */
export interface EnvKeys {
  /** Version -> key. Version 1 is the guide's legacy `ENCRYPTION_KEY` (it also reads `iv:tag:ct`). */
  keys: Map<number, SecretKey>;
  /** `ENCRYPTION_KEY_ACTIVE`, when set and held. */
  configuredActive: number | null;
  /** What is wrong with the variables (names only, never values). */
  problems: string[];
}

const VERSIONED = /^ENCRYPTION_KEY_V([1-9][0-9]{0,8})$/;
const LEGACY_VERSION = 1;

/**
 * Reads `ENCRYPTION_KEY` (legacy, version 1), `ENCRYPTION_KEY_V<n>` (version n) and
 * `ENCRYPTION_KEY_ACTIVE`. Never throws for a bad key: the problem is reported instead, so a
 * misconfigured instance still starts, reports and shows up in KeyOps's alerts.
 */
export function readEnvKeys(env: Record<string, string | undefined>): EnvKeys {
  const keys = new Map<number, SecretKey>();
  const names = new Map<number, string>();
  const problems: string[] = [];
  const add = (version: number, name: string, value: string) => {
    let key: SecretKey;
    try {
      key = SecretKey.fromBase64(value, name);
    } catch (error) {
      problems.push((error as Error).message);
      return;
    }
    const existing = keys.get(version);
    if (existing) {
      if (!existing.equals(key))
        problems.push(`${names.get(version)} and ${name} are both version ${version} but differ`);
      return;
    }
    for (const [other, otherKey] of keys) {
      if (otherKey.equals(key)) problems.push(`${names.get(other)} and ${name} are the same key`);
    }
    keys.set(version, key);
    names.set(version, name);
  };

  const legacy = blank(env.ENCRYPTION_KEY);
  if (legacy !== undefined) add(LEGACY_VERSION, "ENCRYPTION_KEY", legacy);
  const versioned = Object.keys(env)
    .map((name) => ({ name, match: VERSIONED.exec(name) }))
    .filter((entry) => entry.match !== null)
    .sort((a, b) => Number(a.match?.[1]) - Number(b.match?.[1]));
  for (const { name, match } of versioned) {
    const value = blank(env[name]);
    if (value !== undefined) add(Number(match?.[1]), name, value);
  }
  if (keys.size === 0 && problems.length === 0) {
    problems.push("no encryption key is configured (ENCRYPTION_KEY or ENCRYPTION_KEY_V<n>)");
  }

  let configuredActive: number | null = null;
  const active = blank(env.ENCRYPTION_KEY_ACTIVE);
  if (active !== undefined) {
    const version = /^[1-9][0-9]{0,8}$/.test(active) ? Number(active) : Number.NaN;
    if (Number.isNaN(version)) problems.push("ENCRYPTION_KEY_ACTIVE must be a version number");
    else if (!keys.has(version))
      problems.push(`ENCRYPTION_KEY_ACTIVE names version ${version}, which is not set`);
    else configuredActive = version;
  }
  return { keys, configuredActive, problems };
}

function blank(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === "" ? undefined : value;
}
