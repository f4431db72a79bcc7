import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { KeyFormatError } from "./errors.js";
import { weakKeyReason } from "./key-quality.js";

const KEY_BYTES = 32;

// The key printed as "Example output" in the key management guide: public, so never a real key.
const GUIDE_EXAMPLE_KEY = Buffer.from("k7Jm9XpL4zR2vN8qYwE5uT3hS6gF1aD0bC4xM7oP2nA=", "base64");

const GENERATE_HINT =
  "generate one with: node -e \"console.log(require('crypto').randomBytes(32).toString('base64'))\"";

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

const INSPECT = Symbol.for("nodejs.util.inspect.custom");

/** A 256-bit key. Prints, serializes and inspects as `SecretKey(<fingerprint>)` only. */
export class SecretKey {
  readonly #bytes: Buffer;
  #fingerprint: string | undefined;

  private constructor(bytes: Buffer) {
    this.#bytes = bytes;
  }

  static generate(): SecretKey {
    return new SecretKey(randomBytes(KEY_BYTES));
  }

  /** Parses a base64 key; `label` (e.g. the variable name) is what error messages show, never the value. */
  static fromBase64(text: string, label: string): SecretKey {
    const trimmed = text.trim();
    if (trimmed === "") throw new KeyFormatError(`${label} is empty`);
    if (/^[0-9a-fA-F]{64}$/.test(trimmed)) {
      throw new KeyFormatError(
        `${label} looks like hex; a key is base64 of ${KEY_BYTES} random bytes (convert it with ` +
          `node -e "console.log(Buffer.from(process.argv[1], 'hex').toString('base64'))" <hex>)`,
      );
    }
    if (trimmed.length % 4 !== 0 || !BASE64.test(trimmed)) {
      throw new KeyFormatError(`${label} is not valid base64 (expected base64 of ${KEY_BYTES} random bytes)`);
    }
    const decoded = Buffer.from(trimmed, "base64");
    try {
      // Re-encoding catches non-canonical encodings (stray bits in the last character) that
      // Buffer.from accepts silently.
      if (decoded.toString("base64") !== trimmed)
        throw new KeyFormatError(
          `${label} is not valid base64 (expected base64 of ${KEY_BYTES} random bytes)`,
        );
      if (decoded.length !== KEY_BYTES) {
        throw new KeyFormatError(`${label} must decode to ${KEY_BYTES} bytes, got ${decoded.length}`);
      }
      if (decoded.equals(GUIDE_EXAMPLE_KEY)) {
        throw new KeyFormatError(
          `${label} is the example key printed in the key management guide; generate a new one`,
        );
      }
      const weak = weakKeyReason(decoded);
      if (weak) throw new KeyFormatError(`${label} is not a random key (${weak}); ${GENERATE_HINT}`);
      return SecretKey.fromBytes(decoded);
    } finally {
      decoded.fill(0);
    }
  }

  /** Copies `bytes` into a buffer of its own. */
  static fromBytes(bytes: Buffer): SecretKey {
    if (bytes.length !== KEY_BYTES) {
      throw new KeyFormatError(`a key must be ${KEY_BYTES} bytes, got ${bytes.length}`);
    }
    // Buffer.alloc is never carved from Node's shared pool, so the copy owns its whole ArrayBuffer
    // (a worker-thread transfer then carries these 32 bytes and nothing else).
    const own = Buffer.alloc(KEY_BYTES);
    bytes.copy(own);
    return new SecretKey(own);
  }

  /** First 8 hex characters of SHA-256 of the key: identifies a key without revealing it. */
  get fingerprint(): string {
    this.#fingerprint ??= createHash("sha256").update(this.#bytes).digest("hex").slice(0, 8);
    return this.#fingerprint;
  }

  /**
   * The raw key bytes, not a copy (this is on the encryption hot path). For cipher calls and for
   * handing the key to a worker thread only: never log, print, post or persist them, and never mutate them.
   */
  exposeBytes(): Buffer {
    return this.#bytes;
  }

  /** The key as base64. Only for writing a freshly generated master key file; never log it. */
  exposeBase64(): string {
    return this.#bytes.toString("base64");
  }

  equals(other: SecretKey): boolean {
    return timingSafeEqual(this.#bytes, other.#bytes);
  }

  toString(): string {
    return `SecretKey(${this.fingerprint})`;
  }

  toJSON(): string {
    return this.toString();
  }

  [INSPECT](): string {
    return this.toString();
  }
}
