import { createHash } from "node:crypto";
import type pg from "pg";
import { ciphertextVersion } from "../crypto/ciphertext.js";
import type { Keyring } from "../crypto/keyring.js";
import { type ProgressListener, ProgressMeter } from "./progress.js";
import { associatedData, type ResolvedTarget } from "./target.js";

export interface VerifyReport {
  environment: string;
  rows: number;
  /** Rows per key version that wrote them ("legacy" ciphertexts count under the legacy version). */
  perVersion: Record<string, number>;
  activeVersion: number | null;
  /** Rows that decrypt but are not yet under the active version. */
  notOnActive: number;
  failed: number;
  /** The first ids of rows that do not decrypt (all of them up to the limit). */
  failedRowIds: string[];
  /**
   * Hex SHA-256 over the decryptable rows in ascending byte order of id of `id + "\n" + plaintext + "\n"`:
   * equal before and after a rotation when the rotation changed no secret.
   */
  plaintextDigest: string;
}

export const FAILED_IDS_REPORTED = 100;
const FETCH_SIZE = 5000;

/**
 * Decrypts every row in one consistent snapshot (REPEATABLE READ, server-side cursor in
 * byte order of id) and reports what each version holds, what fails, and the plaintext digest.
 */
export async function verifyTarget(
  pool: pg.Pool,
  keyring: Keyring,
  target: ResolvedTarget,
  onProgress?: ProgressListener,
  phase: "verify" | "verify-before" | "verify-after" = "verify",
): Promise<VerifyReport> {
  const client = await pool.connect();
  try {
    await client.query("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
    const { rows: countRows } = await client.query<{ n: string }>(
      `SELECT count(*) AS n FROM ${target.sqlTable}`,
    );
    const meter = new ProgressMeter(phase, Number(countRows[0]?.n ?? 0), onProgress);
    await client.query(
      `DECLARE keyops_verify NO SCROLL CURSOR FOR
         SELECT ${target.sqlId}::text AS id, ${target.sqlCiphertext} AS ciphertext
           FROM ${target.sqlTable} ORDER BY ${target.sqlId}::text COLLATE "C"`,
    );
    const digest = createHash("sha256");
    const perVersion: Record<string, number> = {};
    const failedRowIds: string[] = [];
    let failed = 0;
    let rows = 0;
    let notOnActive = 0;
    const fetch = () =>
      client.query<{ id: string; ciphertext: string | null }>(`FETCH ${FETCH_SIZE} FROM keyops_verify`);
    let next = fetch();
    for (;;) {
      const batch = (await next).rows;
      if (batch.length === 0) break;
      // The server reads the next page while this one is decrypted.
      next = batch.length < FETCH_SIZE ? Promise.resolve({ rows: [] } as never) : fetch();
      for (const row of batch) {
        rows++;
        let plaintext: Buffer;
        try {
          plaintext = keyring.decrypt(row.ciphertext ?? "", associatedData(target, row.id));
        } catch {
          failed++;
          if (failedRowIds.length < FAILED_IDS_REPORTED) failedRowIds.push(row.id);
          continue;
        }
        // It decrypted, so the prefix names its version (or it is the legacy format).
        const version = ciphertextVersion(row.ciphertext ?? "") ?? keyring.legacyVersion;
        const label = String(version);
        perVersion[label] = (perVersion[label] ?? 0) + 1;
        if (version !== keyring.activeVersion) notOnActive++;
        digest.update(row.id);
        digest.update("\n");
        digest.update(plaintext);
        digest.update("\n");
      }
      meter.add(batch.length);
    }
    await client.query("COMMIT");
    return {
      environment: keyring.environment,
      rows,
      perVersion,
      activeVersion: keyring.activeVersion,
      notOnActive,
      failed,
      failedRowIds,
      plaintextDigest: digest.digest("hex"),
    };
  } catch (error) {
    await client.query("ROLLBACK").catch(() => undefined);
    throw error;
  } finally {
    client.release();
  }
}
