import type pg from "pg";
import { UserError } from "../errors.js";

/** A column of ciphertexts the engine rotates: (table, id column, ciphertext column[, row binding]). */
export interface Target {
  /** How runs, reports and settings name it; default `table.column`. */
  name?: string;
  table: string;
  idColumn: string;
  ciphertextColumn: string;
  /** Bind each ciphertext to its table, column and row id (AES-GCM associated data). */
  bindToRow?: boolean;
  /**
   * A timestamp column the application sets on every write (the engine never touches it): tells
   * a digest changed by the application's own writes from one changed by the rotation.
   */
  writtenAtColumn?: string;
  /**
   * The schema holding the table (default: the connection's search_path). Set only for a drill's
   * scratch copy (src/engine/scratch.ts); the row binding names the table alone, so a copy decrypts.
   */
  schema?: string;
}

/** The guide's stored platform credentials. */
export const PLATFORM_CREDENTIALS: Target = {
  table: "PlatformIntegration",
  idColumn: "id",
  ciphertextColumn: "credentials",
  writtenAtColumn: "updatedAt",
};

export function targetName(target: Target): string {
  return target.name ?? `${target.table}.${target.ciphertextColumn}`;
}

export function describeTarget(target: Target): string {
  return `"${target.table}"."${target.ciphertextColumn}"`;
}

/** The associated data a bound ciphertext carries; undefined for an unbound target. */
export function associatedData(target: Target, id: string): string | undefined {
  return target.bindToRow ? `${target.table}.${target.ciphertextColumn}:${id}` : undefined;
}

export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** The table as SQL, schema-qualified when the target names its schema. */
export function qualifiedTable(target: Target): string {
  return target.schema
    ? `${quoteIdent(target.schema)}.${quoteIdent(target.table)}`
    : quoteIdent(target.table);
}

/** The SQL pieces of a target, checked against the database once per run. */
export interface ResolvedTarget extends Target {
  sqlTable: string;
  sqlId: string;
  sqlCiphertext: string;
  /** The id column's type, to cast text cursors and id arrays back for index use. */
  idType: string;
}

export async function resolveTarget(pool: pg.Pool, target: Target): Promise<ResolvedTarget> {
  const { rows } = await pool.query<{ attname: string; type: string }>(
    `SELECT a.attname, format_type(a.atttypid, a.atttypmod) AS type
       FROM pg_attribute a
      WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped
        AND a.attname = ANY($2::text[])`,
    [qualifiedTable(target), [target.idColumn, target.ciphertextColumn]],
  );
  const types = new Map(rows.map((row) => [row.attname, row.type]));
  if (rows.length === 0 && !(await tableExists(pool, qualifiedTable(target)))) {
    throw new UserError(`the target table "${target.table}" does not exist`);
  }
  const idType = types.get(target.idColumn);
  if (!idType) throw new UserError(`the target table "${target.table}" has no column "${target.idColumn}"`);
  const ciphertextType = types.get(target.ciphertextColumn);
  if (!ciphertextType)
    throw new UserError(`the target table "${target.table}" has no column "${target.ciphertextColumn}"`);
  if (!/^(text|character varying)/.test(ciphertextType)) {
    throw new UserError(
      `the ciphertext column ${describeTarget(target)} must be text, not ${ciphertextType}`,
    );
  }
  return {
    ...target,
    sqlTable: qualifiedTable(target),
    sqlId: quoteIdent(target.idColumn),
    sqlCiphertext: quoteIdent(target.ciphertextColumn),
    idType,
  };
}

async function tableExists(pool: pg.Pool, sqlTable: string): Promise<boolean> {
  const { rows } = await pool.query<{ found: string | null }>("SELECT to_regclass($1)::text AS found", [
    sqlTable,
  ]);
  return rows[0]?.found != null;
}
