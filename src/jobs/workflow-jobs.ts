import { createHash } from "node:crypto";
import { DateTime } from "luxon";
import type { Logger } from "../logger.js";
import type { PagingService } from "../workflows/paging.js";
import type { WorkflowJobs } from "../workflows/ports.js";
import type { ScheduledStart, ScheduleJobs, WorkflowScheduler } from "../workflows/scheduler.js";
import type { StepRunner } from "../workflows/step-runner.js";
import type { WorkflowService } from "../workflows/workflow-service.js";
import type { JobQueue } from "./job-queue.js";

export const STEP_QUEUE = "workflow-step";
export const REMINDER_QUEUE = "workflow-reminder";
export const PAGE_QUEUE = "workflow-page";
export const PAGE_REMINDER_QUEUE = "workflow-page-reminder";
export const CHANGE_EVENT_QUEUE = "workflow-change-event";
export const DEADLINE_QUEUE = "workflow-deadline";
export const SCHEDULE_QUEUE = "workflow-schedule";

const STEP_RETRIES = 60;
const STEP_RETRY_DELAY_SECONDS = 5;
/** Change events retry inside the job (as pages do), and the job again this many times later. */
const CHANGE_EVENT_RETRIES = 3;

interface StepJob {
  workflowId: string;
  stepKey: string;
}

interface ReminderJob {
  workflowId: string;
  /** ISO time the reminder is for (names it: recorded once); absent in jobs of older versions. */
  at?: string;
}

interface ChangeEventJob {
  workflowId: string;
  runId: number;
}

interface PageJob {
  workflowId: string;
  action: "trigger" | "resolve";
}

/** Automated steps and deadline reminders as pg-boss jobs: run once across replicas, survive restarts. */
export class QueuedWorkflowJobs implements WorkflowJobs, ScheduleJobs {
  constructor(private readonly queue: JobQueue) {}

  async runStep(workflowId: string, stepKey: string, attempt: string): Promise<void> {
    await this.queue.send<StepJob>(
      STEP_QUEUE,
      { workflowId, stepKey },
      { singletonKey: `${workflowId}:${stepKey}:${attempt}` },
    );
  }

  /** A thread reminder at `at`; the reminder itself is recorded once (its time names it). */
  async remindAt(workflowId: string, at: Date): Promise<void> {
    const key = `${workflowId}:${at.toISOString()}`;
    await this.queue.send<ReminderJob>(
      REMINDER_QUEUE,
      { workflowId, at: at.toISOString() },
      { singletonKey: key, id: uuidOf(`${REMINDER_QUEUE}:${key}`), startAfter: at },
    );
  }

  /**
   * The overdue check, due at `deadline` (the definition's deadline plus its page delay; the
   * database's clock decides when it runs). Once per workflow: its id comes from the workflow, so
   * a second send is a no-op, also after it ran.
   */
  async checkDeadlineAt(workflowId: string, deadline: Date): Promise<void> {
    const at = DateTime.fromJSDate(deadline, { zone: "utc" });
    await this.queue.send<ReminderJob>(
      DEADLINE_QUEUE,
      { workflowId },
      { singletonKey: workflowId, id: uuidOf(`${DEADLINE_QUEUE}:${workflowId}`), startAfter: at.toJSDate() },
    );
  }

  async page(workflowId: string, action: "trigger" | "resolve"): Promise<void> {
    await this.queue.send<PageJob>(
      PAGE_QUEUE,
      { workflowId, action },
      { singletonKey: `${workflowId}:${action}` },
    );
  }

  async remindUnacknowledged(workflowId: string, at: Date): Promise<void> {
    await this.queue.send<ReminderJob>(
      PAGE_REMINDER_QUEUE,
      { workflowId },
      { singletonKey: workflowId, startAfter: at },
    );
  }

  /**
   * A finished rotation's change event for PagerDuty, sent in the background. Once per run: the
   * job's id comes from the run, so a repeated send is a no-op, also after the job finished.
   */
  async changeEvent(workflowId: string, runId: number): Promise<void> {
    const key = `${workflowId}:${runId}`;
    await this.queue.send<ChangeEventJob>(
      CHANGE_EVENT_QUEUE,
      { workflowId, runId },
      { singletonKey: key, id: uuidOf(`${CHANGE_EVENT_QUEUE}:${key}`) },
    );
  }

  /**
   * A start the bot makes by itself, due at its time (the database's clock). Once across replicas:
   * the job's id comes from the start's key, so planning it again is a no-op.
   */
  async startAt(start: ScheduledStart): Promise<void> {
    await this.queue.send<ScheduledStart>(SCHEDULE_QUEUE, start, {
      singletonKey: start.key,
      id: uuidOf(`${SCHEDULE_QUEUE}:${start.key}`),
      startAfter: new Date(start.at),
    });
  }

  /** This replica's worker of scheduled starts. */
  async workSchedules(scheduler: WorkflowScheduler): Promise<void> {
    await this.queue.register<ScheduledStart>(SCHEDULE_QUEUE, (start) => scheduler.fire(start), {
      retryLimit: 5,
      retryDelaySeconds: 30,
      expireInSeconds: 15 * 60,
    });
  }

  /** The workers of this replica. */
  async work(steps: StepRunner, service: WorkflowService, paging: PagingService, log: Logger): Promise<void> {
    await this.queue.register<StepJob>(
      STEP_QUEUE,
      async ({ workflowId, stepKey }, job) => {
        log.info("running workflow step", { workflowId, stepKey });
        const result = await steps.runStep(workflowId, stepKey, {
          lastAttempt: job.retryCount >= STEP_RETRIES,
        });
        // A rotation step that succeeded: each environment's run on PagerDuty's timeline. Never
        // allowed to fail the step (it is done already) or to run the step again.
        if (!paging.enabled) return;
        for (const rotation of result?.rotations ?? []) {
          if (rotation.failed > 0) continue;
          await this.changeEvent(workflowId, rotation.runId).catch((error: Error) =>
            log.error("queueing the PagerDuty change event failed", {
              workflowId,
              run: rotation.runId,
              error: error.message,
            }),
          );
        }
      },
      // A rotation resumes from its checkpoint; hours for a very large table. While another
      // process holds the environment's rotation, the job waits its turn for about five minutes.
      { retryLimit: STEP_RETRIES, retryDelaySeconds: STEP_RETRY_DELAY_SECONDS, expireInSeconds: 6 * 3600 },
    );
    await this.queue.register<ReminderJob>(
      REMINDER_QUEUE,
      ({ workflowId, at }) => service.remind(workflowId, at),
      {
        retryLimit: 3,
        retryDelaySeconds: 30,
      },
    );
    await this.queue.register<ReminderJob>(
      DEADLINE_QUEUE,
      ({ workflowId }) => paging.deadlinePassed(workflowId),
      {
        retryLimit: 3,
        retryDelaySeconds: 30,
        expireInSeconds: 15 * 60,
      },
    );
    // Paging retries inside the job (spacing configurable); the job itself retries after a crash.
    await this.queue.register<PageJob>(
      PAGE_QUEUE,
      ({ workflowId, action }) =>
        action === "trigger" ? paging.trigger(workflowId) : paging.resolve(workflowId),
      { retryLimit: 2, retryDelaySeconds: 30, expireInSeconds: 15 * 60 },
    );
    await this.queue.register<ChangeEventJob>(
      CHANGE_EVENT_QUEUE,
      ({ workflowId, runId }, job) =>
        paging.changeEvent(workflowId, runId, { lastAttempt: job.retryCount >= CHANGE_EVENT_RETRIES }),
      {
        retryLimit: CHANGE_EVENT_RETRIES,
        retryDelaySeconds: Math.max(1, Math.ceil(paging.retryDelayMs / 1000)),
        expireInSeconds: 15 * 60,
      },
    );
    await this.queue.register<ReminderJob>(
      PAGE_REMINDER_QUEUE,
      ({ workflowId }) => paging.remindUnacknowledged(workflowId),
      {
        retryLimit: 3,
        retryDelaySeconds: 30,
      },
    );
  }
}

/** A UUID (version 8, from SHA-256) naming `text`: the same text, the same id. */
function uuidOf(text: string): string {
  const hex = createHash("sha256").update(text).digest("hex");
  const variant = ((Number.parseInt(hex[16] ?? "0", 16) & 0x3) | 0x8).toString(16);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-8${hex.slice(13, 16)}-${variant}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}
