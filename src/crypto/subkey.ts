import { hkdfSync } from "node:crypto";
import type { SecretKey } from "./secret-key.js";

/**
 * A key for one purpose derived from the master key (HKDF-SHA256, info = `label`). The master key
 * never reaches the database, so what is keyed under a subkey cannot be recomputed or forged by
 * whoever owns the tables. Each purpose has its own versioned label, e.g. "keyops:audit-chain:v1".
 */
export function deriveSubkey(master: SecretKey, label: string): Buffer {
  return Buffer.from(hkdfSync("sha256", master.exposeBytes(), Buffer.alloc(0), label, 32));
}
