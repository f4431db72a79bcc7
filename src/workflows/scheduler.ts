import type { Environment } from "../environments.js";
import type { Logger } from "../logger.js";
import { nextQuarter } from "./calendar.js";
import { definitionOf, WORKFLOW_DEFINITIONS } from "./definitions/index.js";
import type { RotationSchedules } from "./rotation-schedules.js";
import { BOT_ACTOR } from "./state-machine.js";
import type { ScheduleTrigger } from "./types.js";
import { AlreadyOpenError, type WorkflowService } from "./workflow-service.js";

/** One start the bot makes by itself, as its durable job carries it. */
export interface ScheduledStart {
  kind: string;
  trigger: "quarter" | "rotation-due";
  /** ISO time it is due. */
  at: string;
  environment?: Environment;
  /** Names this start: its job's id and the workflow's request key (once, across replicas). */
  key: string;
}

/** Durable jobs (pg-boss): a start runs once across replicas at its time and survives restarts. */
export interface ScheduleJobs {
  startAt(start: ScheduledStart): Promise<void>;
}

export interface SchedulerOptions {
  service: WorkflowService;
  schedules: Pick<RotationSchedules, "list">;
  jobs: ScheduleJobs;
  /** Where scheduled workflows start (KEYOPS_ALERT_CHANNEL); none: the bot starts nothing by itself. */
  channelId: string | undefined;
  /** The team's time zone (KEYOPS_TIME_ZONE): where quarters begin. */
  timeZone: string;
  log: Logger;
  now?: () => Date;
}

/**
 * Starts workflows by themselves, as their definitions' `schedule` says, for every definition:
 * at each calendar quarter's start (the team's time zone) and when an environment's recorded
 * next rotation falls due. Planning queues one durable job per start (its id names the start, so
 * every replica planning the same start queues it once); the job starts the workflow with a
 * request key from the same name, and a definition's openKey keeps a second one from opening
 * while the first is open.
 */
export class WorkflowScheduler {
  private readonly now: () => Date;

  constructor(private readonly o: SchedulerOptions) {
    this.now = o.now ?? (() => new Date());
  }

  /** Queues the next starts of every scheduled definition; returns how many it asked for. */
  async plan(): Promise<number> {
    if (!this.o.channelId) return 0;
    const now = this.now();
    let planned = 0;
    const schedules = await this.o.schedules.list();
    for (const definition of WORKFLOW_DEFINITIONS) {
      const schedule = definition.schedule;
      if (!schedule) continue;
      if (schedule.quarterly) {
        const quarter = nextQuarter(now, this.o.timeZone);
        await this.o.jobs.startAt({
          kind: definition.kind,
          trigger: "quarter",
          at: quarter.start.toISOString(),
          key: `${definition.kind}:quarter:${quarter.period}`,
        });
        planned += 1;
      }
      if (schedule.whenRotationDue) {
        for (const row of schedules) {
          if (row.nextDueAt <= now) continue;
          const at = row.nextDueAt.toISOString();
          await this.o.jobs.startAt({
            kind: definition.kind,
            trigger: "rotation-due",
            at,
            environment: row.environment,
            key: `${definition.kind}:rotation-due:${row.environment}:${at}`,
          });
          planned += 1;
        }
      }
    }
    return planned;
  }

  /** The job's body: starts the workflow, unless one for the same period is open already. */
  async fire(start: ScheduledStart): Promise<void> {
    const channelId = this.o.channelId;
    const definition = definitionOf(start.kind);
    if (!channelId || !definition.schedule) return;
    const at = new Date(start.at);
    const trigger: ScheduleTrigger =
      start.trigger === "rotation-due" && start.environment
        ? { kind: "rotation-due", at, timeZone: this.o.timeZone, environment: start.environment }
        : { kind: "quarter", at, timeZone: this.o.timeZone };
    const inputs = definition.schedule.inputs(trigger);
    try {
      const { workflow, created } = await this.o.service.start({
        kind: definition.kind,
        inputs,
        requestedBy: BOT_ACTOR,
        channelId,
        requestKey: `schedule:${start.key}`,
      });
      if (created)
        this.o.log.info("started a scheduled workflow", { workflow: workflow.number, key: start.key });
    } catch (error) {
      if (!(error instanceof AlreadyOpenError)) throw error;
      this.o.log.info("a scheduled workflow is open already; nothing started", {
        workflow: error.open.number,
        key: start.key,
      });
      // The open one covers it: its thread says so, once (the start's name is the request key).
      await this.o.service.apply(
        error.open.id,
        {
          type: "record",
          action: "schedule.due",
          actor: BOT_ACTOR,
          detail: { why: inputs.trigger ?? start.trigger, due: start.at },
        },
        `schedule:${start.key}`,
      );
    }
    // The next quarter's start, now that this one's has come.
    await this.plan();
  }
}
