import { decrypt, encrypt } from "./aes-gcm.js";
import { formatCiphertext, parseCiphertext } from "./ciphertext.js";
import {
  AuthenticationFailedError,
  CryptoError,
  DecryptError,
  NoActiveKeyError,
  UnknownKeyVersionError,
} from "./errors.js";
import type { SecretKey } from "./secret-key.js";

/**
 * LOST: KeyOps holds no usable copy of the key; DESTROYED: retired and its key erased. Neither is
 * ever in a keyring (there is no key to hold).
 */
export type KeyState =
  | "PENDING"
  | "ACTIVE"
  | "DECRYPT_ONLY"
  | "RETIRED"
  | "COMPROMISED"
  | "LOST"
  | "DESTROYED";

const KEY_STATES: ReadonlySet<string> = new Set<KeyState>([
  "PENDING",
  "ACTIVE",
  "DECRYPT_ONLY",
  "RETIRED",
  "COMPROMISED",
  "LOST",
  "DESTROYED",
]);

export interface KeyringVersion {
  version: number;
  state: KeyState;
  /** The adopted key of the guide's unversioned `iv:authTag:ciphertext` format. */
  legacy: boolean;
  key: SecretKey;
}

export type EncryptionHealth = { status: "healthy" } | { status: "unhealthy"; error: string };

const HEALTH_CHECK_AAD = "keyops:health-check";

/** The key versions of one environment: the ACTIVE one encrypts, every non-retired one decrypts. */
export class Keyring {
  readonly #environment: string;
  readonly #versions: readonly KeyringVersion[];
  readonly #byVersion = new Map<number, KeyringVersion>();
  readonly #active: KeyringVersion | undefined;
  readonly #legacy: KeyringVersion | undefined;

  constructor(environment: string, versions: KeyringVersion[]) {
    this.#environment = environment;
    // Frozen copies: later changes to the caller's objects cannot change which key decrypts what.
    this.#versions = Object.freeze(versions.map((entry) => Object.freeze({ ...entry })));
    for (const entry of this.#versions) {
      if (!Number.isSafeInteger(entry.version) || entry.version < 1) {
        throw new CryptoError(`keyring for ${environment}: key versions must be positive integers`);
      }
      if (!KEY_STATES.has(entry.state)) {
        throw new CryptoError(`keyring for ${environment}: version ${entry.version} has an unknown state`);
      }
      if (this.#byVersion.has(entry.version)) {
        throw new CryptoError(`keyring for ${environment}: version ${entry.version} is listed twice`);
      }
      this.#byVersion.set(entry.version, entry);
    }
    this.#active = single(
      this.#versions,
      (entry) => entry.state === "ACTIVE",
      "ACTIVE versions",
      environment,
    );
    this.#legacy = single(this.#versions, (entry) => entry.legacy, "legacy versions", environment);
  }

  get environment(): string {
    return this.#environment;
  }

  get activeVersion(): number | null {
    return this.#active?.version ?? null;
  }

  get legacyVersion(): number | null {
    return this.#legacy?.version ?? null;
  }

  get versions(): readonly KeyringVersion[] {
    return this.#versions;
  }

  canDecrypt(version: number): boolean {
    return this.keyFor(version) !== undefined;
  }

  /** The key of a version that may decrypt (any state but RETIRED and DESTROYED). */
  keyFor(version: number): SecretKey | undefined {
    const entry = this.#byVersion.get(version);
    return entry === undefined || entry.state === "RETIRED" || entry.state === "DESTROYED"
      ? undefined
      : entry.key;
  }

  encrypt(plaintext: string | Buffer, aad?: string): string {
    const active = this.#active;
    if (active === undefined) throw new NoActiveKeyError(`no active key version for ${this.#environment}`);
    return formatCiphertext(active.version, encrypt(active.key, plaintext, aad));
  }

  decrypt(ciphertext: string, aad?: string): Buffer {
    const parts = parseCiphertext(ciphertext);
    const version = parts.version ?? this.#legacy?.version;
    if (version === undefined) {
      throw new UnknownKeyVersionError(
        `legacy ciphertext, but ${this.#environment} has no legacy key version`,
      );
    }
    const entry = this.#byVersion.get(version);
    if (entry === undefined) {
      throw new UnknownKeyVersionError(`version ${version} is not in the keyring of ${this.#environment}`);
    }
    if (entry.state === "RETIRED" || entry.state === "DESTROYED") {
      throw new UnknownKeyVersionError(
        `version ${version} of ${this.#environment} is ${entry.state === "RETIRED" ? "retired" : "destroyed"} and no longer decrypts`,
      );
    }
    try {
      return decrypt(entry.key, parts, aad);
    } catch (error) {
      if (!(error instanceof DecryptError)) throw error;
      throw new AuthenticationFailedError(
        `ciphertext does not decrypt under version ${version} of ${this.#environment}`,
      );
    }
  }

  decryptToString(ciphertext: string, aad?: string): string {
    return this.decrypt(ciphertext, aad).toString("utf8");
  }

  /** The version whose key decrypts `ciphertext` (legacy maps to the legacy version); null if unparseable. */
  versionOf(ciphertext: string): number | null {
    let version: number | null;
    try {
      version = parseCiphertext(ciphertext).version;
    } catch {
      return null;
    }
    return version ?? this.legacyVersion;
  }

  /** The guide's health check: round-trips a test object with the active key. */
  healthCheckEncryption(): EncryptionHealth {
    try {
      const testData = JSON.stringify({ test: "data" });
      const decrypted = this.decryptToString(this.encrypt(testData, HEALTH_CHECK_AAD), HEALTH_CHECK_AAD);
      if (decrypted !== testData) throw new CryptoError("encryption/decryption mismatch");
      return { status: "healthy" };
    } catch (error) {
      return { status: "unhealthy", error: error instanceof Error ? error.message : "unknown error" };
    }
  }
}

function single(
  versions: readonly KeyringVersion[],
  matches: (entry: KeyringVersion) => boolean,
  what: string,
  environment: string,
): KeyringVersion | undefined {
  const found = versions.filter(matches);
  if (found.length > 1) {
    const list = found.map((entry) => entry.version).join(", ");
    throw new CryptoError(
      `keyring for ${environment} has ${found.length} ${what} (${list}); at most one is allowed`,
    );
  }
  return found[0];
}
