export { decrypt, encrypt, type SealedParts } from "./aes-gcm.js";
export {
  type CiphertextParts,
  ciphertextVersion,
  formatCiphertext,
  parseCiphertext,
  versionPrefix,
} from "./ciphertext.js";
export { unwrapKey, wrapKey } from "./envelope.js";
export {
  CiphertextFormatError,
  CryptoError,
  DecryptError,
  KeyFormatError,
  NoActiveKeyError,
} from "./errors.js";
export { type EncryptionHealth, Keyring, type KeyringVersion, type KeyState } from "./keyring.js";
export { SecretKey } from "./secret-key.js";
