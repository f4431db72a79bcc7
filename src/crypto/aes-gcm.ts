import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";
import { IV_BYTES, TAG_BYTES } from "./ciphertext.js";
import { DecryptError } from "./errors.js";
import type { SecretKey } from "./secret-key.js";

const ALGORITHM = "aes-256-gcm";

export interface SealedParts {
  iv: Buffer;
  tag: Buffer;
  data: Buffer;
}

// Random IVs are drawn from the CSPRNG in blocks: one randomBytes call per encryption was the
// largest single cost of a rotation. Every IV is still fresh random bytes, used once.
const IV_BLOCK = IV_BYTES * 1024;
let ivPool = Buffer.alloc(0);
let ivOffset = 0;

function freshIv(): Buffer {
  if (ivOffset + IV_BYTES > ivPool.length) {
    ivPool = randomBytes(IV_BLOCK);
    ivOffset = 0;
  }
  const iv = ivPool.subarray(ivOffset, ivOffset + IV_BYTES);
  ivOffset += IV_BYTES;
  return iv;
}

/** AES-256-GCM with a fresh random 96-bit IV per call; `aad` (utf8) is authenticated, not stored. */
export function encrypt(key: SecretKey, plaintext: Buffer | string, aad?: string): SealedParts {
  const iv = freshIv();
  const cipher = createCipheriv(ALGORITHM, key.exposeBytes(), iv, { authTagLength: TAG_BYTES });
  if (aad !== undefined) cipher.setAAD(Buffer.from(aad, "utf8"));
  const head = typeof plaintext === "string" ? cipher.update(plaintext, "utf8") : cipher.update(plaintext);
  const data = joinFinal(head, cipher.final());
  return { iv, tag: cipher.getAuthTag(), data };
}

/** Throws DecryptError when the key or `aad` is wrong or any part was tampered with. */
export function decrypt(key: SecretKey, parts: SealedParts, aad?: string): Buffer {
  try {
    const decipher = createDecipheriv(ALGORITHM, key.exposeBytes(), parts.iv, { authTagLength: TAG_BYTES });
    decipher.setAuthTag(parts.tag);
    if (aad !== undefined) decipher.setAAD(Buffer.from(aad, "utf8"));
    const head = decipher.update(parts.data);
    return joinFinal(head, decipher.final());
  } catch {
    // OpenSSL's reasons ("unable to authenticate data") add nothing for the operator.
    throw new DecryptError(
      "ciphertext does not decrypt under this key (wrong key, wrong context or tampered)",
    );
  }
}

// GCM is a stream mode: final() yields nothing, so the usual concat would only copy.
function joinFinal(head: Buffer, final: Buffer): Buffer {
  return final.length === 0 ? head : Buffer.concat([head, final]);
}
