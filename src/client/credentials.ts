import { hostname } from "node:os";
import { ciphertextVersion } from "../crypto/ciphertext.js";
import {
  CiphertextFormatError,
  CryptoError,
  type DecryptFailureReason,
  NoActiveKeyError,
  UnknownKeyVersionError,
} from "../crypto/errors.js";
import { type EncryptionHealth, Keyring, type KeyringVersion } from "../crypto/keyring.js";
import type { Environment } from "../environments.js";
import { FailureCounter } from "./failure-counter.js";
import type { KeySource, LoadedKeys } from "./key-sources.js";
import type { ClientReport, HeldVersionReport, KeySourceKind, ReportAnswer } from "./report.js";
import type { ReportTransport } from "./report-transport.js";

/** What openCredentials returns: the guide's two functions and its health check, through a rotation. */
export interface CredentialsStatus {
  environment: Environment;
  source: KeySourceKind;
  service: string;
  instanceId: string;
  /** Versions held, by fingerprint. */
  versions: HeldVersionReport[];
  encryptsVersion: number | null;
  reporting: boolean;
  /** When KeyOps last answered a report (ISO), if ever. */
  lastReportAt: string | null;
  problems: string[];
}

export interface CredentialsParts {
  environment: Environment;
  service: string;
  instanceId: string;
  source: KeySource;
  /** Undefined when reporting is off. */
  transport: ReportTransport | undefined;
  reportIntervalMs: number;
  /** Keyring sources are read again this often; 0 for never (env). */
  refreshIntervalMs: number;
  onWarning: (message: string) => void;
}

/** Reloads after an unknown version are at most this frequent (a flood of bad rows must not hammer the database). */
const MIN_RELOAD_INTERVAL_MS = 1000;
const FIRST_REPORT_TIMEOUT_MS = 3000;

export class Credentials {
  readonly environment: Environment;
  readonly instanceId: string;
  readonly #parts: CredentialsParts;
  readonly #startedAt = new Date().toISOString();
  readonly #failures = new FailureCounter();
  #loaded: LoadedKeys = { held: [], active: null, problems: [] };
  #keyring: Keyring | undefined;
  /** The active version KeyOps named in its last answer (it decides what is written). */
  #keyopsActive: number | null | undefined;
  #mismatches: string[] = [];
  #lastReportAt: string | null = null;
  #reloading: Promise<void> | undefined;
  #lastReloadAt = 0;
  #timers: NodeJS.Timeout[] = [];
  #reportFailing = false;
  #reportInFlight: Promise<void> | undefined;
  #closed = false;

  constructor(parts: CredentialsParts) {
    this.#parts = parts;
    this.environment = parts.environment;
    this.instanceId = parts.instanceId;
  }

  /** Loads the keys, reports once (learning which version KeyOps has active), then keeps both fresh. */
  async start(): Promise<void> {
    this.#apply(await this.#parts.source.load());
    if (this.#parts.transport) await this.#report(false, FIRST_REPORT_TIMEOUT_MS);
    const every = (ms: number, work: () => Promise<void>) => {
      if (ms <= 0) return;
      const timer = setInterval(() => void work(), ms);
      timer.unref();
      this.#timers.push(timer);
    };
    every(this.#parts.refreshIntervalMs, () => this.reload());
    if (this.#parts.transport) {
      every(this.#parts.reportIntervalMs, async () => {
        if (this.#reportInFlight) return; // a slow KeyOps gets one report at a time
        this.#reportInFlight = this.#report(false).finally(() => {
          this.#reportInFlight = undefined;
        });
      });
    }
  }

  /** JSON in, `v<n>:iv:tag:ct` out, with the version KeyOps has active. */
  encryptCredentials(credentials: unknown): string {
    const keyring = this.#keyring;
    if (!keyring || keyring.activeVersion === null) {
      throw new NoActiveKeyError(`no key to encrypt with in ${this.environment}: ${this.#problemSummary()}`);
    }
    const json = JSON.stringify(credentials);
    // undefined, a function or a symbol has no JSON form: nothing could be stored and read back.
    if (json === undefined) throw new CiphertextFormatError("credentials must be a JSON value");
    return keyring.encrypt(json);
  }

  /** `v<n>:iv:tag:ct` or the guide's legacy `iv:tag:ct` in, the stored JSON value out. */
  decryptCredentials<T = unknown>(ciphertext: string): T {
    let plaintext: string;
    try {
      if (typeof ciphertext !== "string") throw new CiphertextFormatError("ciphertext must be a string");
      const keyring = this.#keyring;
      if (!keyring)
        throw new UnknownKeyVersionError(`no keys loaded for ${this.environment}: ${this.#problemSummary()}`);
      plaintext = keyring.decryptToString(ciphertext);
    } catch (error) {
      this.#countFailure(error, ciphertext);
      throw error;
    }
    try {
      return JSON.parse(plaintext) as T;
    } catch {
      this.#failures.add("malformed", ciphertext);
      throw new CiphertextFormatError("the decrypted credentials are not JSON");
    }
  }

  /** As decryptCredentials, but first reloads the keys when the ciphertext names a version not yet held. */
  async decrypt<T = unknown>(ciphertext: string): Promise<T> {
    const version = typeof ciphertext === "string" ? ciphertextVersion(ciphertext) : undefined;
    if (typeof version === "number" && !this.#keyring?.canDecrypt(version)) await this.reload();
    return this.decryptCredentials<T>(ciphertext);
  }

  /** The guide's check: a round trip with the version that encrypts, and no key problem or mismatch. */
  healthCheckEncryption(): EncryptionHealth {
    const problems = [...this.#loaded.problems, ...this.#mismatches, ...this.#activeProblems()];
    if (problems.length > 0) return { status: "unhealthy", error: problems.join("; ") };
    if (!this.#keyring) return { status: "unhealthy", error: `no keys loaded for ${this.environment}` };
    return this.#keyring.healthCheckEncryption();
  }

  status(): CredentialsStatus {
    return {
      environment: this.environment,
      source: this.#parts.source.kind,
      service: this.#parts.service,
      instanceId: this.instanceId,
      versions: this.#heldVersions(),
      encryptsVersion: this.#keyring?.activeVersion ?? null,
      reporting: this.#parts.transport !== undefined,
      lastReportAt: this.#lastReportAt,
      problems: [...this.#loaded.problems, ...this.#mismatches],
    };
  }

  /** Reads the keys again now (keyring source); concurrent calls share one read. */
  reload(): Promise<void> {
    if (this.#closed || this.#parts.source.kind === "env") return Promise.resolve();
    if (this.#reloading) return this.#reloading;
    const wait = Math.max(0, this.#lastReloadAt + MIN_RELOAD_INTERVAL_MS - Date.now());
    this.#reloading = (async () => {
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
      try {
        this.#apply(await this.#parts.source.load());
      } catch (error) {
        // Keys already held keep working while the keyring cannot be read.
        this.#parts.onWarning(`could not reload keys, keeping the ones held: ${(error as Error).message}`);
      } finally {
        this.#lastReloadAt = Date.now();
        this.#reloading = undefined;
      }
    })();
    return this.#reloading;
  }

  /** Stops the timers and tells KeyOps this instance is going away. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const timer of this.#timers) clearInterval(timer);
    await Promise.all([this.#reloading, this.#reportInFlight]);
    if (this.#parts.transport) await this.#report(true, FIRST_REPORT_TIMEOUT_MS);
    await this.#parts.source.close();
  }

  #apply(loaded: LoadedKeys): void {
    this.#loaded = loaded;
    this.#rebuild();
  }

  /** Rebuilds the keyring from the held keys and the version that should encrypt. */
  #rebuild(): void {
    const held = this.#loaded.held;
    if (held.length === 0) {
      this.#keyring = undefined;
      return;
    }
    const active = this.#encryptingVersion();
    const versions: KeyringVersion[] = held.map((h) => ({
      version: h.version,
      key: h.key,
      legacy: h.legacy,
      state:
        h.version === active ? "ACTIVE" : h.state === "ACTIVE" || h.state === null ? "DECRYPT_ONLY" : h.state,
    }));
    this.#keyring = new Keyring(this.environment, versions);
  }

  /**
   * KeyOps decides what is written. A keyring client reads it from the keyring itself; an env
   * client from KeyOps's last answer, when it holds that version. Without an answer (reporting
   * off, KeyOps unreachable) an env client falls back to ENCRYPTION_KEY_ACTIVE or its highest version.
   */
  #encryptingVersion(): number | null {
    const held = new Set(this.#loaded.held.map((h) => h.version));
    const fromKeyOps = this.#parts.source.kind === "env" ? this.#keyopsActive : undefined;
    // Once KeyOps has answered, its answer alone decides: a version it does not name as active is
    // decrypt-only, compromised or retired there, and nothing is written with it.
    if (fromKeyOps !== undefined) return fromKeyOps !== null && held.has(fromKeyOps) ? fromKeyOps : null;
    return this.#loaded.active !== null && held.has(this.#loaded.active) ? this.#loaded.active : null;
  }

  /** Why nothing encrypts although keys are held: KeyOps's active version is not among them. */
  #activeProblems(): string[] {
    const active = this.#keyopsActive;
    if (this.#parts.source.kind !== "env" || typeof active !== "number") return [];
    if (this.#loaded.held.some((h) => h.version === active)) return [];
    return [
      `KeyOps writes version ${active} of ${this.environment}, which this instance does not hold ` +
        `(add ENCRYPTION_KEY_V${active}); nothing is encrypted with an older version`,
    ];
  }

  async #report(stopping: boolean, timeoutMs?: number): Promise<void> {
    const transport = this.#parts.transport;
    if (!transport) return;
    const failures = this.#failures.take();
    const report: ClientReport = {
      instanceId: this.instanceId,
      environment: this.environment,
      service: this.#parts.service,
      source: this.#parts.source.kind,
      hostname: hostname().slice(0, 255) || "unknown",
      pid: process.pid,
      startedAt: this.#startedAt,
      versions: this.#heldVersions(),
      encryptsVersion: this.#keyring?.activeVersion ?? null,
      problems: [...this.#loaded.problems, ...this.#mismatches].slice(0, 20).map((p) => p.slice(0, 300)),
      failures,
      stopping,
    };
    try {
      const sending = transport.send(report);
      const answer = timeoutMs === undefined ? await sending : await withTimeout(sending, timeoutMs);
      this.#lastReportAt = new Date().toISOString();
      if (this.#reportFailing) this.#parts.onWarning("reporting to KeyOps works again");
      this.#reportFailing = false;
      if (!stopping) this.#applyAnswer(answer);
    } catch (error) {
      this.#failures.merge(failures);
      if (!this.#reportFailing)
        this.#parts.onWarning(`could not report to KeyOps: ${(error as Error).message}`);
      this.#reportFailing = true;
    }
  }

  #applyAnswer(answer: ReportAnswer): void {
    const known = new Map(answer.versions.map((v) => [v.version, v.fingerprint]));
    this.#mismatches = this.#heldVersions()
      .filter((h) => known.has(h.version) && known.get(h.version) !== h.fingerprint)
      .map(
        (h) =>
          `version ${h.version} here (fingerprint ${h.fingerprint}) is not KeyOps's version ${h.version} ` +
          `(fingerprint ${known.get(h.version)}): a mismatched key`,
      );
    const changed = this.#keyopsActive !== answer.activeVersion;
    this.#keyopsActive = answer.activeVersion;
    if (this.#parts.source.kind === "keyring") {
      // The answer comes from the same keyring: a newer activation is read at once, not at the next refresh.
      if (answer.activeVersion !== this.#loaded.active) void this.reload();
    } else if (changed) {
      this.#rebuild();
    }
  }

  #heldVersions(): HeldVersionReport[] {
    return this.#loaded.held.map((h) => ({ version: h.version, fingerprint: h.key.fingerprint }));
  }

  #countFailure(error: unknown, ciphertext: unknown): void {
    const reason: DecryptFailureReason =
      error instanceof CryptoError && "reason" in error
        ? (error as { reason: DecryptFailureReason }).reason
        : "authentication-failed";
    this.#failures.add(reason, ciphertext);
  }

  #problemSummary(): string {
    return (
      [...this.#loaded.problems, ...this.#mismatches, ...this.#activeProblems()].join("; ") ||
      "no active version"
    );
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
