import { decrypt, encrypt } from "./aes-gcm.js";
import { type CiphertextParts, IV_BYTES, parseCiphertext } from "./ciphertext.js";
import { CryptoError, DecryptError, KeyFormatError } from "./errors.js";
import { SecretKey } from "./secret-key.js";

// A wrapped data key is `<iv hex>:<tag hex>:<wrapped hex>`, sealed under the master key with the
// context (e.g. `keyops:data-key:production:3`) as AAD, so a wrapped key copied to another
// environment or version row does not unwrap there.

/** The AAD binding a wrapped data key to its environment and version (a row copied elsewhere won't unwrap). */
export function dataKeyContext(environment: string, version: number): string {
  return `keyops:data-key:${environment}:${version}`;
}

export function wrapKey(master: SecretKey, dataKey: SecretKey, context: string): string {
  if (context === "") throw new CryptoError("a data key must be wrapped with a non-empty context");
  const { iv, tag, data } = encrypt(master, dataKey.exposeBytes(), context);
  return `${iv.toString("hex")}:${tag.toString("hex")}:${data.toString("hex")}`;
}

export function unwrapKey(master: SecretKey, wrapped: string, context: string): SecretKey {
  const parts = parseWrapped(wrapped, context);
  let plain: Buffer;
  try {
    plain = decrypt(master, parts, context);
  } catch {
    throw new DecryptError(
      `the master key does not unwrap the data key for ${context} (wrong KEYOPS_MASTER_KEY?)`,
    );
  }
  try {
    return SecretKey.fromBytes(plain);
  } finally {
    plain.fill(0);
  }
}

function parseWrapped(wrapped: string, context: string): CiphertextParts {
  let parts: CiphertextParts | undefined;
  try {
    parts = parseCiphertext(wrapped);
  } catch {
    parts = undefined;
  }
  if (parts === undefined || parts.version !== null || parts.iv.length !== IV_BYTES) {
    throw new KeyFormatError(`wrapped data key for ${context} is malformed`);
  }
  return parts;
}
