import { ciphertextVersion } from "../crypto/ciphertext.js";
import type { Keyring } from "../crypto/keyring.js";
import type { Environment } from "../environments.js";
import type { KeyStore } from "./key-store.js";

export interface CredentialCipherOptions {
  /** How long a loaded keyring is trusted before it is read again (activations elsewhere). */
  refreshMs?: number;
}

/**
 * What an application that stores credentials uses: encrypts with the environment's active
 * version and decrypts any non-retired version. The keyring is cached and read again after
 * `refreshMs`, or at once when a ciphertext names a version it has not seen yet (a rotation
 * activated it in another process), so reads and writes go on while a rotation runs.
 */
export class CredentialCipher {
  private readonly cache = new Map<Environment, { keyring: Keyring; loadedAt: number }>();
  private readonly refreshMs: number;

  constructor(
    private readonly keys: KeyStore,
    options: CredentialCipherOptions = {},
  ) {
    this.refreshMs = options.refreshMs ?? 30_000;
  }

  async encrypt(environment: Environment, plaintext: string, aad?: string): Promise<string> {
    return (await this.keyring(environment)).encrypt(plaintext, aad);
  }

  async decrypt(environment: Environment, ciphertext: string, aad?: string): Promise<string> {
    let keyring = await this.keyring(environment);
    const version = ciphertextVersion(ciphertext);
    if (typeof version === "number" && !keyring.canDecrypt(version))
      keyring = await this.keyring(environment, true);
    return keyring.decryptToString(ciphertext, aad);
  }

  /** Forgets cached keyrings (after this process activated or retired a version). */
  invalidate(environment?: Environment): void {
    if (environment) this.cache.delete(environment);
    else this.cache.clear();
  }

  private async keyring(environment: Environment, reload = false): Promise<Keyring> {
    const cached = this.cache.get(environment);
    if (cached && !reload && performance.now() - cached.loadedAt < this.refreshMs) return cached.keyring;
    const keyring = await this.keys.loadKeyring(environment);
    this.cache.set(environment, { keyring, loadedAt: performance.now() });
    return keyring;
  }
}
