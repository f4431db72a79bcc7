import { CiphertextFormatError } from "./errors.js";

// Written:  v<version>:<iv hex>:<authTag hex>:<ciphertext hex>
// Legacy:   <iv hex>:<authTag hex>:<ciphertext hex>   (the key management guide's format)

/** Key versions are PostgreSQL integers: no version above this can exist. */
export const MAX_KEY_VERSION = 2_147_483_647;

export const IV_BYTES = 12;
export const TAG_BYTES = 16;
// Older code following the guide often used a 16-byte IV; it is read, never written.
const LEGACY_IV_BYTES = [12, 16];

export interface CiphertextParts {
  /** null for the legacy, unversioned format. */
  version: number | null;
  iv: Buffer;
  tag: Buffer;
  data: Buffer;
}

const VERSION_FIELD = /^v[1-9][0-9]*$/;
const VERSION_PREFIX = /^v([1-9][0-9]*):/;
// Only the fixed-size head is examined, so the check costs the same for any ciphertext length.
const LEGACY_HEAD = /^(?:[0-9a-fA-F]{24}|[0-9a-fA-F]{32}):[0-9a-fA-F]{32}:/;

// Error messages describe what is wrong, never the input: it may be a secret in the wrong column.
export function parseCiphertext(text: string): CiphertextParts {
  const fields = text.split(":");
  let version: number | null;
  let rest: string[];
  if (fields.length === 4) {
    const field = fields[0] as string;
    if (!VERSION_FIELD.test(field))
      throw new CiphertextFormatError("ciphertext has a malformed version prefix");
    version = checkedVersion(Number(field.slice(1)));
    rest = fields.slice(1);
  } else if (fields.length === 3) {
    version = null;
    rest = fields;
  } else {
    throw new CiphertextFormatError(
      "ciphertext is not in a known format (expected 3 or 4 colon-separated fields)",
    );
  }
  const [ivHex, tagHex, dataHex] = rest as [string, string, string];
  const iv = decodeHex(ivHex, "IV");
  const tag = decodeHex(tagHex, "auth tag");
  const data = decodeHex(dataHex, "data");
  const ivSizes = version === null ? LEGACY_IV_BYTES : [IV_BYTES];
  if (!ivSizes.includes(iv.length)) {
    throw new CiphertextFormatError(`ciphertext IV must be ${ivSizes.join(" or ")} bytes, got ${iv.length}`);
  }
  if (tag.length !== TAG_BYTES) {
    throw new CiphertextFormatError(`ciphertext auth tag must be ${TAG_BYTES} bytes, got ${tag.length}`);
  }
  return { version, iv, tag, data };
}

export function formatCiphertext(version: number, parts: { iv: Buffer; tag: Buffer; data: Buffer }): string {
  if (parts.iv.length !== IV_BYTES) {
    throw new CiphertextFormatError(`IV must be ${IV_BYTES} bytes, got ${parts.iv.length}`);
  }
  if (parts.tag.length !== TAG_BYTES) {
    throw new CiphertextFormatError(`auth tag must be ${TAG_BYTES} bytes, got ${parts.tag.length}`);
  }
  return `${versionPrefix(version)}${parts.iv.toString("hex")}:${parts.tag.toString("hex")}:${parts.data.toString("hex")}`;
}

/** `"v7:"`: the prefix every ciphertext of version 7 starts with (for SQL `LIKE 'v7:%'`). */
export function versionPrefix(version: number): string {
  return `v${checkedVersion(version)}:`;
}

/**
 * Cheap classification without decoding: the version from a `v<n>:` prefix, null when the text
 * starts like a legacy ciphertext, undefined when it is neither.
 */
export function ciphertextVersion(text: string): number | null | undefined {
  const match = VERSION_PREFIX.exec(text);
  if (match) {
    const version = Number(match[1]);
    return Number.isSafeInteger(version) ? version : undefined;
  }
  return LEGACY_HEAD.test(text) ? null : undefined;
}

function checkedVersion(version: number): number {
  if (!Number.isSafeInteger(version) || version < 1 || version > MAX_KEY_VERSION) {
    throw new CiphertextFormatError(`key version must be an integer from 1 to ${MAX_KEY_VERSION}`);
  }
  return version;
}

// Buffer.from stops at the first character that is not hex: a short result means bad input.
// (Cheaper than a regular expression over the whole field, which showed in rotation profiles.)
function decodeHex(hex: string, what: string): Buffer {
  const bytes = Buffer.from(hex, "hex");
  if (bytes.length * 2 !== hex.length) throw new CiphertextFormatError(`ciphertext ${what} is not valid hex`);
  return bytes;
}
