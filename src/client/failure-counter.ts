import { ciphertextVersion } from "../crypto/ciphertext.js";
import type { DecryptFailureReason } from "../crypto/errors.js";
import type { FailureCount } from "./report.js";

/** Decryption failures by reason and version, between two reports. */
export class FailureCounter {
  #counts = new Map<string, FailureCount>();

  /** Counts one failure of `ciphertext` (read for its version prefix only). */
  add(reason: DecryptFailureReason, ciphertext: unknown): void {
    let version: number | null = null;
    if (typeof ciphertext === "string") {
      const named = ciphertextVersion(ciphertext);
      version = named === null ? 1 : (named ?? null);
    }
    this.merge([{ reason, version, count: 1 }]);
  }

  /** The counts so far, and a fresh start. */
  take(): FailureCount[] {
    const taken = [...this.#counts.values()];
    this.#counts = new Map();
    return taken;
  }

  /** Puts counts back (a report that could not be sent). */
  merge(counts: FailureCount[]): void {
    for (const c of counts) {
      const key = `${c.reason}:${c.version}`;
      const entry = this.#counts.get(key);
      if (entry) entry.count += c.count;
      else this.#counts.set(key, { ...c });
    }
  }
}
