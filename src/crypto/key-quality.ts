// A key someone typed, padded or derived from a password is "visibly not random": the checks below
// refuse such keys where they enter KeyOps (ENCRYPTION_KEY*, KEYOPS_MASTER_KEY, master.key, the
// client's ENCRYPTION_KEY_V<n>). Each check is one a uniformly random 32-byte key fails with a
// probability below 1e-13, so a real key is never refused.

/** Fewer distinct byte values than this in 32 bytes: P < 3.3e-17 for a random key. */
const MIN_DISTINCT_BYTES = 16;
/** A key repeating itself with a period up to this long (32 bytes = two copies of 16). */
const MAX_PERIOD = 16;

/** Why `bytes` is not a random key (a description that never shows a byte), or undefined. */
export function weakKeyReason(bytes: Buffer): string | undefined {
  if (bytes.every((byte) => byte === bytes[0])) {
    return "it is one byte repeated";
  }
  for (let period = 2; period <= MAX_PERIOD; period++) {
    if (repeatsWithPeriod(bytes, period)) return `it repeats a ${period}-byte pattern`;
  }
  const step = ((bytes[1] as number) - (bytes[0] as number) + 256) % 256;
  if (bytes.every((byte, i) => i === 0 || (byte - (bytes[i - 1] as number) + 256) % 256 === step)) {
    return "its bytes count up or down in equal steps";
  }
  // (95/256)^32 ≈ 1.6e-14: a passphrase or other text, base64-encoded.
  if (bytes.every((byte) => byte >= 0x20 && byte <= 0x7e)) return "it is printable text, not random bytes";
  const distinct = new Set(bytes).size;
  if (distinct < MIN_DISTINCT_BYTES) return `it has only ${distinct} distinct byte values`;
  return undefined;
}

function repeatsWithPeriod(bytes: Buffer, period: number): boolean {
  for (let i = period; i < bytes.length; i++) if (bytes[i] !== bytes[i - period]) return false;
  return true;
}
