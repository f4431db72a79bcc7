// Messages of these errors are shown to operators and may end up in logs or Slack: they name
// labels, versions and environments, never key material, plaintext or ciphertext.
export class CryptoError extends Error {
  override name = "CryptoError";
}

export class KeyFormatError extends CryptoError {
  override name = "KeyFormatError";
}

/** Why a ciphertext could not be read: what client reports count and alerts name. */
export type DecryptFailureReason = "malformed" | "unknown-version" | "authentication-failed";

export class CiphertextFormatError extends CryptoError {
  override name = "CiphertextFormatError";
  readonly reason: DecryptFailureReason = "malformed";
}

export class DecryptError extends CryptoError {
  override name = "DecryptError";
  readonly reason: DecryptFailureReason = "authentication-failed";
}

/** The ciphertext names a version this keyring does not hold (or holds only retired). */
export class UnknownKeyVersionError extends DecryptError {
  override name = "UnknownKeyVersionError";
  override readonly reason = "unknown-version";
}

/** The key of the named version does not authenticate the ciphertext: wrong key, wrong context or tampered. */
export class AuthenticationFailedError extends DecryptError {
  override name = "AuthenticationFailedError";
}

export class NoActiveKeyError extends CryptoError {
  override name = "NoActiveKeyError";
}
