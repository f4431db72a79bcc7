import { randomBytes } from "node:crypto";
import os from "node:os";
import type { PrismaClient } from "../db/prisma.js";
import type { Logger } from "../logger.js";

export interface LeaseSettings {
  /** A RUNNING step whose runner has not beaten for this long is taken over by a live replica. */
  staleMs: number;
  /** How often a runner beats (and how often replicas look for stale steps). */
  beatMs: number;
}

export const DEFAULT_TAKEOVER_SECONDS = 30;

export function leaseSettings(takeoverSeconds = DEFAULT_TAKEOVER_SECONDS): LeaseSettings {
  const staleMs = takeoverSeconds * 1000;
  return { staleMs, beatMs: Math.max(250, Math.round(staleMs / 4)) };
}

/** This process as a runner: host, pid and a random part (a restarted pid is another runner). */
export function runnerId(): string {
  return `${os.hostname()}:${process.pid}:${randomBytes(3).toString("hex")}`;
}

export type Claim =
  | { claimed: false }
  | { claimed: true; takenOverFrom?: { runner: string; silentSeconds: number } };

export interface StaleStep {
  workflowId: string;
  stepKey: string;
  runner: string;
  heartbeatAt: Date;
}

/**
 * Who runs each automated step: a runner claims a RUNNING step (free, its own, or one whose
 * runner stopped beating), beats while it works, and lets go when it stops. Staleness is judged
 * by the database's clock, so replicas' clocks do not matter.
 */
export class StepLeases {
  readonly runner = runnerId();

  constructor(
    private readonly prisma: PrismaClient,
    readonly settings: LeaseSettings,
    private readonly log: Logger,
  ) {}

  async claim(workflowId: string, stepKey: string): Promise<Claim> {
    const staleSeconds = this.settings.staleMs / 1000;
    const rows = await this.prisma.$queryRaw<{ previous: string | null; silent: number | null }[]>`
      WITH prior AS (
        SELECT "runner", "heartbeatAt" FROM "WorkflowStep"
         WHERE "workflowId" = ${workflowId} AND "key" = ${stepKey} AND "status" = 'RUNNING'
         FOR UPDATE)
      UPDATE "WorkflowStep" AS s SET "runner" = ${this.runner}, "heartbeatAt" = now()
        FROM prior
       WHERE s."workflowId" = ${workflowId} AND s."key" = ${stepKey}
         AND (prior."runner" IS NULL OR prior."runner" = ${this.runner}
              OR prior."heartbeatAt" IS NULL
              OR prior."heartbeatAt" < now() - make_interval(secs => ${staleSeconds}))
      RETURNING prior."runner" AS previous,
                extract(epoch FROM now() - prior."heartbeatAt")::float8 AS silent`;
    const row = rows[0];
    if (!row) return { claimed: false };
    if (row.previous && row.previous !== this.runner) {
      return {
        claimed: true,
        takenOverFrom: { runner: row.previous, silentSeconds: Math.round(row.silent ?? 0) },
      };
    }
    return { claimed: true };
  }

  /** Beats until the returned function is called, which also lets go of the step. */
  hold(workflowId: string, stepKey: string): () => Promise<void> {
    const beat = async () => {
      const n = await this.prisma.$executeRaw`
        UPDATE "WorkflowStep" SET "heartbeatAt" = now()
         WHERE "workflowId" = ${workflowId} AND "key" = ${stepKey} AND "runner" = ${this.runner}`;
      if (n === 0) this.log.debug("step no longer held by this replica", { workflowId, stepKey });
    };
    const timer = setInterval(() => {
      // A beat lost to a database outage is only late: the next one tries again.
      beat().catch((error: Error) => this.log.debug("heartbeat failed", { error: error.message }));
    }, this.settings.beatMs);
    timer.unref();
    return async () => {
      clearInterval(timer);
      await this.prisma.$executeRaw`
        UPDATE "WorkflowStep" SET "runner" = NULL, "heartbeatAt" = NULL
         WHERE "workflowId" = ${workflowId} AND "key" = ${stepKey} AND "runner" = ${this.runner}`.catch(
        (error: Error) => this.log.debug("letting go of a step failed", { error: error.message }),
      );
    };
  }

  /** RUNNING steps of open workflows whose runner stopped beating. */
  stale(): Promise<StaleStep[]> {
    const staleSeconds = this.settings.staleMs / 1000;
    return this.prisma.$queryRaw<StaleStep[]>`
      SELECT s."workflowId", s."key" AS "stepKey", s."runner", s."heartbeatAt"
        FROM "WorkflowStep" s JOIN "Workflow" w ON w."id" = s."workflowId"
       WHERE w."status" = 'OPEN' AND s."status" = 'RUNNING' AND s."runner" IS NOT NULL
         AND s."heartbeatAt" < now() - make_interval(secs => ${staleSeconds})`;
  }
}
