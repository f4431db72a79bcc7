import type pg from "pg";
import { type Environment, isEnvironment } from "../environments.js";
import { qualifiedTable, quoteIdent, type Target } from "./target.js";

/**
 * A drill's scratch copy of an environment: a keyring named `drill:<id>:<environment>` holding the
 * same versions, states and keys as the live one, and each target's table copied (same rows, same
 * ciphertexts) into the schema `keyops_drill_<id>` of the target's own database. The engine takes
 * the scratch keyring's name wherever it takes an environment's; nothing live is touched.
 */
const KEYRING_PREFIX = "drill:";
const SCHEMA_PREFIX = "keyops_drill_";

export interface ScratchScope {
  /** The scratch keyring's name, passed to the engine in place of the environment. */
  keyring: Environment;
  /** The live environment it copies. */
  environment: Environment;
  schema: string;
}

/** The scratch scope of a drill (`id`: the drill's workflow id) for one environment. */
export function scratchScope(id: string, environment: Environment): ScratchScope {
  const short = id.replaceAll("-", "").toLowerCase().slice(0, 16);
  if (!/^[0-9a-z]{8,16}$/.test(short)) throw new Error("a drill's id must be at least 8 letters or digits");
  // The engine names keyrings by environment; a scratch keyring's name is a string it stores the same way.
  const keyring = `${KEYRING_PREFIX}${short}:${environment}` as Environment;
  return { keyring, environment, schema: `${SCHEMA_PREFIX}${short}` };
}

/** The scope a keyring name stands for, when it is a scratch one. */
export function parseScratchKeyring(name: string): ScratchScope | undefined {
  const match = /^drill:([0-9a-z]{8,16}):(.+)$/.exec(name);
  if (!match || !isEnvironment(match[2] as string)) return undefined;
  return {
    keyring: name as Environment,
    environment: match[2] as Environment,
    schema: `${SCHEMA_PREFIX}${match[1]}`,
  };
}

export function isScratchKeyring(name: string): boolean {
  return name.startsWith(KEYRING_PREFIX);
}

export const SCRATCH_KEYRING_PREFIX = KEYRING_PREFIX;

/** The target, read from its scratch copy. */
export function scratchTarget(target: Target, scope: ScratchScope): Target {
  return { ...target, schema: scope.schema };
}

/**
 * Copies the target's table into the scope's schema, rows included, in one transaction (the copy
 * is whole or absent). Constraints, defaults and indexes come along (LIKE … INCLUDING ALL); triggers
 * and foreign keys do not, so nothing of the application's fires on the copy.
 */
export async function copyTable(pool: pg.Pool, target: Target, scope: ScratchScope): Promise<void> {
  const client = await pool.connect();
  try {
    await client.query("BEGIN");
    await client.query(`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(scope.schema)}`);
    const copy = qualifiedTable(scratchTarget(target, scope));
    await client.query(`DROP TABLE IF EXISTS ${copy}`);
    await client.query(`CREATE TABLE ${copy} (LIKE ${qualifiedTable(target)} INCLUDING ALL)`);
    await client.query(`INSERT INTO ${copy} SELECT * FROM ${qualifiedTable(target)}`);
    await client.query("COMMIT");
  } catch (error) {
    await client.query("ROLLBACK").catch(() => {});
    throw error;
  } finally {
    client.release();
  }
}

export async function dropSchema(pool: pg.Pool, schema: string): Promise<void> {
  if (!schema.startsWith(SCHEMA_PREFIX)) throw new Error(`${schema} is not a drill's scratch schema`);
  await pool.query(`DROP SCHEMA IF EXISTS ${quoteIdent(schema)} CASCADE`);
}

/** The scratch schemas in a database (those of every drill not yet cleaned up). */
export async function scratchSchemas(pool: pg.Pool): Promise<string[]> {
  const { rows } = await pool.query<{ nspname: string }>(
    "SELECT nspname FROM pg_namespace WHERE starts_with(nspname, $1)",
    [SCHEMA_PREFIX],
  );
  return rows.map((r) => r.nspname);
}

export function drillIdOfSchema(schema: string): string {
  return schema.slice(SCHEMA_PREFIX.length);
}

export function drillIdOf(id: string): string {
  return scratchScope(id, "development").schema.slice(SCHEMA_PREFIX.length);
}
