export { decrypt, encrypt, type SealedParts } from "./aes-gcm.js";
export {
  type CiphertextParts,
  ciphertextVersion,
  formatCiphertext,
  parseCiphertext,
  versionPrefix,
} from "./ciphertext.js";
export { dataKeyContext, unwrapKey, wrapKey } from "./envelope.js";
export {
  AuthenticationFailedError,
  CiphertextFormatError,
  CryptoError,
  DecryptError,
  type DecryptFailureReason,
  KeyFormatError,
  NoActiveKeyError,
  UnknownKeyVersionError,
} from "./errors.js";
export { type EncryptionHealth, Keyring, type KeyringVersion, type KeyState } from "./keyring.js";
export { SecretKey } from "./secret-key.js";
