import type pg from "pg";
import { dataKeyContext, unwrapKey } from "../crypto/envelope.js";
import type { KeyState } from "../crypto/keyring.js";
import type { SecretKey } from "../crypto/secret-key.js";
import type { Environment } from "../environments.js";
import { readEnvKeys } from "./env-keys.js";
import type { KeySourceKind } from "./report.js";

/** A key version a client holds. */
export interface HeldKey {
  version: number;
  key: SecretKey;
  /** The keyring's state; env keys are all decrypt-capable and have no state of their own. */
  state: KeyState | null;
  /** Reads the guide's unversioned `iv:tag:ct`. */
  legacy: boolean;
}

export interface LoadedKeys {
  held: HeldKey[];
  /** The version the source itself says encrypts (keyring: ACTIVE; env: ENCRYPTION_KEY_ACTIVE or the highest). */
  active: number | null;
  /** Names what is wrong (a missing or malformed key, a master key that does not unwrap): never a value. */
  problems: string[];
}

export interface KeySource {
  readonly kind: KeySourceKind;
  load(): Promise<LoadedKeys>;
  close(): Promise<void>;
}

/** The environment's master key, or why there is none (unset, malformed): named, never shown. */
export interface MasterKeySetting {
  key: SecretKey | undefined;
  variable: string;
  problem?: string;
}

export class KeySourceError extends Error {
  override name = "KeySourceError";
}

/** The guide's Option B: keys in hosting variables, version 1 being the legacy `ENCRYPTION_KEY`. */
export class EnvKeySource implements KeySource {
  readonly kind = "env";
  readonly #loaded: LoadedKeys;

  constructor(env: Record<string, string | undefined>) {
    const { keys, configuredActive, problems } = readEnvKeys(env);
    const held = [...keys].map(([version, key]) => ({ version, key, state: null, legacy: version === 1 }));
    const highest = held.reduce<number | null>(
      (top, h) => (top === null || h.version > top ? h.version : top),
      null,
    );
    this.#loaded = { held, active: configuredActive ?? highest, problems };
  }

  async load(): Promise<LoadedKeys> {
    return this.#loaded;
  }

  async close(): Promise<void> {}
}

/**
 * The envelope: the environment's data keys read from KeyOps's key table, unwrapped with the
 * environment's master key. Pending versions are held too: that is how an instance can read a
 * new version before KeyOps activates it.
 */
export class KeyringKeySource implements KeySource {
  readonly kind = "keyring";

  constructor(
    private readonly pool: pg.Pool,
    private readonly environment: Environment,
    private readonly master: MasterKeySetting,
  ) {}

  async load(): Promise<LoadedKeys> {
    let rows: {
      version: number;
      state: KeyState;
      legacy: boolean;
      fingerprint: string;
      wrappedKey: string;
    }[];
    try {
      ({ rows } = await this.pool.query(
        `SELECT "version", "state"::text AS state, "legacy", "fingerprint", "wrappedKey" FROM "KeyVersion"
          WHERE "environment" = $1 AND "state"::text NOT IN ('RETIRED', 'LOST', 'DESTROYED') ORDER BY "version"`,
        [this.environment],
      ));
    } catch (error) {
      throw new KeySourceError(`cannot read the KeyOps keyring: ${(error as Error).message}`);
    }
    const problems: string[] = [];
    const held: HeldKey[] = [];
    const masterKey = this.master.key;
    if (!masterKey) {
      problems.push(this.master.problem ?? `${this.master.variable} (or KEYOPS_MASTER_KEY) is not set`);
    } else {
      for (const row of rows) {
        let key: SecretKey;
        try {
          key = unwrapKey(masterKey, row.wrappedKey, dataKeyContext(this.environment, row.version));
        } catch {
          problems.push(
            `${this.master.variable} does not unwrap version ${row.version} of ${this.environment} (wrong master key?)`,
          );
          continue;
        }
        if (key.fingerprint !== row.fingerprint) {
          problems.push(
            `version ${row.version} of ${this.environment} unwraps to a key that does not match its fingerprint`,
          );
          continue;
        }
        held.push({ version: row.version, key, state: row.state, legacy: row.legacy });
      }
    }
    if (rows.length === 0) problems.push(`the KeyOps keyring has no key versions for ${this.environment}`);
    const active = rows.find((row) => row.state === "ACTIVE")?.version ?? null;
    return { held, active, problems };
  }

  async close(): Promise<void> {
    await this.pool.end().catch(() => undefined);
  }
}
