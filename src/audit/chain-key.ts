import type { SecretKey } from "../crypto/secret-key.js";
import { deriveSubkey } from "../crypto/subkey.js";

// The audit chain is keyed with HMAC-SHA256 under a key derived from the master key with a label
// (HKDF-SHA256, info "keyops:audit-chain:v1"). The master key is never stored in the database
// (only its fingerprint is), so someone who owns the tables can edit or drop events but cannot
// compute the hashes that would hide it. One key per database: a process may open several.

const LABEL = "keyops:audit-chain:v1";
const keys = new Map<string, Buffer>();

/** The audit chain key of a master key. */
export function deriveAuditChainKey(master: SecretKey): Buffer {
  return deriveSubkey(master, LABEL);
}

/** Makes `master`'s chain key the one that appends to and verifies the database named `database`. */
export function useAuditChainKey(database: string, master: SecretKey): void {
  keys.set(database, deriveAuditChainKey(master));
}

/** The chain key registered for `database`; undefined when this process never opened it. */
export function auditChainKeyFor(database: string): Buffer | undefined {
  return keys.get(database);
}
