import PgBoss from "pg-boss";
import type { Logger } from "../logger.js";

export interface JobQueueOptions {
  connectionString: string;
  log: Logger;
  schema?: string;
  /** How often an idle worker looks for jobs (pg-boss's minimum is 0.5 s). */
  pollingIntervalSeconds?: number;
}

export interface WorkOptions {
  retryLimit?: number;
  retryDelaySeconds?: number;
  expireInSeconds?: number;
}

export interface SendOptions {
  /** While a job with this key waits, another send of it is a no-op (returns null). */
  singletonKey?: string;
  startAfter?: Date;
}

/**
 * Durable background work on pg-boss 10 (the last line that runs on Node 20). Queues use the
 * "stately" policy: per singleton key at most one job waiting and one running, so two replicas
 * asking for the same work queue it once; a job survives restarts and runs on one replica.
 */
export class JobQueue {
  private readonly created = new Set<string>();

  private constructor(
    private readonly boss: PgBoss,
    private readonly log: Logger,
    private readonly pollingIntervalSeconds: number,
  ) {}

  static async start(options: JobQueueOptions): Promise<JobQueue> {
    const boss = new PgBoss({
      connectionString: options.connectionString,
      schema: options.schema ?? "pgboss",
      application_name: "keyops-jobs",
      max: 4,
      // No cron schedules are used; maintenance (expiry, archiving) stays on.
      schedule: false,
    });
    boss.on("error", (error: Error) => options.log.warn("job queue error", { error: error.message }));
    await boss.start();
    return new JobQueue(boss, options.log, options.pollingIntervalSeconds ?? 0.5);
  }

  async register<T extends object>(
    queue: string,
    handler: (data: T, job: { id: string }) => Promise<void>,
    options: WorkOptions = {},
  ): Promise<void> {
    await this.ensureQueue(queue, options);
    await this.boss.work<T>(
      queue,
      { batchSize: 1, pollingIntervalSeconds: this.pollingIntervalSeconds },
      async (jobs) => {
        for (const job of jobs) {
          try {
            await handler(job.data, { id: job.id });
          } catch (error) {
            // Only ids travel in job data, but the handler's error is logged by message alone.
            this.log.warn("job failed; pg-boss retries it", {
              queue,
              job: job.id,
              error: (error as Error).message,
            });
            throw error;
          }
        }
      },
    );
  }

  async send<T extends object>(queue: string, data: T, options: SendOptions = {}): Promise<string | null> {
    await this.ensureQueue(queue, {});
    return this.boss.send(queue, data, {
      ...(options.singletonKey ? { singletonKey: options.singletonKey } : {}),
      ...(options.startAfter ? { startAfter: options.startAfter } : {}),
    });
  }

  /** Graceful: waits (up to timeoutMs) for running jobs to finish before closing. */
  async stop(options: { graceful: boolean; timeoutMs: number }): Promise<void> {
    await this.boss.stop({ graceful: options.graceful, wait: true, timeout: options.timeoutMs });
  }

  private async ensureQueue(queue: string, options: WorkOptions): Promise<void> {
    if (this.created.has(queue)) return;
    const existing = await this.boss.getQueue(queue);
    const settings: PgBoss.Queue = {
      name: queue,
      policy: "stately",
      ...(options.retryLimit !== undefined ? { retryLimit: options.retryLimit } : {}),
      ...(options.retryDelaySeconds !== undefined ? { retryDelay: options.retryDelaySeconds } : {}),
      ...(options.expireInSeconds !== undefined ? { expireInSeconds: options.expireInSeconds } : {}),
    };
    if (!existing) await this.boss.createQueue(queue, settings);
    else if (Object.keys(settings).length > 2) await this.boss.updateQueue(queue, settings);
    this.created.add(queue);
  }
}
