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
 * Decrypts each ciphertext under whichever version wrote it and encrypts it again under the
 * active version, keeping the row binding. Returns the new ciphertexts in order, with "" for one
 * that does not decrypt (a real ciphertext is never empty). Flat arrays, so worker threads pass
 * them cheaply.
 */
export function reencryptCiphertexts(
  keyring: Keyring,
  target: Target,
  ids: readonly string[],
  ciphertexts: readonly string[],
): string[] {
  const out = new Array<string>(ids.length);
  for (let i = 0; i < ids.length; i++) {
    const aad = associatedData(target, ids[i] as string);
    try {
      out[i] = keyring.encrypt(keyring.decrypt(ciphertexts[i] as string, aad), aad);
    } catch {
      out[i] = "";
    }
  }
  return out;
}

/** Pairs rows with their new ciphertexts; rows that did not decrypt are left alone and reported. */
export function toBatch(rows: readonly StoredRow[], newCiphertexts: readonly string[]): ReencryptedBatch {
  const batch: ReencryptedBatch = { rows: [], undecryptable: [] };
  rows.forEach((row, i) => {
    const newCiphertext = newCiphertexts[i];
    if (newCiphertext) batch.rows.push({ id: row.id, oldCiphertext: row.ciphertext, newCiphertext });
    else batch.undecryptable.push(row.id);
  });
  return batch;
}

export function reencryptRows(
  keyring: Keyring,
  target: Target,
  rows: readonly StoredRow[],
): ReencryptedBatch {
  const ids = rows.map((row) => row.id);
  return toBatch(
    rows,
    reencryptCiphertexts(
      keyring,
      target,
      ids,
      rows.map((row) => row.ciphertext),
    ),
  );
}
