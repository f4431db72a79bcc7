import { createHash } from "node:crypto";
import pg from "pg";
import PgBoss from "pg-boss";
import { guardPool } from "../db/faults.js";
import type { Logger } from "../logger.js";

export interface JobQueueOptions {
  connectionString: string;
  log: Logger;
  /** The PostgreSQL schema pg-boss creates (on first start) and keeps its tables in. */
  schema?: string;
  /** Default for how often an idle worker looks for jobs (pg-boss's minimum is 0.5 s). */
  pollingIntervalSeconds?: number;
}

export interface JobInfo {
  id: string;
  /** 0 on the first attempt, 1 on the first retry, and so on. */
  retryCount: number;
}

export type JobHandler<T> = (data: T, job: JobInfo) => Promise<void>;

export interface RegisterOptions {
  /** Retries after the first attempt (pg-boss default 2). */
  retryLimit?: number;
  /** Whole seconds between attempts (pg-boss default 0). */
  retryDelaySeconds?: number;
  /**
   * How long one attempt may run (pg-boss default 15 min, under 24 h). Past it the attempt counts
   * as failed and is retried, although the handler itself cannot be interrupted.
   */
  expireInSeconds?: number;
  /** One job per handler call: the only batch size this wrapper supports. */
  batchSize?: 1;
  pollingIntervalSeconds?: number;
}

export interface SendOptions {
  /**
   * While a job with this key is queued, waiting to retry or running, another send of it is a
   * no-op (returns null) on every replica. Once it has finished, the key may be sent again.
   */
  singletonKey?: string;
  /** A time, or seconds from now. */
  startAfter?: Date | number;
  /**
   * The job's id, a UUID. A send whose id is taken is a no-op (returns null), also after the job
   * finished, until it is archived (12 h later by default).
   */
  id?: string;
}

export interface StopOptions {
  /** Graceful: waits (up to timeoutMs, at least 1 s) for running handlers before closing. */
  graceful: boolean;
  timeoutMs?: number;
}

// pg-boss 10 has no policy making a second send of a key a no-op while the first is queued or
// running: "short" and "stately" refuse it only while the first is still queued (after that a
// second queues up and, under "short", runs alongside it; under "stately" it runs afterwards and
// blocks the queue's other jobs until then), "singleton" never refuses one. All three also treat
// jobs without a key as sharing one key, dropping plain sends. Hence "standard" and sendSingleton.
const POLICY = "standard";

/**
 * Durable background work on pg-boss 10 (the last line that runs on Node 20): jobs live in
 * PostgreSQL, survive restarts, run on one replica, and are retried when their handler throws.
 */
export class JobQueue {
  private readonly queues = new Set<string>();
  private readonly workers = new Map<string, string>();
  private stopping: Promise<void> | undefined;

  private constructor(
    private readonly boss: PgBoss,
    /** Connections for the transactions of singleton sends. */
    private readonly sendPool: pg.Pool,
    private readonly schema: string,
    private readonly log: Logger,
    private readonly pollingIntervalSeconds: number,
  ) {}

  static async start(options: JobQueueOptions): Promise<JobQueue> {
    const schema = options.schema ?? "pgboss";
    const boss = new PgBoss({
      connectionString: options.connectionString,
      schema,
      application_name: "keyops-jobs",
      max: 4,
      // No cron schedules: this also skips the clock-skew checks and the internal cron queue's
      // worker. Maintenance (supervise) stays on: it fails and retries jobs whose replica died
      // while running them, and archives finished ones. State monitoring is off by default.
      schedule: false,
    });
    boss.on("error", (error: Error) => options.log.warn("job queue error", { error: error.message }));
    const sendPool = guardPool(
      new pg.Pool({
        connectionString: options.connectionString,
        application_name: "keyops-jobs-send",
        max: 2,
        // Kept open: a singleton send should not wait for a new connection.
        idleTimeoutMillis: 0,
      }),
      options.log,
      "job queue",
    );
    try {
      await boss.start();
      await sendPool.query("SELECT 1");
    } catch (error) {
      await sendPool.end();
      throw error;
    }
    return new JobQueue(boss, sendPool, schema, options.log, options.pollingIntervalSeconds ?? 0.5);
  }

  /** Creates the queue (or updates its settings) and starts a worker for it on this replica. */
  async register<T extends object>(
    queue: string,
    handler: JobHandler<T>,
    options: RegisterOptions = {},
  ): Promise<void> {
    const settings: PgBoss.Queue = {
      name: queue,
      policy: POLICY,
      ...(options.retryLimit !== undefined ? { retryLimit: options.retryLimit } : {}),
      ...(options.retryDelaySeconds !== undefined ? { retryDelay: options.retryDelaySeconds } : {}),
      ...(options.expireInSeconds !== undefined ? { expireInSeconds: options.expireInSeconds } : {}),
    };
    // Settings are copied into each job when it is sent: they apply to jobs sent from now on.
    await this.boss.createQueue(queue, { ...settings });
    await this.boss.updateQueue(queue, { ...settings });
    this.queues.add(queue);
    const workOptions = {
      batchSize: 1,
      includeMetadata: true as const,
      pollingIntervalSeconds: options.pollingIntervalSeconds ?? this.pollingIntervalSeconds,
    };
    const workerId = await this.boss.work<T>(queue, workOptions, async (jobs) => {
      for (const job of jobs) await this.run(queue, job, handler);
    });
    this.workers.set(queue, workerId);
  }

  /** The job's id, or null when the send was a no-op (see SendOptions). */
  async send<T extends object>(queue: string, data: T, options: SendOptions = {}): Promise<string | null> {
    await this.ensureQueue(queue);
    const jobOptions: PgBoss.SendOptions = {
      ...(options.startAfter !== undefined ? { startAfter: options.startAfter } : {}),
      ...(options.id !== undefined ? { id: options.id } : {}),
    };
    const id =
      options.singletonKey === undefined
        ? await this.boss.send(queue, data, jobOptions)
        : await this.sendSingleton(queue, data, options.singletonKey, jobOptions);
    // Spares this replica's worker its polling delay.
    const worker = this.workers.get(queue);
    if (id && worker && options.startAfter === undefined) this.boss.notifyWorker(worker);
    return id;
  }

  /** Cancels a job that has not finished yet; a running handler is not interrupted. */
  async cancel(queue: string, id: string): Promise<void> {
    await this.boss.cancel(queue, id);
  }

  /** Stops the workers, then closes the connections. A second call waits for the first. */
  stop(options: StopOptions): Promise<void> {
    this.stopping ??= (async () => {
      // Non-graceful, or past the timeout: running jobs are marked failed (so retried) first.
      await this.boss.stop({ graceful: options.graceful, wait: true, timeout: options.timeoutMs ?? 30_000 });
      await this.sendPool.end();
    })();
    return this.stopping;
  }

  private async run<T>(queue: string, job: PgBoss.JobWithMetadata<T>, handler: JobHandler<T>): Promise<void> {
    try {
      await handler(job.data, { id: job.id, retryCount: job.retryCount });
    } catch (error) {
      // By message only: the payload stays out of the log.
      const fields = {
        queue,
        job: job.id,
        attempt: job.retryCount + 1,
        error: error instanceof Error ? error.message : String(error),
      };
      if (job.retryCount < job.retryLimit) this.log.warn("job failed; it will be retried", fields);
      else this.log.error("job failed; no retries left", fields);
      throw error;
    }
  }

  /**
   * Under a per-key advisory lock (so two replicas cannot both pass the check), a send is skipped
   * while a job of the key is queued, waiting to retry or running; otherwise it is inserted in the
   * same transaction.
   */
  private async sendSingleton(
    queue: string,
    data: object,
    key: string,
    options: PgBoss.SendOptions,
  ): Promise<string | null> {
    const client = await this.sendPool.connect();
    try {
      // One round trip: the lock id is a number, so the simple protocol's multiple statements are safe.
      await client.query(`BEGIN; SELECT pg_advisory_xact_lock(${lockId(this.schema, queue, key)})`);
      const pending = await client.query(
        `SELECT 1 FROM ${this.schema}.job WHERE name = $1 AND singleton_key = $2 AND state <= 'active' LIMIT 1`,
        [queue, key],
      );
      const id =
        pending.rows.length === 0
          ? await this.boss.send(queue, data, {
              ...options,
              singletonKey: key,
              db: { executeSql: (text, values) => client.query(text, values) },
            })
          : null;
      await client.query("COMMIT");
      client.release();
      return id;
    } catch (error) {
      await client.query("ROLLBACK").catch(() => undefined);
      // The connection may be broken: discarded rather than returned to the pool.
      client.release(true);
      throw error;
    }
  }

  /** pg-boss 10 silently drops (returns null for) a send to a queue that was never created. */
  private async ensureQueue(queue: string): Promise<void> {
    if (this.queues.has(queue)) return;
    await this.boss.createQueue(queue, { name: queue, policy: POLICY });
    this.queues.add(queue);
  }
}

/** A 64-bit advisory lock id for one key of one queue. */
function lockId(schema: string, queue: string, key: string): bigint {
  return createHash("sha256").update(`keyops-jobs\0${schema}\0${queue}\0${key}`).digest().readBigInt64BE(0);
}
