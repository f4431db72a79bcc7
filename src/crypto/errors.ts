// Messages of these errors are shown to operators and may end up in logs or Slack: they name
// labels, versions and environments, never key material, plaintext or ciphertext.
export class CryptoError extends Error {
  override name = "CryptoError";
}

export class KeyFormatError extends CryptoError {
  override name = "KeyFormatError";
}

export class CiphertextFormatError extends CryptoError {
  override name = "CiphertextFormatError";
}

export class DecryptError extends CryptoError {
  override name = "DecryptError";
}

export class NoActiveKeyError extends CryptoError {
  override name = "NoActiveKeyError";
}
