import type { Keyring } from "../crypto/keyring.js";
import { PRINT_BYTES, rowPrint } from "./row-prints.js";
import { associatedData, type Target } from "./target.js";

export interface StoredRow {
  id: string;
  ciphertext: string;
  /**
   * The row version read with the ciphertext (PostgreSQL's xmin, as text): the compare-and-swap
   * writes the new ciphertext only while the row is still that version.
   */
  rowVersion: string;
}

export interface ReencryptedRow {
  id: string;
  rowVersion: string;
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
    let plaintext: Buffer;
    try {
      plaintext = keyring.decrypt(ciphertexts[i] as string, aad);
    } catch {
      out[i] = "";
      continue;
    }
    const rewritten = keyring.encrypt(plaintext, aad);
    // The engine's own guard that a rotation changes no secret: no rewrite is written unless it
    // reads back to exactly what it replaces (with the compare-and-swap on the old ciphertext; the
    // row prints then check the outcome, see row-prints.ts).
    if (!keyring.decrypt(rewritten, aad).equals(plaintext)) {
      throw new Error(
        `the rewrite of row ${ids[i]} does not decrypt to what it replaces; nothing was written`,
      );
    }
    out[i] = rewritten;
  }
  return out;
}

/** Pairs rows with their new ciphertexts; rows that did not decrypt are left alone and reported. */
export function toBatch(rows: readonly StoredRow[], newCiphertexts: readonly string[]): ReencryptedBatch {
  const batch: ReencryptedBatch = { rows: [], undecryptable: [] };
  rows.forEach((row, i) => {
    const newCiphertext = newCiphertexts[i];
    if (newCiphertext) batch.rows.push({ id: row.id, rowVersion: row.rowVersion, newCiphertext });
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

/** A batch's plaintexts, concatenated, with each row's length (-1: it does not decrypt). */
export interface DecryptedBatch {
  plaintexts: Uint8Array;
  lengths: Int32Array;
  /** With a print key: each row's print (row-prints.ts), PRINT_BYTES per row, zeros where it does not decrypt. */
  prints?: Uint8Array;
}

/**
 * Decrypts each ciphertext under whichever version wrote it. The plaintexts come back in one
 * buffer of its own (transferable to another thread, and wiped by whoever reads it), with each
 * row's print when given the print key (computed here, beside the decryption, off the thread
 * that digests).
 */
export function decryptCiphertexts(
  keyring: Keyring,
  target: Target,
  ids: readonly string[],
  ciphertexts: readonly (string | null)[],
  printKey?: Buffer,
): DecryptedBatch {
  const lengths = new Int32Array(ids.length);
  const prints = printKey ? new Uint8Array(ids.length * PRINT_BYTES) : undefined;
  const parts: Buffer[] = [];
  let size = 0;
  for (let i = 0; i < ids.length; i++) {
    try {
      const id = ids[i] as string;
      const plaintext = keyring.decrypt(ciphertexts[i] ?? "", associatedData(target, id));
      parts.push(plaintext);
      lengths[i] = plaintext.length;
      size += plaintext.length;
      if (prints && printKey) prints.set(rowPrint(printKey, id, plaintext), i * PRINT_BYTES);
    } catch {
      lengths[i] = -1;
    }
  }
  // Not Buffer.concat: a small result would share Node's buffer pool, which must not be transferred.
  const plaintexts = new Uint8Array(size);
  let offset = 0;
  for (const part of parts) {
    plaintexts.set(part, offset);
    offset += part.length;
    part.fill(0);
  }
  return prints ? { plaintexts, lengths, prints } : { plaintexts, lengths };
}
