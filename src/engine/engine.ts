import { hostname } from "node:os";
import { setTimeout as sleep } from "node:timers/promises";
import type pg from "pg";
import type { EncryptionHealth, Keyring } from "../crypto/keyring.js";
import type { SecretKey } from "../crypto/secret-key.js";
import type { Database } from "../db/database.js";
import { ENVIRONMENTS, type Environment } from "../environments.js";
import { BusyError, RefusedError, UserError } from "../errors.js";
import type { RotationRun } from "../generated/prisma/client.js";
import type { Logger } from "../logger.js";
import { type BackupCheckReport, neededVersions } from "./backup-check.js";
import {
  type ClientInstanceInfo,
  ClientRegistry,
  type ClientRegistrySettings,
  DEFAULT_CLIENT_LIVE_WITHIN_MS,
  mismatchedVersions,
} from "./client-registry.js";
import {
  combinedDigest,
  combineVerifyReports,
  sumCounts,
  type TargetVerifyReport,
} from "./combined-reports.js";
import {
  countPerPlatform,
  type PlatformCount,
  type UpdatedIntegration,
  updatedWithin,
} from "./guide-table.js";
import {
  describeHandover,
  type HandoverState,
  HandoverTimeoutError,
  handoverAdvice,
  handoverComplete,
  handoverState,
} from "./handover.js";
import type { DestroyOptions, KeyStore, KeyVersionInfo } from "./key-store.js";
import { countByInKeysetChunks, countInKeysetChunks, estimatedRows } from "./keyset-count.js";
import {
  countUnderVersion,
  idsStillUnderVersion,
  platformCountsUnderVersion,
  rowsUnderVersion,
} from "./lost-rows.js";
import { EngineObservers } from "./observer.js";
import type { ProgressListener } from "./progress.js";
import { reencryptRows, type StoredRow } from "./reencrypt.js";
import { defaultWorkerCount, ReencryptWorkers } from "./reencrypt-workers.js";
import { reencryptTarget } from "./rotation.js";
import {
  discardOrphanPrintSets,
  discardPrintSet,
  newPrintSet,
  PrintComparer,
  type PrintComparison,
  PrintRecorder,
  type PrintSink,
} from "./row-prints.js";
import {
  copyTable,
  drillIdOf,
  drillIdOfSchema,
  dropSchema,
  parseScratchKeyring,
  SCRATCH_KEYRING_PREFIX,
  scratchSchemas,
  scratchScope,
  scratchTarget,
} from "./scratch.js";
import {
  describeTarget,
  PLATFORM_CREDENTIALS,
  quoteIdent,
  type ResolvedTarget,
  resolveTarget,
  type Target,
  targetName,
} from "./target.js";
import { FAILED_IDS_REPORTED, type VerifyReport, verifyTarget } from "./verify.js";

export interface RotateOptions {
  /** Generate and activate a new version first (default). False re-encrypts to the current active version. */
  generate?: boolean;
  batchSize?: number;
  /** A fixed rate limit, or "auto": full speed while the database keeps up, backing off when it slows. */
  maxRowsPerSecond?: number | "auto";
  requestedBy?: string;
  onProgress?: ProgressListener;
  signal?: AbortSignal;
  /** Crypto threads; default: none for small tables, all cores but one from WORKER_THRESHOLD rows. */
  cryptoWorkers?: number;
}

export type RotationStatus = "SUCCEEDED" | "FAILED_WITH_ROWS";

/** Where a target's rows live: the target and the database holding it. */
export interface TargetBinding {
  target: Target;
  pool: pg.Pool;
}

/** One target's part of a rotation (its own run, checkpoint, compare-and-swap and digest). */
export interface TargetRotationReport {
  runId: number;
  /** The target's name. */
  target: string;
  status: RotationStatus;
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
  /**
   * Rows the application wrote since the run started (the target's writtenAtColumn), which
   * change the digest legitimately; null when the target has no such column.
   */
  applicationWrites: number | null;
  /**
   * Rows whose secret differs from the run's start although the application did not write them
   * (row prints, src/engine/row-prints.ts): 0 is the proof that the rotation changed no secret;
   * null when the run has no prints to compare with.
   */
  changedWithoutApplicationWrite: number | null;
  /** Rows this process re-encrypted (a resumed run: without those of the interrupted one). */
  reencryptedHere: number;
  /** The re-encryption phase alone (this process's part of it, for a resumed run). */
  reencryptMs: number;
}

/**
 * A rotation of an environment: the same figures summed over its targets (runId: the first
 * target's run; target: the targets described, comma-separated; digests combined), and each
 * target's own in `targets`.
 */
export interface RotationReport extends TargetRotationReport {
  environment: Environment;
  targets: TargetRotationReport[];
  resumed: boolean;
  toVersion: number;
  toFingerprint: string;
  /** When the run started (a resumed run: the interrupted one's start). */
  startedAt: Date;
  /** The whole run, verification before and after included. */
  durationMs: number;
  /** Rows re-encrypted per second of the re-encryption phase. */
  rowsPerSecond: number;
}

export interface VersionStatus extends KeyVersionInfo {
  rows: number;
}

export interface KeyringStatus {
  environment: Environment;
  /** The targets, described; "no target configured" when the environment has none. */
  target: string;
  /** Rows per target. */
  targets: { target: string; rows: number }[];
  activeVersion: number | null;
  versions: VersionStatus[];
  /** Rows whose ciphertext names a version the keyring does not have. */
  rowsUnderUnknownVersions: number;
  runningRun: { id: number; rowsDone: number; rowsTotal: number; startedAt: Date } | null;
}

/** A row recorded by /key-lost: its user must re-authenticate (their key version was lost). */
export interface ReauthRowRecord {
  target: string;
  version: number;
  rowId: string;
  platform: string | null;
  recordedAt: Date;
  workflowId: string | null;
}

export interface EngineOptions {
  /** How often a running rotation run's owner and heartbeatAt are written (default 5 s). */
  heartbeatMs?: number;
  /** The rate limit of a rotation not given one (KEYOPS_MAX_ROWS_PER_SECOND); none by default. */
  maxRowsPerSecond?: number;
  /**
   * Every target of an environment (the default: `target` in `targetPool(environment)`). An
   * environment with none is refused for rotation and verification, never given another's table.
   */
  targets?: (environment: Environment) => TargetBinding[];
  /** The restored copy of an environment's application database (KEYOPS_RESTORE_DATABASE_URL_<ENV>). */
  restoreCopy?: (environment: Environment) => pg.Pool | undefined;
  clients?: Partial<ClientRegistrySettings> & {
    /** How long activation waits for every live instance to hold the new version (default 15 min). */
    handoverTimeoutMs?: number;
    /** How often the gate looks again (default 1 s). */
    pollMs?: number;
  };
}

export interface ActivateOptions {
  /** Wait (up to the hand-over timeout) for the application's instances instead of refusing at once. */
  waitForClients?: boolean;
  onProgress?: ProgressListener;
  signal?: AbortSignal;
}

export const DEFAULT_HANDOVER_TIMEOUT_MS = 15 * 60_000;

export const DEFAULT_BATCH_SIZE = 2000;
/**
 * Under a fixed --max-rows-per-second, batches of about this many per second: a throttled run
 * writes small batches evenly spaced instead of a full batch in a burst, then a pause, so the
 * application's statements meet short row locks and short WAL flushes (measured with
 * bench:impact). An explicit batch size is kept as given.
 */
const PACED_BATCHES_PER_SECOND = 20;
const MIN_PACED_BATCH_SIZE = 50;

/** The batch size of a run that did not choose one. */
export function defaultBatchSize(maxRowsPerSecond: number | "auto" | undefined): number {
  if (typeof maxRowsPerSecond !== "number") return DEFAULT_BATCH_SIZE;
  const paced = Math.ceil(maxRowsPerSecond / PACED_BATCHES_PER_SECOND);
  return Math.min(DEFAULT_BATCH_SIZE, Math.max(MIN_PACED_BATCH_SIZE, paced));
}
export const DEFAULT_RUN_HEARTBEAT_MS = 5000;

/** The connection holding an environment's rotation lock was lost: the run stops, resumable. */
export class LockLostError extends Error {
  override name = "LockLostError";
  constructor(message: string, cause: Error) {
    super(`${message}: ${cause.message}`, { cause });
  }
}

/** True when the client's connection broke (pg marks it not queryable). */
function lostConnection(client: pg.PoolClient): boolean {
  return (client as unknown as { _queryable?: boolean })._queryable === false;
}

/** Runs recorded before targets had names are the default target's. */
const legacyRunName = (run: RotationRun) => `${run.targetTable}.${run.ciphertextColumn}`;

const rotationLockKey = (environment: Environment) => `keyops:rotation:${environment}`;
export const MAX_BATCH_SIZE = 50_000;
/** Below this many rows, starting worker threads costs more than it saves. */
export const WORKER_THRESHOLD = 20_000;

/**
 * The rotation engine: key lifecycle, re-encryption runs and verification for every target of
 * an environment (each with its own run, checkpoint and digest).
 * Knows nothing of Slack or PagerDuty; the CLI and the bot drive the same instance.
 */
export class RotationEngine {
  /** What the application's instances report (keyops/client). */
  readonly clients: ClientRegistry;
  /** Who watches its rotations (the bot's metrics): `engine.observers.add(observer)`. */
  readonly observers: EngineObservers;
  private readonly handoverTimeoutMs: number;
  private readonly pollMs: number;
  private readonly heartbeatMs: number;
  private readonly defaultMaxRowsPerSecond: number | undefined;

  constructor(
    private readonly db: Database,
    readonly keys: KeyStore,
    private readonly log: Logger,
    readonly target: Target = PLATFORM_CREDENTIALS,
    /** The database holding an environment's target table; by default the KeyOps database. */
    readonly targetPool: (environment: Environment) => pg.Pool = () => db.pool,
    options: EngineOptions = {},
  ) {
    this.observers = new EngineObservers(log);
    this.clients = new ClientRegistry(db.pool, {
      liveWithinMs: options.clients?.liveWithinMs ?? DEFAULT_CLIENT_LIVE_WITHIN_MS,
    });
    this.handoverTimeoutMs = options.clients?.handoverTimeoutMs ?? DEFAULT_HANDOVER_TIMEOUT_MS;
    this.pollMs = options.clients?.pollMs ?? 1000;
    this.heartbeatMs = options.heartbeatMs ?? DEFAULT_RUN_HEARTBEAT_MS;
    this.defaultMaxRowsPerSecond = options.maxRowsPerSecond;
    this.restoreCopy = options.restoreCopy ?? (() => undefined);
    const live = options.targets ?? ((environment) => [{ target, pool: targetPool(environment) }]);
    this.liveBindings = live;
    // A drill's scratch keyring rotates the scratch copies of its environment's targets.
    this.bindings = (environment) => {
      const scope = parseScratchKeyring(environment);
      if (!scope) return live(environment);
      return live(scope.environment).map((b) => ({ pool: b.pool, target: scratchTarget(b.target, scope) }));
    };
  }

  private readonly bindings: (environment: Environment) => TargetBinding[];
  private readonly restoreCopy: (environment: Environment) => pg.Pool | undefined;
  private readonly liveBindings: (environment: Environment) => TargetBinding[];

  /**
   * A drill's scratch copy of `environment` (`drillId`: its workflow's id): each target's table
   * copied with its rows, then the keyring copied with its versions, states and keys. Returns the
   * scratch keyring's name, which every engine call takes in place of the environment. Opening an
   * open copy again changes nothing (the keyring is copied last and marks the copy whole).
   */
  async openScratch(environment: Environment, drillId: string): Promise<Environment> {
    const scope = scratchScope(drillId, environment);
    if ((await this.keys.list(scope.keyring)).length > 0) return scope.keyring;
    for (const b of this.liveBindings(environment)) await copyTable(b.pool, b.target, scope);
    await this.keys.copyKeyring(environment, scope.keyring);
    this.log.info("drill scratch copy opened", { environment, keyring: scope.keyring });
    return scope.keyring;
  }

  /** Drops a drill's scratch copies (tables and keyrings) of `environments`; safe to repeat. */
  async dropScratch(environments: readonly Environment[], drillId: string): Promise<void> {
    for (const environment of environments) {
      const scope = scratchScope(drillId, environment);
      for (const pool of new Set(this.liveBindings(environment).map((b) => b.pool))) {
        await dropSchema(pool, scope.schema);
      }
      await this.keys.dropKeyring(scope.keyring);
    }
  }

  /**
   * Drops every scratch copy whose drill is not in `keep` (drills still open): what a replica that
   * died mid-drill left behind. Returns how many copies it dropped.
   */
  async sweepScratch(keep: readonly string[]): Promise<number> {
    const kept = new Set(keep.map(drillIdOf));
    let dropped = 0;
    for (const keyring of await this.keys.keyringsStartingWith(SCRATCH_KEYRING_PREFIX)) {
      const scope = parseScratchKeyring(keyring);
      if (scope && kept.has(drillIdOfSchema(scope.schema))) continue;
      await this.keys.dropKeyring(keyring);
      dropped += 1;
    }
    const pools = new Set(ENVIRONMENTS.flatMap((e) => this.liveBindings(e).map((b) => b.pool)));
    for (const pool of pools) {
      for (const schema of await scratchSchemas(pool)) {
        if (kept.has(drillIdOfSchema(schema))) continue;
        await dropSchema(pool, schema);
        dropped += 1;
      }
    }
    return dropped;
  }

  /**
   * The database holding the environment's `"PlatformIntegration"` (the guide's table, which the
   * audit query, the per-platform counts and the demo read); undefined when it has none.
   */
  guideTablePool(environment: Environment): pg.Pool | undefined {
    const live = parseScratchKeyring(environment)?.environment ?? environment;
    return this.liveBindings(live).find((b) => b.target.table === PLATFORM_CREDENTIALS.table)?.pool;
  }

  /** Stored integrations per platform in the environment's guide table; empty when it has none. */
  async integrationsPerPlatform(environment: Environment): Promise<PlatformCount[]> {
    const pool = this.guideTablePool(environment);
    return pool ? countPerPlatform(pool, await resolveTarget(pool, PLATFORM_CREDENTIALS)) : [];
  }

  /** Integrations updated in the last `hours` (the guide's audit query); undefined without a guide table. */
  async integrationsUpdatedWithin(
    environment: Environment,
    hours: number,
  ): Promise<UpdatedIntegration[] | undefined> {
    const pool = this.guideTablePool(environment);
    return pool ? updatedWithin(pool, hours) : undefined;
  }

  /** A key version's facts (state, fingerprint), never its key. */
  keyVersion(environment: Environment, version: number): Promise<KeyVersionInfo> {
    return this.keys.get(environment, version);
  }

  /** The versions KeyOps holds no usable key of (LOST, or a wrapped copy gone or not unwrapping). */
  lostVersions(environment: Environment): Promise<KeyVersionInfo[]> {
    return this.keys.lostVersions(environment);
  }

  /** Integrations per platform of the guide table under `version` (from the version prefix; nothing decrypted). */
  async integrationsPerPlatformUnder(environment: Environment, version: number): Promise<PlatformCount[]> {
    const info = await this.keys.get(environment, version);
    const guide = (await this.resolvedTargets(environment, false)).find(
      (t) => t.target.table === PLATFORM_CREDENTIALS.table && !t.target.schema,
    );
    return guide ? platformCountsUnderVersion(guide.pool, guide.resolved, version, info.legacy) : [];
  }

  /** Rows per target under `version` (from the version prefix; nothing decrypted). */
  async countRowsUnder(
    environment: Environment,
    version: number,
  ): Promise<{ target: string; rows: number }[]> {
    const info = await this.keys.get(environment, version);
    const out = [];
    for (const t of await this.resolvedTargets(environment, false)) {
      out.push({ target: t.name, rows: await countUnderVersion(t.pool, t.resolved, version, info.legacy) });
    }
    return out;
  }

  /** Marks a version lost (see KeyStore.markLost); not while a rotation of the environment runs. */
  markLost(environment: Environment, version: number): Promise<KeyVersionInfo> {
    return this.withRotationLock(environment, () => this.keys.markLost(environment, version));
  }

  /** Takes a lost version's key back, checked against its fingerprint (see KeyStore.importKey). */
  importKey(environment: Environment, version: number, key: SecretKey): Promise<KeyVersionInfo> {
    return this.keys.importKey(environment, version, key);
  }

  /**
   * Records every row under the lost `version` as needing re-authentication (one ReauthRow per
   * environment, target, version and row id; recording again adds only new rows). Returns the rows
   * per target and the guide table's per platform.
   */
  async recordReauth(
    environment: Environment,
    version: number,
    workflowId?: string,
  ): Promise<{ targets: { target: string; rows: number }[]; platforms: PlatformCount[] }> {
    const info = await this.keys.get(environment, version);
    const platforms = new Map<string, number>();
    const targets: { target: string; rows: number }[] = [];
    for (const t of await this.resolvedTargets(environment, false)) {
      let rows = 0;
      for await (const chunk of rowsUnderVersion(t.pool, t.resolved, version, info.legacy)) {
        await this.db.prisma.reauthRow.createMany({
          data: chunk.map((r) => ({
            environment,
            target: t.name,
            version,
            rowId: r.rowId,
            platform: r.platform,
            workflowId: workflowId ?? null,
          })),
          skipDuplicates: true,
        });
        rows += chunk.length;
        for (const r of chunk)
          if (r.platform) platforms.set(r.platform, (platforms.get(r.platform) ?? 0) + 1);
      }
      targets.push({ target: t.name, rows });
    }
    return {
      targets,
      platforms: [...platforms]
        .sort(([a], [b]) => (a < b ? -1 : 1))
        .map(([platform, count]) => ({ platform, count })),
    };
  }

  /**
   * The rows recorded as needing re-authentication that still do, by target, version and id: a
   * recorded row the application has rewritten since under another version (its user reconnected)
   * or deleted no longer does, and is counted in `resolved` instead. Rows of a target no longer
   * configured cannot be checked and stay listed.
   */
  async reauthRows(environment: Environment): Promise<{ rows: ReauthRowRecord[]; resolved: number }> {
    const recorded = await this.db.prisma.reauthRow.findMany({
      where: { environment },
      orderBy: [{ target: "asc" }, { version: "asc" }, { rowId: "asc" }],
      select: {
        target: true,
        version: true,
        rowId: true,
        platform: true,
        recordedAt: true,
        workflowId: true,
      },
    });
    const targets = new Map((await this.resolvedTargets(environment, false)).map((t) => [t.name, t]));
    const groups = new Map<string, ReauthRowRecord[]>();
    const groupOf = (r: ReauthRowRecord) => `${r.version}\n${r.target}`;
    for (const r of recorded) groups.set(groupOf(r), [...(groups.get(groupOf(r)) ?? []), r]);
    const stillUnder = new Map<string, Set<string>>();
    for (const [group, members] of groups) {
      const { target, version } = members[0] as ReauthRowRecord;
      const t = targets.get(target);
      if (!t) continue;
      const { legacy } = await this.keys.get(environment, version);
      const ids = members.map((r) => r.rowId);
      stillUnder.set(group, await idsStillUnderVersion(t.pool, t.resolved, version, legacy, ids));
    }
    const rows = recorded.filter((r) => stillUnder.get(groupOf(r))?.has(r.rowId) ?? true);
    return { rows, resolved: recorded.length - rows.length };
  }

  /** The run `requestedBy` finished for the environment, if any: a retried job finds it and does not redo it. */
  async succeededRunOf(
    environment: Environment,
    requestedBy: string,
  ): Promise<{ id: number; toVersion: number } | null> {
    return this.db.prisma.rotationRun.findFirst({
      where: { environment, requestedBy, status: "SUCCEEDED" },
      select: { id: true, toVersion: true },
    });
  }

  /** The environment's targets, checked against their databases; refused when it has none. */
  private async resolvedTargets(environment: Environment, required = true) {
    const bindings = this.bindings(environment);
    if (bindings.length === 0 && required) {
      throw new RefusedError(
        `${environment} has no target configured (KEYOPS_TARGET_DATABASE_URL_${environment.toUpperCase()} ` +
          "or KEYOPS_TARGETS_FILE); environments never share a table",
      );
    }
    return Promise.all(
      bindings.map(async (b) => ({
        ...b,
        name: targetName(b.target),
        resolved: await resolveTarget(b.pool, b.target),
      })),
    );
  }

  async status(environment: Environment): Promise<KeyringStatus> {
    const targets = await this.resolvedTargets(environment, false);
    const versions = await this.keys.list(environment);
    const perTarget = await Promise.all(
      targets.map((t) => this.rowsPerVersion(t.pool, t.resolved, versions)),
    );
    const counts = new Map<string, number>();
    for (const c of perTarget) for (const [label, n] of c) counts.set(label, (counts.get(label) ?? 0) + n);
    const running = await this.db.prisma.rotationRun.findMany({ where: { environment, status: "RUNNING" } });
    const known = new Set(versions.map((v) => String(v.version)));
    return {
      environment,
      target:
        targets.length === 0
          ? "no target configured"
          : targets.map((t) => describeTarget(t.target)).join(", "),
      targets: targets.map((t, index) => ({
        target: t.name,
        rows: [...(perTarget[index] ?? new Map()).values()].reduce((sum, n) => sum + n, 0),
      })),
      activeVersion: versions.find((v) => v.state === "ACTIVE")?.version ?? null,
      versions: versions.map((v) => ({ ...v, rows: counts.get(String(v.version)) ?? 0 })),
      rowsUnderUnknownVersions: [...counts]
        .filter(([label]) => !known.has(label))
        .reduce((sum, [, n]) => sum + n, 0),
      runningRun:
        running.length > 0
          ? {
              id: Math.min(...running.map((r) => r.id)),
              rowsDone: running.reduce((sum, r) => sum + r.rowsDone, 0),
              rowsTotal: running.reduce((sum, r) => sum + r.rowsTotal, 0),
              startedAt: running[0]?.startedAt as Date,
            }
          : null,
    };
  }

  generate(environment: Environment): Promise<KeyVersionInfo> {
    return this.keys.generate(environment);
  }

  /**
   * Activation changes what a run writes, so it waits for no run: it is refused while one goes on.
   * It passes the hand-over gate first: every live instance of the application must hold the
   * version (with the same fingerprint), or it would write rows another instance cannot read.
   */
  async activate(environment: Environment, version: number, options: ActivateOptions = {}) {
    await this.handOver(environment, version, options);
    return this.withRotationLock(environment, () => this.keys.activate(environment, version));
  }

  /**
   * The hand-over gate: resolves once every live application instance of the environment can
   * decrypt `version`. Without `waitForClients` it looks once and refuses; with it, it waits and
   * reports progress until the hand-over timeout, then refuses with what to do.
   */
  async handOver(
    environment: Environment,
    version: number,
    options: ActivateOptions = {},
  ): Promise<HandoverState> {
    const { fingerprint } = await this.keys.get(environment, version);
    const deadline = performance.now() + this.handoverTimeoutMs;
    for (;;) {
      const state = handoverState(await this.clients.live(environment), version, fingerprint);
      const note = describeHandover(state);
      const advice = handoverAdvice(state, environment);
      options.onProgress?.({
        phase: "handover",
        done: state.ready,
        total: state.instances,
        rate: 0,
        etaSeconds: null,
        note,
        ...(advice ? { advice } : {}),
      });
      if (handoverComplete(state)) {
        if (state.instances === 0)
          this.log.info("activating with no application instance reporting", { environment, version });
        return state;
      }
      if (!options.waitForClients || performance.now() >= deadline) {
        const waited = options.waitForClients ? ` after ${Math.round(this.handoverTimeoutMs / 1000)} s` : "";
        throw new HandoverTimeoutError(
          `v${version} of ${environment} is not activated${waited}: ${note}; ${handoverAdvice(state, environment)}`,
        );
      }
      await sleep(this.pollMs, undefined, options.signal ? { signal: options.signal } : {});
    }
  }

  /**
   * After activation: waits until every live instance writes `version`, so that rows written
   * under the old one during the switch are caught by the run's sweep. Gives up after the
   * hand-over timeout (verify then names the rows left behind).
   */
  private async awaitWriters(
    environment: Environment,
    version: number,
    options: ActivateOptions,
  ): Promise<void> {
    const deadline = performance.now() + this.handoverTimeoutMs;
    for (;;) {
      const live = await this.clients.live(environment);
      const writing = live.filter((i) => i.encryptsVersion === version).length;
      if (live.length === 0) return;
      options.onProgress?.({
        phase: "switchover",
        done: writing,
        total: live.length,
        rate: 0,
        etaSeconds: null,
        note: `${writing} of ${live.length} application instances write v${version}`,
      });
      if (writing === live.length) return;
      if (performance.now() >= deadline) {
        this.log.warn("application instances still write an older version", {
          environment,
          version,
          instances: live.filter((i) => i.encryptsVersion !== version).map((i) => i.instanceId),
        });
        return;
      }
      await sleep(this.pollMs, undefined, options.signal ? { signal: options.signal } : {});
    }
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
      const writers = (await this.clients.live(environment)).filter((i) => i.encryptsVersion === version);
      if (writers.length > 0) {
        throw new RefusedError(
          `version ${version} of ${environment} is still written by ${writers.length} live application ` +
            `${writers.length === 1 ? "instance" : "instances"} (${writers.map((i) => i.instanceId).join(", ")})`,
        );
      }
      await this.refuseWhileRowsUnder(environment, version, "rotate them first (keyops rotate)");
      return this.keys.retire(environment, version);
    });
  }

  /**
   * Erases a retired version's wrapped key once its retention has ended, with two approvers (see
   * KeyStore.destroy); refused while any live target holds a row under it (a restored backup, say).
   */
  destroy(environment: Environment, version: number, options: DestroyOptions): Promise<KeyVersionInfo> {
    return this.withRotationLock(environment, async () => {
      await this.refuseWhileRowsUnder(environment, version, "destroying its key would make them unreadable");
      return this.keys.destroy(environment, version, options);
    });
  }

  /** A version's state and retention for a workflow's start (null: the environment has no such version). */
  async keyVersionFacts(
    environment: Environment,
    version: number,
  ): Promise<{
    version: number;
    state: string;
    fingerprint: string;
    retainedUntil: string | null;
    retentionEnded: boolean;
  } | null> {
    const info = (await this.keys.list(environment)).find((v) => v.version === version);
    if (!info) return null;
    const ends = this.keys.retentionEndsAt(info);
    return {
      version,
      state: info.state,
      fingerprint: info.fingerprint,
      retainedUntil: ends ? ends.toISOString().slice(0, 10) : null,
      retentionEnded: ends !== undefined && this.keys.now() >= ends,
    };
  }

  /** Whether a restored copy of the environment is configured (KEYOPS_RESTORE_DATABASE_URL_<ENV>). */
  hasRestoreCopy(environment: Environment): boolean {
    return this.restoreCopy(environment) !== undefined;
  }

  /** checkBackup on the configured restored copy of the environment; refused when none is configured. */
  checkRestoreCopy(environment: Environment, onProgress?: ProgressListener): Promise<BackupCheckReport> {
    const copy = this.restoreCopy(environment);
    if (!copy) {
      throw new RefusedError(
        `no restored copy of ${environment} is configured (KEYOPS_RESTORE_DATABASE_URL_${environment.toUpperCase()})`,
      );
    }
    return this.checkBackup(environment, copy, onProgress);
  }

  /**
   * A restored backup, checked before it replaces anything: every configured target of the
   * environment read from `copy` (the same tables, in the copy's database) and decrypted with
   * every version KeyOps still holds, retired ones within retention included (a keyring used for
   * this alone, where nothing encrypts). Per version the copy's rows need: how many, whether KeyOps
   * holds it and in what state, whether the live keyring decrypts it. The copy is only read.
   */
  async checkBackup(
    environment: Environment,
    copy: pg.Pool,
    onProgress?: ProgressListener,
  ): Promise<BackupCheckReport> {
    const live = parseScratchKeyring(environment)?.environment ?? environment;
    // Only the tables are wanted: an environment without a live database has the guide's table.
    const configured = this.liveBindings(live);
    const bindings = configured.length > 0 ? configured : [{ target: this.target }];
    const present: { name: string; resolved: ResolvedTarget }[] = [];
    const missingTargets: string[] = [];
    for (const b of bindings) {
      try {
        present.push({ name: targetName(b.target), resolved: await resolveTarget(copy, b.target) });
      } catch (error) {
        if (!(error instanceof UserError) || !/does not exist/.test(error.message)) throw error;
        missingTargets.push(targetName(b.target));
      }
    }
    if (present.length === 0) {
      throw new UserError(
        `the restored copy holds none of ${live}'s targets (${bindings.map((b) => describeTarget(b.target)).join(", ")})`,
      );
    }
    const keyring = await this.keys.loadBackupKeyring(environment);
    const workers = await this.startWorkers(
      keyring,
      await this.estimatedRows(present.map((t) => ({ ...t, pool: copy }))),
    );
    try {
      const reports: TargetVerifyReport[] = [];
      for (const t of present) {
        const decrypt = workers?.for(t.resolved).decrypt;
        const report = await verifyTarget(copy, keyring, t.resolved, onProgress, "verify", decrypt);
        reports.push({ ...report, target: t.name });
      }
      const combined = combineVerifyReports(environment, null, reports);
      const listed = await this.keys.list(environment);
      const legacy = listed.find((v) => v.legacy);
      if (legacy && combined.failedPerVersion.legacy !== undefined) {
        // Read without the legacy version (destroyed): its rows are still that version's.
        const { legacy: n, ...rest } = combined.failedPerVersion;
        const label = String(legacy.version);
        combined.failedPerVersion = { ...rest, [label]: (rest[label] ?? 0) + n };
      }
      const versions = neededVersions(combined, listed, (v) => this.keys.retentionEndsAt(v), this.keys.now());
      return {
        ...combined,
        notOnActive: 0,
        missingTargets,
        versions,
        rowsLiveCannotRead: versions.filter((v) => !v.liveDecrypts).reduce((sum, v) => sum + v.rows, 0),
      };
    } finally {
      await workers?.close();
    }
  }

  /** Live instances of the application holding a version under another key than the keyring's. */
  async mismatchedClients(
    environment: Environment,
  ): Promise<{ instance: ClientInstanceInfo; versions: number[] }[]> {
    const known = new Map((await this.keys.list(environment)).map((v) => [v.version, v.fingerprint]));
    return (await this.clients.live(environment))
      .map((instance) => ({ instance, versions: mismatchedVersions(instance, known) }))
      .filter((m) => m.versions.length > 0);
  }

  /** The guide's health check for /healthz: a round trip with the environment's active version. */
  async healthCheckEncryption(environment: Environment): Promise<EncryptionHealth> {
    try {
      return (await this.keys.loadKeyring(environment)).healthCheckEncryption();
    } catch (error) {
      return { status: "unhealthy", error: error instanceof Error ? error.message : "unknown error" };
    }
  }

  /** Every row of every target decrypts? Per target and overall (rows summed, digests combined). */
  async verify(
    environment: Environment,
    onProgress?: ProgressListener,
    /** Where each target's row prints go (verifyAgainstRun), if anywhere. */
    prints?: (target: string) => PrintSink | undefined,
  ): Promise<VerifyReport & { targets: TargetVerifyReport[] }> {
    const targets = await this.resolvedTargets(environment);
    const keyring = await this.keys.loadKeyring(environment);
    const workers = await this.startWorkers(keyring, await this.estimatedRows(targets));
    try {
      const reports: TargetVerifyReport[] = [];
      for (const t of targets) {
        const decrypt = workers?.for(t.resolved).decrypt;
        const sink = prints?.(t.name);
        const report = await verifyTarget(
          t.pool,
          keyring,
          t.resolved,
          onProgress,
          "verify",
          decrypt,
          sink && { key: this.keys.rowPrintKey(), sink },
        );
        reports.push({ ...report, target: t.name });
      }
      return combineVerifyReports(environment, keyring.activeVersion, reports);
    } finally {
      await workers?.close();
    }
  }

  /**
   * verify, plus the row-by-row proof against the start of the latest run `requestedBy` made of
   * each target: which rows changed since, and whether the application wrote each of them. The
   * proof is null when a target has no such run or its run kept no prints.
   */
  async verifyAgainstRun(
    environment: Environment,
    requestedBy: string,
  ): Promise<{ report: VerifyReport & { targets: TargetVerifyReport[] }; proof: PrintComparison | null }> {
    // Each target's latest such run, compared as verify reads (a run without prints: no proof).
    const comparers = new Map<string, PrintComparer | null>();
    for (const t of await this.resolvedTargets(environment)) {
      const run = await this.db.prisma.rotationRun.findFirst({
        where: { environment, targetName: t.name, requestedBy },
        orderBy: { id: "desc" },
      });
      comparers.set(
        t.name,
        run?.printSet
          ? new PrintComparer(this.db.pool, t.pool, t.resolved, run.printSet, run.startedAt)
          : null,
      );
    }
    const report = await this.verify(environment, undefined, (target) => comparers.get(target) ?? undefined);
    const proofs: (PrintComparison | null)[] = [];
    for (const comparer of comparers.values()) proofs.push(comparer ? await comparer.finish() : null);
    if (proofs.some((p) => p === null)) return { report, proof: null };
    const all = proofs as PrintComparison[];
    return {
      report,
      proof: {
        changed: all.reduce((sum, p) => sum + p.changed, 0),
        byApplication: all.reduce((sum, p) => sum + p.byApplication, 0),
        unexplained: all.reduce((sum, p) => sum + p.unexplained, 0),
        unexplainedIds: all.flatMap((p) => p.unexplainedIds).slice(0, 20),
      },
    };
  }

  /**
   * A rotation run: generate a version, activate it, re-encrypt every row still under an older
   * version, verify. An interrupted run of the environment is resumed instead of starting anew.
   */
  async rotate(environment: Environment, options: RotateOptions = {}): Promise<RotationReport> {
    const rate = options.maxRowsPerSecond ?? this.defaultMaxRowsPerSecond;
    if (rate !== undefined && rate !== "auto" && (!Number.isFinite(rate) || rate <= 0)) {
      throw new UserError("max rows per second must be a positive number");
    }
    const batchSize = options.batchSize ?? defaultBatchSize(rate);
    if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > MAX_BATCH_SIZE) {
      throw new UserError(`batch size must be an integer from 1 to ${MAX_BATCH_SIZE}`);
    }
    return this.withRotationLock(environment, (lockLost) => {
      const signal = options.signal ? AbortSignal.any([options.signal, lockLost]) : lockLost;
      return this.observers.rotation(environment, () =>
        this.runRotation(environment, batchSize, {
          ...options,
          signal,
          ...(rate !== undefined ? { maxRowsPerSecond: rate } : {}),
        }),
      );
    });
  }

  private async runRotation(
    environment: Environment,
    batchSize: number,
    options: RotateOptions,
  ): Promise<RotationReport> {
    const started = performance.now();
    const prisma = this.db.prisma;
    const targets = await this.resolvedTargets(environment);

    const runs = await prisma.rotationRun.findMany({
      where: { environment, status: "RUNNING" },
      orderBy: { id: "asc" },
    });
    const resumed = runs.length > 0;
    const rowsExpected = resumed
      ? runs.reduce((sum, r) => sum + r.rowsTotal, 0)
      : await this.estimatedRows(targets);
    const workers = await this.startWorkers(await this.keys.loadKeyring(environment), rowsExpected, options);
    try {
      return await this.rotateWith(environment, batchSize, options, started, targets, runs, workers);
    } finally {
      await workers?.close();
    }
  }

  /**
   * Crypto threads for a large table (or as many as asked): one pool for a whole rotation, its
   * verifications included; none for a small table, where starting them costs more than they save.
   */
  private async startWorkers(
    keyring: Keyring,
    rows: number,
    options: Pick<RotateOptions, "cryptoWorkers"> = {},
  ): Promise<ReencryptWorkers | undefined> {
    const count = options.cryptoWorkers ?? (rows >= WORKER_THRESHOLD ? defaultWorkerCount() : 0);
    return count > 0 ? ReencryptWorkers.start(keyring, this.keys.rowPrintKey(), count) : undefined;
  }

  /** The targets' rows as the planner's statistics know them (exactly counted when never analysed). */
  private async estimatedRows(targets: { pool: pg.Pool; resolved: ResolvedTarget }[]): Promise<number> {
    let rows = 0;
    for (const t of targets) rows += await estimatedRows(t.pool, t.resolved);
    return rows;
  }

  private async rotateWith(
    environment: Environment,
    batchSize: number,
    options: RotateOptions,
    started: number,
    targets: Awaited<ReturnType<RotationEngine["resolvedTargets"]>>,
    found: RotationRun[],
    workers: ReencryptWorkers | undefined,
  ): Promise<RotationReport> {
    const prisma = this.db.prisma;
    let runs = found;
    const resumed = runs.length > 0;
    if (resumed) {
      await prisma.rotationRun.updateMany({
        where: { id: { in: runs.map((r) => r.id) } },
        data: { resumedCount: { increment: 1 } },
      });
      this.log.warn("resuming an interrupted rotation", {
        runs: runs.map((r) => r.id).join(","),
        environment,
      });
    } else {
      const keyring = await this.keys.loadKeyring(environment);
      // Rows the application writes from here on count as its writes (the snapshot comes next).
      const startedAt = new Date();
      const befores: VerifyReport[] = [];
      const printSets: string[] = [];
      await discardOrphanPrintSets(this.db.pool);
      try {
        for (const t of targets) {
          const decrypt = workers?.for(t.resolved).decrypt;
          const recorder = new PrintRecorder(this.db.pool, newPrintSet());
          printSets.push(recorder.printSet);
          befores.push(
            await verifyTarget(t.pool, keyring, t.resolved, options.onProgress, "verify-before", decrypt, {
              key: this.keys.rowPrintKey(),
              sink: recorder,
            }),
          );
        }
        runs = await this.startRuns(environment, targets, befores, printSets, batchSize, {
          ...options,
          startedAt,
        });
      } catch (error) {
        // A start that fails leaves no prints behind (a crash here leaves orphans, swept above).
        for (const printSet of printSets) {
          await discardPrintSet(this.db.pool, printSet).catch(() => undefined);
        }
        throw error;
      }
    }

    const stopBeating = this.beat(runs.map((r) => r.id));
    try {
      return await this.finishRuns(environment, targets, runs, resumed, started, options, workers);
    } finally {
      await stopBeating();
    }
  }

  /**
   * Says that this process still runs these runs (owner, heartbeatAt) until the returned function
   * is called; a beat lost to a database outage is only late.
   */
  private beat(runIds: number[]): () => Promise<void> {
    const owner = `${hostname()}:${process.pid}`;
    const once = () =>
      this.db.pool
        .query(`UPDATE "RotationRun" SET "owner" = $1, "heartbeatAt" = now() WHERE id = ANY($2::int[])`, [
          owner,
          runIds,
        ])
        .catch((error: Error) => this.log.debug("run heartbeat failed", { error: error.message }));
    const first = once();
    const timer = setInterval(once, this.heartbeatMs);
    timer.unref();
    return async () => {
      clearInterval(timer);
      await first;
    };
  }

  private async finishRuns(
    environment: Environment,
    targets: Awaited<ReturnType<RotationEngine["resolvedTargets"]>>,
    runs: RotationRun[],
    resumed: boolean,
    started: number,
    options: RotateOptions,
    workers: ReencryptWorkers | undefined,
  ): Promise<RotationReport> {
    const keyring = await this.keys.loadKeyring(environment);
    workers?.useKeyring(keyring);
    const active = keyring.activeVersion;
    if (active === null) throw new RefusedError(`${environment} has no active key version`);
    const parts: TargetRotationReport[] = [];
    for (const run of runs) {
      const t = targets.find((candidate) => candidate.name === (run.targetName || legacyRunName(run)));
      if (!t) {
        throw new RefusedError(
          `run #${run.id} of ${environment} is for "${run.targetName}", which is no longer a configured target`,
        );
      }
      parts.push(await this.runTarget(environment, t, run, active, keyring, options, workers));
    }
    const durationMs = Math.round(performance.now() - started);
    const toFingerprint = (await this.keys.get(environment, active)).fingerprint;
    const reencryptMs = parts.reduce((sum, p) => sum + p.reencryptMs, 0);
    const reencrypted = parts.reduce((sum, p) => sum + p.reencrypted, 0);
    const reencryptedHere = parts.reduce((sum, p) => sum + p.reencryptedHere, 0);
    const unexplained = parts.map((p) => p.changedWithoutApplicationWrite);
    const digestBefore = parts.every((p) => p.digestBefore !== null)
      ? combinedDigest(parts.map((p) => ({ target: p.target, digest: p.digestBefore as string })))
      : null;
    const digestAfter = combinedDigest(parts.map((p) => ({ target: p.target, digest: p.digestAfter })));
    const writes = parts.map((p) => p.applicationWrites);
    const report: RotationReport = {
      runId: runs[0]?.id ?? 0,
      environment,
      target: targets.map((t) => describeTarget(t.target)).join(", "),
      targets: parts,
      status: parts.every((p) => p.status === "SUCCEEDED") ? "SUCCEEDED" : "FAILED_WITH_ROWS",
      resumed,
      toVersion: active,
      toFingerprint,
      rows: parts.reduce((sum, p) => sum + p.rows, 0),
      reencrypted,
      conflicts: parts.reduce((sum, p) => sum + p.conflicts, 0),
      failed: parts.reduce((sum, p) => sum + p.failed, 0),
      failedRowIds: parts.flatMap((p) => p.failedRowIds).slice(0, FAILED_IDS_REPORTED),
      notOnActive: parts.reduce((sum, p) => sum + p.notOnActive, 0),
      perVersion: sumCounts(parts.map((p) => p.perVersion)),
      digestBefore,
      digestAfter,
      digestUnchanged: digestBefore === digestAfter,
      startedAt: new Date(Math.min(...runs.map((r) => r.startedAt.getTime()))),
      applicationWrites: writes.every((w) => w === null)
        ? null
        : writes.reduce<number>((sum, w) => sum + (w ?? 0), 0),
      durationMs,
      reencryptMs,
      changedWithoutApplicationWrite: unexplained.some((n) => n === null)
        ? null
        : unexplained.reduce<number>((sum, n) => sum + (n ?? 0), 0),
      reencryptedHere,
      // This process's rows over this process's time: a resumed run's earlier rows took other time.
      rowsPerSecond: reencryptMs > 0 ? Math.round((reencryptedHere * 1000) / reencryptMs) : 0,
    };
    this.log.info("rotation finished", {
      runs: runs.map((r) => r.id).join(","),
      environment,
      status: report.status,
      reencrypted,
      failed: report.failed,
      toVersion: active,
      fingerprint: toFingerprint,
    });
    return report;
  }

  /** One target's run: re-encrypt from its checkpoint, verify it, record how it ended. */
  private async runTarget(
    environment: Environment,
    t: { pool: pg.Pool; name: string; resolved: ResolvedTarget },
    run: RotationRun,
    active: number,
    keyring: Keyring,
    options: RotateOptions,
    workers: ReencryptWorkers | undefined,
  ): Promise<TargetRotationReport> {
    const prisma = this.db.prisma;
    if (active !== run.toVersion) {
      this.log.warn("the active version changed since the run started; re-encrypting to it", {
        runId: run.id,
        from: run.toVersion,
        to: active,
      });
      await prisma.rotationRun.update({ where: { id: run.id }, data: { toVersion: active } });
    }
    const target = t.resolved;
    const reencryptStarted = performance.now();
    const crypto = workers?.for(target);
    const transform =
      crypto?.transform ?? (async (rows: StoredRow[]) => reencryptRows(keyring, target, rows));
    const outcome = await reencryptTarget(
      { target: t.pool, runs: this.db.pool },
      transform,
      target,
      {
        runId: run.id,
        activeVersion: active,
        batchSize: options.batchSize ?? run.batchSize,
        maxRowsPerSecond:
          options.maxRowsPerSecond ?? run.maxRowsPerSecond ?? (run.adaptivePacing ? "auto" : undefined),
        cursor: run.cursor,
        pass: run.pass,
        expectedRows: Math.max(0, run.rowsTotal - run.rowsDone),
        onProgress: options.onProgress,
        signal: options.signal,
        beforeSweep: () => this.awaitWriters(environment, active, options),
        onBatch: (rows) => this.observers.rows(environment, target, rows),
      },
      this.log,
    );
    const reencryptMs = Math.round(performance.now() - reencryptStarted);
    const comparer = run.printSet
      ? new PrintComparer(this.db.pool, t.pool, target, run.printSet, run.startedAt)
      : undefined;
    const after = await verifyTarget(
      t.pool,
      keyring,
      target,
      options.onProgress,
      "verify-after",
      crypto?.decrypt,
      comparer && { key: this.keys.rowPrintKey(), sink: comparer },
    );
    const comparison = comparer ? await comparer.finish() : null;
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
    const digestUnchanged = finished.digestBefore === after.plaintextDigest;
    const proof = digestUnchanged ? null : comparison;
    return {
      runId: run.id,
      target: t.name,
      status,
      rows: after.rows,
      reencrypted: finished.rowsDone,
      reencryptedHere: outcome.reencrypted,
      conflicts: finished.rowsConflicted,
      failed: after.failed,
      failedRowIds: after.failedRowIds,
      notOnActive: after.notOnActive,
      perVersion: after.perVersion,
      digestBefore: finished.digestBefore,
      digestAfter: after.plaintextDigest,
      digestUnchanged,
      applicationWrites: proof
        ? proof.byApplication
        : await this.writesSince(t.pool, target, finished.startedAt),
      changedWithoutApplicationWrite: digestUnchanged ? 0 : (proof?.unexplained ?? null),
      reencryptMs,
    };
  }

  /** Generates (unless told not to), activates and opens one run per target in one transaction. */
  private async startRuns(
    environment: Environment,
    targets: { name: string; resolved: ResolvedTarget }[],
    befores: VerifyReport[],
    printSets: string[],
    batchSize: number,
    options: RotateOptions & { startedAt: Date },
  ): Promise<RotationRun[]> {
    // A version generated earlier and never activated (a hand-over that timed out) is used, not a new one.
    const generated = options.generate === false ? undefined : await this.pendingOrNew(environment);
    if (generated) await this.handOver(environment, generated.version, { ...options, waitForClients: true });
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
      const runs: RotationRun[] = [];
      for (const [index, t] of targets.entries()) {
        const before = befores[index] as VerifyReport;
        runs.push(
          await tx.rotationRun.create({
            data: {
              environment,
              targetName: t.name,
              targetTable: t.resolved.table,
              idColumn: t.resolved.idColumn,
              ciphertextColumn: t.resolved.ciphertextColumn,
              toVersion,
              status: "RUNNING",
              rowsTotal: before.rows,
              batchSize,
              maxRowsPerSecond:
                typeof options.maxRowsPerSecond === "number" ? Math.ceil(options.maxRowsPerSecond) : null,
              adaptivePacing: options.maxRowsPerSecond === "auto",
              digestBefore: before.failed === 0 ? before.plaintextDigest : null,
              printSet: printSets[index] ?? null,
              requestedBy: options.requestedBy ?? null,
              startedAt: options.startedAt,
            },
          }),
        );
      }
      return runs;
    });
  }

  private async pendingOrNew(environment: Environment): Promise<KeyVersionInfo> {
    const versions = await this.keys.list(environment);
    const newest = versions.at(-1);
    const active = versions.find((v) => v.state === "ACTIVE");
    if (newest?.state === "PENDING" && (!active || newest.version > active.version)) return newest;
    return this.keys.generate(environment);
  }

  /** Refused, naming the first target and count, while any live target holds a row under `version`. */
  private async refuseWhileRowsUnder(
    environment: Environment,
    version: number,
    advice: string,
  ): Promise<void> {
    const versions = await this.keys.list(environment);
    for (const t of await this.resolvedTargets(environment, false)) {
      const rows = (await this.rowsPerVersion(t.pool, t.resolved, versions)).get(String(version)) ?? 0;
      if (rows > 0) {
        throw new RefusedError(
          `version ${version} of ${environment} still holds ${rows} ${rows === 1 ? "row" : "rows"} of ` +
            `${describeTarget(t.target)}; ${advice}`,
        );
      }
    }
  }

  /** Rows per version label ("1", "2", ...; legacy ciphertexts under the legacy version). */
  private async rowsPerVersion(
    pool: pg.Pool,
    target: ResolvedTarget,
    versions: KeyVersionInfo[],
  ): Promise<Map<string, number>> {
    const perLabel = await countByInKeysetChunks(
      pool,
      target,
      `CASE WHEN t.${target.sqlCiphertext} LIKE 'v%' THEN split_part(substr(t.${target.sqlCiphertext}, 2), ':', 1)
            ELSE 'legacy' END`,
    );
    const legacy = versions.find((v) => v.legacy);
    const counts = new Map<string, number>();
    for (const [found, n] of perLabel) {
      const label = found === "legacy" && legacy ? String(legacy.version) : found;
      counts.set(label, (counts.get(label) ?? 0) + n);
    }
    return counts;
  }

  /** Rows the application wrote since `since` in any target (by writtenAtColumn); null when no target can tell. */
  async applicationWritesSince(environment: Environment, since: Date): Promise<number | null> {
    let total: number | null = null;
    for (const t of await this.resolvedTargets(environment, false)) {
      const n = await this.writesSince(t.pool, t.resolved, since);
      if (n !== null) total = (total ?? 0) + n;
    }
    return total;
  }

  private async writesSince(pool: pg.Pool, target: ResolvedTarget, since: Date): Promise<number | null> {
    if (!target.writtenAtColumn) return null;
    // The column is timestamp without time zone holding UTC (as Prisma writes it).
    return countInKeysetChunks(
      pool,
      target,
      `t.${quoteIdent(target.writtenAtColumn)} > ($3::timestamptz AT TIME ZONE 'UTC')`,
      [since.toISOString()],
    );
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
  private async withRotationLock<T>(
    environment: Environment,
    work: (lockLost: AbortSignal) => Promise<T>,
  ): Promise<T> {
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
      // The lock lives as long as this connection: once it is lost, another process may take the
      // environment, so the work stops (and can be resumed) rather than going on unguarded.
      const lost = new AbortController();
      const onLost = (error: Error) =>
        lost.abort(
          new LockLostError(`lost the database connection holding the rotation of ${environment}`, error),
        );
      client.on("error", onLost);
      try {
        return await work(lost.signal);
      } finally {
        client.off("error", onLost);
        await client.query("SELECT pg_advisory_unlock(hashtext($1))", [key]).catch(() => undefined);
      }
    } finally {
      // A broken connection is dropped, not returned to the pool.
      client.release(lostConnection(client));
    }
  }
}
