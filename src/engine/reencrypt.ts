import type { Keyring } from "../crypto/keyring.js";
import { associatedData, type Target } from "./target.js";

export interface StoredRow {
  id: string;
  ciphertext: string;
}

export interface ReencryptedRow {
  id: string;
  oldCiphertext: string;
  newCiphertext: string;
}

export interface ReencryptedBatch {
  rows: ReencryptedRow[];
  /** Ids of rows no known version decrypts: never re-encrypted, never changed (fail closed). */
  undecryptable: string[];
}

/**
 * Decrypts each row under whichever version wrote it and encrypts it again under the active
 * version, keeping the row binding. A row that does not decrypt is left alone and reported.
 */
export function reencryptRows(
  keyring: Keyring,
  target: Target,
  rows: readonly StoredRow[],
): ReencryptedBatch {
  const out: ReencryptedRow[] = [];
  const undecryptable: string[] = [];
  for (const row of rows) {
    const aad = associatedData(target, row.id);
    let plaintext: Buffer;
    try {
      plaintext = keyring.decrypt(row.ciphertext, aad);
    } catch {
      undecryptable.push(row.id);
      continue;
    }
    out.push({ id: row.id, oldCiphertext: row.ciphertext, newCiphertext: keyring.encrypt(plaintext, aad) });
  }
  return { rows: out, undecryptable };
}
