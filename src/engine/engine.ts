import type pg from "pg";
import type { EncryptionHealth } from "../crypto/keyring.js";
import type { Database } from "../db/database.js";
import type { Environment } from "../environments.js";
import { BusyError, RefusedError, UserError } from "../errors.js";
import type { Logger } from "../logger.js";
import type { KeyStore, KeyVersionInfo } from "./key-store.js";
import type { ProgressListener } from "./progress.js";
import { reencryptRows, type StoredRow } from "./reencrypt.js";
import { defaultWorkerCount, ReencryptWorkers } from "./reencrypt-workers.js";
import { reencryptTarget } from "./rotation.js";
import {
  describeTarget,
  PLATFORM_CREDENTIALS,
  type ResolvedTarget,
  resolveTarget,
  type Target,
} from "./target.js";
import { type VerifyReport, verifyTarget } from "./verify.js";

export interface RotateOptions {
  /** Generate and activate a new version first (default). False re-encrypts to the current active version. */
  generate?: boolean;
  batchSize?: number;
  maxRowsPerSecond?: number;
  requestedBy?: string;
  onProgress?: ProgressListener;
  signal?: AbortSignal;
  /** Crypto threads; default: none for small tables, all cores but one from WORKER_THRESHOLD rows. */
  cryptoWorkers?: number;
}

export type RotationStatus = "SUCCEEDED" | "FAILED_WITH_ROWS";

export interface RotationReport {
  runId: number;
  environment: Environment;
  target: string;
  status: RotationStatus;
  resumed: boolean;
  toVersion: number;
  toFingerprint: string;
  rows: number;
  reencrypted: number;
  conflicts: number;
  failed: number;
  failedRowIds: string[];
  notOnActive: number;
  perVersion: Record<string, number>;
  digestBefore: string | null;
  digestAfter: string;
  digestUnchanged: boolean;
  /** The whole run, verification before and after included. */
  durationMs: number;
  /** The re-encryption phase alone (this process's part of it, for a resumed run). */
  reencryptMs: number;
  /** Rows re-encrypted per second of the re-encryption phase. */
  rowsPerSecond: number;
}

export interface VersionStatus extends KeyVersionInfo {
  rows: number;
}

export interface KeyringStatus {
  environment: Environment;
  target: string;
  activeVersion: number | null;
  versions: VersionStatus[];
  /** Rows whose ciphertext names a version the keyring does not have. */
  rowsUnderUnknownVersions: number;
  runningRun: { id: number; rowsDone: number; rowsTotal: number; startedAt: Date } | null;
}

export const DEFAULT_BATCH_SIZE = 2000;

const rotationLockKey = (environment: Environment) => `keyops:rotation:${environment}`;
export const MAX_BATCH_SIZE = 50_000;
/** Below this many rows, starting worker threads costs more than it saves. */
export const WORKER_THRESHOLD = 20_000;

/**
 * The rotation engine: key lifecycle, re-encryption runs and verification for one target.
 * Knows nothing of Slack or PagerDuty; the CLI and the bot drive the same instance.
 */
export class RotationEngine {
  constructor(
    private readonly db: Database,
    readonly keys: KeyStore,
    private readonly log: Logger,
    readonly target: Target = PLATFORM_CREDENTIALS,
    /** The database holding an environment's target table; by default the KeyOps database. */
    readonly targetPool: (environment: Environment) => pg.Pool = () => db.pool,
  ) {}

  async status(environment: Environment): Promise<KeyringStatus> {
    const target = await resolveTarget(this.targetPool(environment), this.target);
    const versions = await this.keys.list(environment);
    const counts = await this.rowsPerVersion(environment, target, versions);
    const running = await this.db.prisma.rotationRun.findFirst({ where: { environment, status: "RUNNING" } });
    const known = new Set(versions.map((v) => String(v.version)));
    return {
      environment,
      target: describeTarget(this.target),
      activeVersion: versions.find((v) => v.state === "ACTIVE")?.version ?? null,
      versions: versions.map((v) => ({ ...v, rows: counts.get(String(v.version)) ?? 0 })),
      rowsUnderUnknownVersions: [...counts]
        .filter(([label]) => !known.has(label))
        .reduce((sum, [, n]) => sum + n, 0),
      runningRun: running
        ? {
            id: running.id,
            rowsDone: running.rowsDone,
            rowsTotal: running.rowsTotal,
            startedAt: running.startedAt,
          }
        : null,
    };
  }

  generate(environment: Environment): Promise<KeyVersionInfo> {
    return this.keys.generate(environment);
  }

  /** Activation changes what a run writes, so it waits for no run: it is refused while one goes on. */
  activate(environment: Environment, version: number) {
    return this.withRotationLock(environment, () => this.keys.activate(environment, version));
  }

  markCompromised(environment: Environment, version: number) {
    return this.keys.markCompromised(environment, version);
  }

  /** Retires a version, refused while any stored row still uses it. */
  retire(environment: Environment, version: number): Promise<KeyVersionInfo> {
    return this.withRotationLock(environment, async () => {
      const info = await this.keys.get(environment, version);
      if (info.state === "ACTIVE") {
        throw new RefusedError(
          `version ${version} of ${environment} is active; rotate to a new version first`,
        );
      }
      const target = await resolveTarget(this.targetPool(environment), this.target);
      const counts = await this.rowsPerVersion(environment, target, await this.keys.list(environment));
      const rows = counts.get(String(version)) ?? 0;
      if (rows > 0) {
        throw new RefusedError(
          `version ${version} of ${environment} still encrypts ${rows} rows of ${describeTarget(this.target)}; ` +
            "rotate them first (keyops rotate)",
        );
      }
      return this.keys.retire(environment, version);
    });
  }

  /** The guide's health check for /healthz: a round trip with the environment's active version. */
  async healthCheckEncryption(environment: Environment): Promise<EncryptionHealth> {
    try {
      return (await this.keys.loadKeyring(environment)).healthCheckEncryption();
    } catch (error) {
      return { status: "unhealthy", error: error instanceof Error ? error.message : "unknown error" };
    }
  }

  async verify(environment: Environment, onProgress?: ProgressListener): Promise<VerifyReport> {
    const pool = this.targetPool(environment);
    const target = await resolveTarget(pool, this.target);
    const keyring = await this.keys.loadKeyring(environment);
    return verifyTarget(pool, keyring, target, onProgress);
  }

  /**
   * A rotation run: generate a version, activate it, re-encrypt every row still under an older
   * version, verify. An interrupted run of the environment is resumed instead of starting anew.
   */
  async rotate(environment: Environment, options: RotateOptions = {}): Promise<RotationReport> {
    const batchSize = options.batchSize ?? DEFAULT_BATCH_SIZE;
    if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > MAX_BATCH_SIZE) {
      throw new UserError(`batch size must be an integer from 1 to ${MAX_BATCH_SIZE}`);
    }
    const rate = options.maxRowsPerSecond;
    if (rate !== undefined && (!Number.isFinite(rate) || rate <= 0)) {
      throw new UserError("max rows per second must be a positive number");
    }
    return this.withRotationLock(environment, () => this.runRotation(environment, batchSize, options));
  }

  private async runRotation(
    environment: Environment,
    batchSize: number,
    options: RotateOptions,
  ): Promise<RotationReport> {
    const started = performance.now();
    const pool = this.targetPool(environment);
    const prisma = this.db.prisma;
    const target = await resolveTarget(pool, this.target);

    let run = await prisma.rotationRun.findFirst({ where: { environment, status: "RUNNING" } });
    const resumed = run !== null;
    if (run) {
      run = await prisma.rotationRun.update({
        where: { id: run.id },
        data: { resumedCount: { increment: 1 } },
      });
      this.log.warn("resuming an interrupted rotation run", {
        runId: run.id,
        environment,
        cursor: run.cursor !== null,
      });
    } else {
      const before = await verifyTarget(
        pool,
        await this.keys.loadKeyring(environment),
        target,
        options.onProgress,
        "verify-before",
      );
      run = await this.startRun(environment, target, before, batchSize, options);
    }

    const keyring = await this.keys.loadKeyring(environment);
    const active = keyring.activeVersion;
    if (active === null) throw new RefusedError(`${environment} has no active key version`);
    if (active !== run.toVersion) {
      this.log.warn("the active version changed since the run started; re-encrypting to it", {
        runId: run.id,
        from: run.toVersion,
        to: active,
      });
      await prisma.rotationRun.update({ where: { id: run.id }, data: { toVersion: active } });
    }

    const reencryptStarted = performance.now();
    const workerCount =
      options.cryptoWorkers ?? (run.rowsTotal >= WORKER_THRESHOLD ? defaultWorkerCount() : 0);
    const workers = workerCount > 0 ? ReencryptWorkers.start(keyring, target, workerCount) : undefined;
    const transform =
      workers?.transform ?? (async (rows: StoredRow[]) => reencryptRows(keyring, target, rows));
    const outcome = await reencryptTarget(
      { target: pool, runs: this.db.pool },
      transform,
      target,
      {
        runId: run.id,
        activeVersion: active,
        batchSize: options.batchSize ?? run.batchSize,
        maxRowsPerSecond: options.maxRowsPerSecond ?? run.maxRowsPerSecond ?? undefined,
        cursor: run.cursor,
        pass: run.pass,
        onProgress: options.onProgress,
        signal: options.signal,
      },
      this.log,
    ).finally(() => workers?.close());
    const reencryptMs = Math.round(performance.now() - reencryptStarted);
    const after = await verifyTarget(pool, keyring, target, options.onProgress, "verify-after");
    const status: RotationStatus =
      after.failed > 0 || after.notOnActive > 0 ? "FAILED_WITH_ROWS" : "SUCCEEDED";
    const finished = await prisma.rotationRun.update({
      where: { id: run.id },
      data: {
        status,
        finishedAt: new Date(),
        updatedAt: new Date(),
        digestAfter: after.plaintextDigest,
        versionCounts: after.perVersion,
        rowsFailed: after.failed,
        failedRowIds: after.failedRowIds,
      },
    });
    const durationMs = Math.round(performance.now() - started);
    const toFingerprint = (await this.keys.get(environment, active)).fingerprint;
    const report: RotationReport = {
      runId: run.id,
      environment,
      target: describeTarget(this.target),
      status,
      resumed,
      toVersion: active,
      toFingerprint,
      rows: after.rows,
      reencrypted: finished.rowsDone,
      conflicts: finished.rowsConflicted,
      failed: after.failed,
      failedRowIds: after.failedRowIds,
      notOnActive: after.notOnActive,
      perVersion: after.perVersion,
      digestBefore: finished.digestBefore,
      digestAfter: after.plaintextDigest,
      digestUnchanged: finished.digestBefore === after.plaintextDigest,
      durationMs,
      reencryptMs,
      rowsPerSecond: reencryptMs > 0 ? Math.round((outcome.reencrypted * 1000) / reencryptMs) : 0,
    };
    this.log.info("rotation run finished", {
      runId: run.id,
      environment,
      status,
      reencrypted: report.reencrypted,
      failed: report.failed,
      toVersion: active,
      fingerprint: toFingerprint,
    });
    return report;
  }

  /** Generates (unless told not to), activates and opens the run record in one transaction. */
  private async startRun(
    environment: Environment,
    target: ResolvedTarget,
    before: VerifyReport,
    batchSize: number,
    options: RotateOptions,
  ) {
    const generated = options.generate === false ? undefined : await this.keys.generate(environment);
    return this.db.prisma.$transaction(async (tx) => {
      let toVersion: number;
      if (generated) {
        await this.keys.activate(environment, generated.version, tx);
        toVersion = generated.version;
      } else {
        const active = await tx.keyVersion.findFirst({ where: { environment, state: "ACTIVE" } });
        if (!active) {
          throw new RefusedError(
            `${environment} has no active key version (keyops keys generate, then activate)`,
          );
        }
        toVersion = active.version;
      }
      return tx.rotationRun.create({
        data: {
          environment,
          targetTable: target.table,
          idColumn: target.idColumn,
          ciphertextColumn: target.ciphertextColumn,
          toVersion,
          status: "RUNNING",
          rowsTotal: before.rows,
          batchSize,
          maxRowsPerSecond: options.maxRowsPerSecond ? Math.ceil(options.maxRowsPerSecond) : null,
          digestBefore: before.failed === 0 ? before.plaintextDigest : null,
          requestedBy: options.requestedBy ?? null,
        },
      });
    });
  }

  /** Rows per version label ("1", "2", ...; legacy ciphertexts under the legacy version). */
  private async rowsPerVersion(
    environment: Environment,
    target: ResolvedTarget,
    versions: KeyVersionInfo[],
  ): Promise<Map<string, number>> {
    const { rows } = await this.targetPool(environment).query<{ label: string; n: string }>(
      `SELECT CASE WHEN ${target.sqlCiphertext} LIKE 'v%' THEN split_part(substr(${target.sqlCiphertext}, 2), ':', 1)
                   ELSE 'legacy' END AS label, count(*) AS n
         FROM ${target.sqlTable} GROUP BY 1`,
    );
    const legacy = versions.find((v) => v.legacy);
    const counts = new Map<string, number>();
    for (const row of rows) {
      const label = row.label === "legacy" && legacy ? String(legacy.version) : row.label;
      counts.set(label, (counts.get(label) ?? 0) + Number(row.n));
    }
    return counts;
  }

  /** Whether a live process holds this environment's rotation right now. */
  async rotationInProgress(environment: Environment): Promise<boolean> {
    const client = await this.db.pool.connect();
    const key = rotationLockKey(environment);
    try {
      const { rows } = await client.query<{ locked: boolean }>(
        "SELECT pg_try_advisory_lock(hashtext($1)) AS locked",
        [key],
      );
      if (!rows[0]?.locked) return true;
      await client.query("SELECT pg_advisory_unlock(hashtext($1))", [key]);
      return false;
    } finally {
      client.release();
    }
  }

  /**
   * One run per environment at a time, across processes: a PostgreSQL session advisory lock,
   * released when the work ends or when the holder's connection dies (a killed process).
   */
  private async withRotationLock<T>(environment: Environment, work: () => Promise<T>): Promise<T> {
    const client: pg.PoolClient = await this.db.pool.connect();
    const key = rotationLockKey(environment);
    try {
      const { rows } = await client.query<{ locked: boolean }>(
        "SELECT pg_try_advisory_lock(hashtext($1)) AS locked",
        [key],
      );
      if (!rows[0]?.locked) {
        const running = await this.db.prisma.rotationRun.findFirst({
          where: { environment, status: "RUNNING" },
        });
        const detail = running ? ` (run #${running.id}, ${running.rowsDone} rows re-encrypted so far)` : "";
        throw new BusyError(
          `a rotation of ${environment} is already running${detail}; try again when it has finished`,
        );
      }
      try {
        return await work();
      } finally {
        await client.query("SELECT pg_advisory_unlock(hashtext($1))", [key]).catch(() => undefined);
      }
    } finally {
      client.release();
    }
  }
}
