import { dataKeyContext, unwrapKey, wrapKey } from "../crypto/envelope.js";
import { Keyring, type KeyState } from "../crypto/keyring.js";
import { SecretKey } from "../crypto/secret-key.js";
import { deriveSubkey } from "../crypto/subkey.js";
import type { PrismaClient } from "../db/prisma.js";
import { ENVIRONMENTS, type Environment } from "../environments.js";
import { NotFoundError, RefusedError, UserError } from "../errors.js";
import type { KeyVersion, Prisma } from "../generated/prisma/client.js";
import type { Logger } from "../logger.js";

/** A key version as the rest of KeyOps sees it: everything but the wrapped key. */
export type KeyVersionInfo = Omit<KeyVersion, "id" | "wrappedKey" | "masterFingerprint" | "environment"> & {
  environment: Environment;
};

export interface Activation {
  activated: KeyVersionInfo;
  previous?: KeyVersionInfo;
}

const MAX_GENERATE_ATTEMPTS = 5;

/** How long a retired version keeps its wrapped key by default (KEYOPS_RETIRED_KEY_RETENTION_DAYS). */
export const DEFAULT_RETIRED_KEY_RETENTION_DAYS = 365;
const DAY_MS = 86_400_000;

export interface KeyStoreOptions {
  /** Days a retired version keeps its wrapped key before it may be destroyed (default 365). */
  retiredKeyRetentionDays?: number;
  /** The clock retention is measured by (tests move it). */
  now?: () => Date;
}

/** What destroying a version needs: who approved it (two different people) and the audit event's writer. */
export interface DestroyOptions {
  approvedBy: readonly string[];
  /** Runs in the transaction that erases the key (the audit event commits with it). */
  record?: (tx: Prisma.TransactionClient, destroyed: KeyVersionInfo) => Promise<unknown>;
}

/** Key versions per environment, persisted wrapped under the master key. */
export class KeyStore {
  constructor(
    private readonly prisma: PrismaClient,
    private readonly masterKey: SecretKey,
    private readonly log: Logger,
    options: KeyStoreOptions = {},
  ) {
    this.retentionDays = options.retiredKeyRetentionDays ?? DEFAULT_RETIRED_KEY_RETENTION_DAYS;
    this.now = options.now ?? (() => new Date());
  }

  readonly retentionDays: number;
  /** The key store's clock (retention is measured by it). */
  readonly now: () => Date;

  /** The key of row prints (the rotation's row-by-row proof, see row-prints.ts). */
  rowPrintKey(): Buffer {
    this.printKey ??= deriveSubkey(this.masterKey, "keyops:row-print:v1");
    return this.printKey;
  }
  private printKey: Buffer | undefined;

  async list(environment: Environment): Promise<KeyVersionInfo[]> {
    const rows = await this.prisma.keyVersion.findMany({
      where: { environment },
      orderBy: { version: "asc" },
    });
    return rows.map(toInfo);
  }

  async get(environment: Environment, version: number): Promise<KeyVersionInfo> {
    const row = await this.prisma.keyVersion.findUnique({
      where: { environment_version: { environment, version } },
    });
    if (!row) throw new NotFoundError(`${environment} has no key version ${version}`);
    return toInfo(row);
  }

  /**
   * Every non-retired version of the environment, unwrapped, ready to encrypt and decrypt. A LOST
   * version has no key to hold: its rows fail to decrypt (fail closed) until `keys import`.
   */
  async loadKeyring(environment: Environment): Promise<Keyring> {
    const rows = await this.prisma.keyVersion.findMany({
      where: { environment, state: { notIn: ["RETIRED", "LOST", "DESTROYED"] } },
      orderBy: { version: "asc" },
    });
    return new Keyring(
      environment,
      rows.map((row) => ({
        version: row.version,
        state: row.state,
        legacy: row.legacy,
        key: this.unwrap(row),
      })),
    );
  }

  /**
   * Every version whose key KeyOps still holds (retired ones within retention and after it,
   * compromised ones; never a destroyed one), for reading a restored backup only: each decrypts and
   * none encrypts (no version is active in it). Never the live keyring, which leaves retired
   * versions out.
   */
  async loadBackupKeyring(environment: Environment): Promise<Keyring> {
    const rows = await this.prisma.keyVersion.findMany({
      where: { environment, state: { not: "DESTROYED" } },
      orderBy: { version: "asc" },
    });
    return new Keyring(
      environment,
      rows.map((row) => ({
        version: row.version,
        state: "DECRYPT_ONLY",
        legacy: row.legacy,
        key: this.unwrap(row),
      })),
    );
  }

  /** When a retired version's retention ends (from its retirement); undefined for any other state. */
  retentionEndsAt(info: Pick<KeyVersionInfo, "state" | "retiredAt" | "createdAt">): Date | undefined {
    if (info.state !== "RETIRED") return undefined;
    const from = info.retiredAt ?? info.createdAt;
    return new Date(from.getTime() + this.retentionDays * DAY_MS);
  }

  /**
   * Erases a retired version's wrapped key (state DESTROYED): from then on no backup under it can
   * be read. Refused unless the version is retired, its retention period has ended, and two
   * different people approved it. The row stays (fingerprint, dates, who approved), so the version
   * number is never reused and its fingerprint still refuses the key coming back.
   */
  async destroy(environment: Environment, version: number, options: DestroyOptions): Promise<KeyVersionInfo> {
    const approvers = [...new Set(options.approvedBy.filter((a) => a.trim() !== ""))];
    if (approvers.length < 2) {
      throw new RefusedError(
        `destroying version ${version} of ${environment} needs the approval of two different people`,
      );
    }
    return this.prisma.$transaction(async (tx) => {
      await tx.$executeRaw`SELECT pg_advisory_xact_lock(hashtext(${`keyops:keyring:${environment}`}))`;
      const row = await tx.keyVersion.findUnique({
        where: { environment_version: { environment, version } },
      });
      if (!row) throw new NotFoundError(`${environment} has no key version ${version}`);
      if (row.state === "DESTROYED")
        throw new RefusedError(`version ${version} of ${environment} is already destroyed`);
      if (row.state !== "RETIRED") {
        throw new RefusedError(
          `version ${version} of ${environment} is ${stateLabel(row.state)}: only a retired version can be destroyed (retire it first)`,
        );
      }
      const ends = this.retentionEndsAt(row) as Date;
      if (this.now() < ends) {
        throw new RefusedError(
          `version ${version} of ${environment} is retained until ${ends.toISOString().slice(0, 10)} ` +
            `(${this.retentionDays} days from its retirement, KEYOPS_RETIRED_KEY_RETENTION_DAYS), so that ` +
            "backups of its era can still be read; it cannot be destroyed before then",
        );
      }
      const destroyed = toInfo(
        await tx.keyVersion.update({
          where: { id: row.id },
          data: {
            state: "DESTROYED",
            wrappedKey: null,
            destroyedAt: this.now(),
            destroyedBy: approvers.join(","),
          },
        }),
      );
      await options.record?.(tx, destroyed);
      this.log.warn("key version destroyed (wrapped key erased)", {
        environment,
        version,
        fingerprint: row.fingerprint,
      });
      return destroyed;
    });
  }

  /**
   * The key of a version, for `keyops keys export` only (the env source's ENCRYPTION_KEY_V<n>, the
   * password-manager backup). A retired or compromised version is never handed out again.
   */
  async exportKey(
    environment: Environment,
    version: number,
  ): Promise<{ info: KeyVersionInfo; key: SecretKey }> {
    const row = await this.prisma.keyVersion.findUnique({
      where: { environment_version: { environment, version } },
    });
    if (!row) throw new NotFoundError(`${environment} has no key version ${version}`);
    if (
      row.state === "RETIRED" ||
      row.state === "COMPROMISED" ||
      row.state === "LOST" ||
      row.state === "DESTROYED"
    ) {
      throw new RefusedError(
        `version ${version} of ${environment} is ${stateLabel(row.state)} and is not exported`,
      );
    }
    return { info: toInfo(row), key: this.unwrap(row) };
  }

  /** A new PENDING version with a fresh random key; returns its fingerprint, never the key. */
  async generate(environment: Environment): Promise<KeyVersionInfo> {
    return this.insertVersion(environment, SecretKey.generate(), { state: "PENDING", legacy: false });
  }

  /** Makes `version` the one that encrypts; the previous active version becomes decrypt-only. */
  async activate(
    environment: Environment,
    version: number,
    tx?: Prisma.TransactionClient,
  ): Promise<Activation> {
    if (!tx) return this.prisma.$transaction((inner) => this.activate(environment, version, inner));
    await tx.$executeRaw`SELECT pg_advisory_xact_lock(hashtext(${`keyops:keyring:${environment}`}))`;
    const target = await tx.keyVersion.findUnique({
      where: { environment_version: { environment, version } },
    });
    if (!target) throw new NotFoundError(`${environment} has no key version ${version}`);
    if (target.state === "ACTIVE")
      throw new RefusedError(`version ${version} of ${environment} is already active`);
    if (
      target.state === "RETIRED" ||
      target.state === "COMPROMISED" ||
      target.state === "LOST" ||
      target.state === "DESTROYED"
    ) {
      throw new RefusedError(
        `version ${version} of ${environment} is ${stateLabel(target.state)} and cannot be activated`,
      );
    }
    const now = new Date();
    const current = await tx.keyVersion.findFirst({ where: { environment, state: "ACTIVE" } });
    let previous: KeyVersionInfo | undefined;
    if (current) {
      previous = toInfo(
        await tx.keyVersion.update({
          where: { id: current.id },
          data: { state: "DECRYPT_ONLY", deactivatedAt: now },
        }),
      );
    }
    const activated = toInfo(
      await tx.keyVersion.update({ where: { id: target.id }, data: { state: "ACTIVE", activatedAt: now } }),
    );
    this.log.info("key version activated", { environment, version, fingerprint: activated.fingerprint });
    return { activated, previous };
  }

  /**
   * Marks a version retired: it no longer decrypts. Callers (the engine) check first that no
   * stored row still uses it; this method only refuses what the keyring itself forbids.
   */
  async retire(environment: Environment, version: number): Promise<KeyVersionInfo> {
    const target = await this.get(environment, version);
    if (target.state === "ACTIVE") {
      throw new RefusedError(
        `version ${version} of ${environment} is active; activate another version first`,
      );
    }
    if (target.state === "RETIRED" || target.state === "DESTROYED")
      throw new RefusedError(`version ${version} of ${environment} is already ${stateLabel(target.state)}`);
    const row = await this.prisma.keyVersion.update({
      where: { environment_version: { environment, version } },
      data: { state: "RETIRED", retiredAt: this.now() },
    });
    this.log.info("key version retired", { environment, version, fingerprint: row.fingerprint });
    return toInfo(row);
  }

  /** Flags a leaked version: it still decrypts (so its rows can be rotated away) but never encrypts again. */
  async markCompromised(environment: Environment, version: number): Promise<KeyVersionInfo> {
    const target = await this.get(environment, version);
    if (target.state === "RETIRED" || target.state === "DESTROYED")
      throw new RefusedError(`version ${version} of ${environment} is already ${stateLabel(target.state)}`);
    if (target.state === "LOST")
      throw new RefusedError(`version ${version} of ${environment} is lost: KeyOps holds no copy of it`);
    if (target.state === "ACTIVE") {
      // Flagging it now would leave nothing to encrypt with: writes would fail until a rotation.
      throw new RefusedError(
        `version ${version} of ${environment} is active: rotate first (keyops rotate), then mark it compromised`,
      );
    }
    const row = await this.prisma.keyVersion.update({
      where: { environment_version: { environment, version } },
      data: { state: "COMPROMISED", compromisedAt: new Date() },
    });
    this.log.warn("key version marked compromised", { environment, version, fingerprint: row.fingerprint });
    return toInfo(row);
  }

  /**
   * Adopts each configured legacy key (the guide's ENCRYPTION_KEY) as version 1 of its
   * environment, once. Refuses a master key that did not wrap this keyring, and a key already
   * used by another environment.
   */
  async bootstrap(legacyKeys: Partial<Record<Environment, SecretKey>>): Promise<void> {
    const foreign = await this.prisma.keyVersion.findFirst({
      where: { masterFingerprint: { not: this.masterKey.fingerprint } },
    });
    if (foreign) {
      throw new UserError(
        `KEYOPS_MASTER_KEY (fingerprint ${this.masterKey.fingerprint}) is not the master key of this keyring ` +
          `(version ${foreign.version} of ${foreign.environment} is wrapped under ${foreign.masterFingerprint})`,
      );
    }
    for (const environment of ENVIRONMENTS) {
      const key = legacyKeys[environment];
      if (key) await this.adoptLegacyKey(environment, key);
    }
  }

  /**
   * Adopts `key` as the legacy version 1 of an environment that has no versions yet. A key that any
   * environment ever held, in any state (retired and compromised included), is refused for any
   * other environment or version, forever: see `refuseReusedKey`.
   */
  async adoptLegacyKey(environment: Environment, key: SecretKey): Promise<KeyVersionInfo | undefined> {
    const own = await this.prisma.keyVersion.findMany({ where: { environment } });
    const legacy = own.find((row) => row.legacy);
    if (legacy?.state === "DESTROYED") {
      // Destroyed: only its fingerprint is left to compare, and nothing is adopted over it anyway.
      if (legacy.fingerprint === key.fingerprint)
        this.log.warn(
          "the configured legacy key is a destroyed version's: remove it from the configuration",
          {
            environment,
            version: legacy.version,
            fingerprint: legacy.fingerprint,
          },
        );
      return undefined;
    }
    const held = legacy ? this.tryUnwrap(legacy) : undefined;
    if (legacy && !held) {
      // Lost to KeyOps: only `keyops keys import` (checked against its fingerprint) takes it back.
      this.log.warn("the adopted legacy key is lost to KeyOps: /key-lost, or keyops keys import", {
        environment,
        version: legacy.version,
        fingerprint: legacy.fingerprint,
      });
      return undefined;
    }
    if (legacy && held?.equals(key)) {
      if (isCompromised(legacy))
        this.log.warn("the configured legacy key is compromised: remove it from the configuration", {
          environment,
          version: legacy.version,
          fingerprint: legacy.fingerprint,
        });
      return undefined; // adopted already
    }
    await this.refuseReusedKey(environment, key);
    if (legacy) {
      this.log.warn("the configured legacy key differs from the adopted one; keeping the adopted key", {
        environment,
        configured: key.fingerprint,
        adopted: legacy.fingerprint,
      });
    }
    const anyVersion = await this.prisma.keyVersion.count({ where: { environment } });
    if (anyVersion > 0) return undefined;
    const adopted = await this.insertVersion(environment, key, { state: "ACTIVE", legacy: true });
    this.log.info("adopted the legacy encryption key", {
      environment,
      version: adopted.version,
      fingerprint: adopted.fingerprint,
    });
    return adopted;
  }

  /**
   * Refuses `key` when a stored version of another environment holds it, or a compromised version of
   * any (a key of this environment's own is never adopted again: adoption needs an environment with
   * no versions). Rows are never deleted and
   * keep their wrapped key whatever their state, so this holds forever. The 8-hex fingerprint only
   * narrows the search (equal keys always share it, different keys may too); each candidate is
   * unwrapped and compared in constant time, so no raw key or extra hash of one is ever stored.
   */
  private async refuseReusedKey(environment: Environment, key: SecretKey): Promise<void> {
    const candidates = await this.prisma.keyVersion.findMany({
      // A drill's scratch keyring holds copies of live keys (src/engine/scratch.ts): not a reuse.
      where: { fingerprint: key.fingerprint, environment: { in: [...ENVIRONMENTS] } },
      orderBy: [{ environment: "asc" }, { version: "asc" }],
    });
    // A destroyed or lost version's key is gone from KeyOps: its fingerprint is all there is to
    // compare, so a match is refused as a possible reuse (a new random key shares an 8-hex
    // fingerprint once in 4 billion). A lost key that turns up again comes back through
    // `keyops keys import` into its own version, never as another one.
    const holder = candidates.find((row) => {
      const gone = row.state === "DESTROYED" || row.wrappedKey === null;
      return (
        (row.environment !== environment || isCompromised(row) || gone) &&
        (gone || this.tryUnwrap(row)?.equals(key) === true)
      );
    });
    if (!holder) return;
    const where = `version ${holder.version} of ${holder.environment}`;
    const why =
      holder.state === "DESTROYED"
        ? `its fingerprint is that of ${where}, whose key was destroyed: a destroyed key is never used again (generate a new one)`
        : holder.wrappedKey === null
          ? `its fingerprint is that of ${where}, whose key KeyOps lost: bring it back with keyops keys import, never as another environment's key`
          : isCompromised(holder)
            ? `it was ${where}, which is compromised: a leaked key is never used again`
            : `it is already a key of ${holder.environment}: use a separate key per environment (${where}, ${stateLabel(holder.state)})`;
    throw new UserError(
      `the legacy key for ${environment} (fingerprint ${key.fingerprint}) is refused: ${why}`,
    );
  }

  /**
   * Copies every version of `from` into the keyring `to` (a drill's scratch keyring): same versions,
   * states and keys, each key rewrapped under its new name. Does nothing when `to` has versions.
   */
  async copyKeyring(from: Environment, to: string): Promise<void> {
    await this.prisma.$transaction(async (tx) => {
      await tx.$executeRaw`SELECT pg_advisory_xact_lock(hashtext(${`keyops:keyring:${to}`}))`;
      if ((await tx.keyVersion.count({ where: { environment: to } })) > 0) return;
      const rows = await tx.keyVersion.findMany({
        where: { environment: from },
        orderBy: { version: "asc" },
      });
      await tx.keyVersion.createMany({
        data: rows.map(({ id: _id, ...row }) => ({
          ...row,
          environment: to,
          wrappedKey:
            row.wrappedKey === null
              ? null
              : wrapKey(this.masterKey, this.unwrap(row), dataKeyContext(to, row.version)),
        })),
      });
    });
  }

  /** Removes a scratch keyring's versions (never a live environment's: the caller names scratch ones). */
  async dropKeyring(name: string): Promise<void> {
    if ((ENVIRONMENTS as readonly string[]).includes(name))
      throw new RefusedError(`${name} is a live keyring`);
    await this.prisma.keyVersion.deleteMany({ where: { environment: name } });
  }

  /** The names of keyrings starting with `prefix` (the scratch keyrings left behind). */
  async keyringsStartingWith(prefix: string): Promise<string[]> {
    const rows = await this.prisma.keyVersion.findMany({
      where: { environment: { startsWith: prefix } },
      distinct: ["environment"],
      select: { environment: true },
    });
    return rows.map((r) => r.environment);
  }

  private async insertVersion(
    environment: Environment,
    key: SecretKey,
    options: { state: KeyState; legacy: boolean },
  ): Promise<KeyVersionInfo> {
    for (let attempt = 1; ; attempt++) {
      const last = await this.prisma.keyVersion.findFirst({
        where: { environment },
        orderBy: { version: "desc" },
        select: { version: true },
      });
      const version = (last?.version ?? 0) + 1;
      try {
        const row = await this.prisma.keyVersion.create({
          data: {
            environment,
            version,
            state: options.state,
            legacy: options.legacy,
            fingerprint: key.fingerprint,
            wrappedKey: wrapKey(this.masterKey, key, dataKeyContext(environment, version)),
            masterFingerprint: this.masterKey.fingerprint,
            activatedAt: options.state === "ACTIVE" ? new Date() : null,
          },
        });
        return toInfo(row);
      } catch (error) {
        // Another process took the same version number (unique constraint): take the next one.
        if ((error as { code?: string }).code !== "P2002" || attempt >= MAX_GENERATE_ATTEMPTS) throw error;
      }
    }
  }

  private unwrap(row: WrappedRow): SecretKey {
    if (row.wrappedKey === null) {
      throw new RefusedError(
        `version ${row.version} of ${row.environment} has no key in KeyOps (lost: keyops keys import takes it back; destroyed: never)`,
      );
    }
    return unwrapKey(this.masterKey, row.wrappedKey, dataKeyContext(row.environment, row.version));
  }

  /** The key, or undefined when KeyOps holds no usable copy (none, damaged, another master key's, another key). */
  private tryUnwrap(row: WrappedRow & { fingerprint: string }): SecretKey | undefined {
    if (row.wrappedKey === null) return undefined;
    try {
      const key = this.unwrap(row);
      return key.fingerprint === row.fingerprint ? key : undefined;
    } catch {
      return undefined;
    }
  }

  /**
   * The versions of `environment` KeyOps holds no usable key of: LOST ones, and any other (retired
   * aside) whose wrapped copy is gone or no longer unwraps to its fingerprint under the master key.
   */
  async lostVersions(environment: Environment): Promise<KeyVersionInfo[]> {
    const rows = await this.prisma.keyVersion.findMany({
      where: { environment, state: { notIn: ["RETIRED", "DESTROYED"] } },
      orderBy: { version: "asc" },
    });
    return rows.filter((row) => row.state === "LOST" || !this.tryUnwrap(row)).map(toInfo);
  }

  /**
   * Marks a version LOST: KeyOps holds no usable copy of its key (the caller has confirmed that no
   * backup has it). Its unusable wrapped copy is dropped; its rows fail to decrypt from now on.
   * Refused when KeyOps can still unwrap it (then it is not lost: `keyops keys export`).
   */
  async markLost(environment: Environment, version: number): Promise<KeyVersionInfo> {
    return this.prisma.$transaction(async (tx) => {
      await tx.$executeRaw`SELECT pg_advisory_xact_lock(hashtext(${`keyops:keyring:${environment}`}))`;
      const row = await tx.keyVersion.findUnique({
        where: { environment_version: { environment, version } },
      });
      if (!row) throw new NotFoundError(`${environment} has no key version ${version}`);
      if (row.state === "LOST") return toInfo(row);
      if (row.state === "RETIRED" || row.state === "DESTROYED")
        throw new RefusedError(
          `version ${version} of ${environment} is ${stateLabel(row.state)}: nothing is under it`,
        );
      if (this.tryUnwrap(row)) {
        throw new RefusedError(
          `version ${version} of ${environment} is not lost: KeyOps holds its key (keyops keys export ${version})`,
        );
      }
      const lost = await tx.keyVersion.update({
        where: { id: row.id },
        data: { state: "LOST", lostAt: new Date(), wrappedKey: null },
      });
      this.log.warn("key version marked lost", { environment, version, fingerprint: lost.fingerprint });
      return toInfo(lost);
    });
  }

  /**
   * Takes a lost version's key back (from a backup): accepted only when it is the key of that
   * version (its fingerprint), then wrapped under the master key again. A LOST version decrypts
   * again (decrypt-only, or active when the environment has no active version; compromised if it
   * ever was); a version whose wrapped copy was damaged keeps its state. Refused, changing
   * nothing, for a version KeyOps holds or a key that does not match.
   */
  async importKey(environment: Environment, version: number, key: SecretKey): Promise<KeyVersionInfo> {
    return this.prisma.$transaction(async (tx) => {
      await tx.$executeRaw`SELECT pg_advisory_xact_lock(hashtext(${`keyops:keyring:${environment}`}))`;
      const row = await tx.keyVersion.findUnique({
        where: { environment_version: { environment, version } },
      });
      if (!row) throw new NotFoundError(`${environment} has no key version ${version}`);
      if (row.state === "RETIRED")
        throw new RefusedError(`version ${version} of ${environment} is retired and is not imported`);
      if (row.state === "DESTROYED") {
        throw new RefusedError(
          `version ${version} of ${environment} was destroyed after its retention (approved by two people): ` +
            "its key is never taken back; nothing was changed",
        );
      }
      if (row.state !== "LOST" && this.tryUnwrap(row)) {
        throw new RefusedError(
          `version ${version} of ${environment} is not lost: KeyOps holds its key; nothing was changed`,
        );
      }
      if (key.fingerprint !== row.fingerprint) {
        throw new RefusedError(
          `that key is not version ${version} of ${environment} (fingerprint ${key.fingerprint}, ` +
            `expected ${row.fingerprint}); nothing was changed`,
        );
      }
      let state = row.state;
      if (row.state === "LOST") {
        const active = await tx.keyVersion.count({ where: { environment, state: "ACTIVE" } });
        state = row.compromisedAt ? "COMPROMISED" : active === 0 ? "ACTIVE" : "DECRYPT_ONLY";
      }
      const restored = await tx.keyVersion.update({
        where: { id: row.id },
        data: {
          state,
          wrappedKey: wrapKey(this.masterKey, key, dataKeyContext(environment, version)),
          masterFingerprint: this.masterKey.fingerprint,
          ...(state === "ACTIVE" ? { activatedAt: new Date() } : {}),
        },
      });
      this.log.info("lost key version imported", { environment, version, fingerprint: restored.fingerprint });
      return toInfo(restored);
    });
  }
}

type WrappedRow = { environment: string; version: number; wrappedKey: string | null };

/** Compromised now, or ever (a compromised version that was later retired keeps its compromisedAt). */
function isCompromised(row: Pick<KeyVersion, "state" | "compromisedAt">): boolean {
  return row.state === "COMPROMISED" || row.compromisedAt !== null;
}

function stateLabel(state: KeyState): string {
  return state.toLowerCase().replace("_", "-");
}

function toInfo(row: KeyVersion): KeyVersionInfo {
  const { id: _id, wrappedKey: _wrapped, masterFingerprint: _master, ...info } = row;
  return { ...info, environment: row.environment as Environment };
}
