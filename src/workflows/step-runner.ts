import { classifyFault, waitForDatabase } from "../db/faults.js";
import type { PrismaClient } from "../db/prisma.js";
import type { RotationEngine } from "../engine/engine.js";
import type { Progress } from "../engine/progress.js";
import type { Environment } from "../environments.js";
import { BusyError, UserError } from "../errors.js";
import type { Logger } from "../logger.js";
import type { Directory } from "./directory.js";
import type { WorkflowJobs, WorkflowPublisher } from "./ports.js";
import type { Roster } from "./roster.js";
import { RotationSchedules } from "./rotation-schedules.js";
import { BOT_ACTOR } from "./state-machine.js";
import { STEP_RUNNERS, StepFailure } from "./step-actions.js";
import type { StepLeases } from "./step-leases.js";
import type { StepResult, WorkflowSnapshot } from "./types.js";
import type { WorkflowService } from "./workflow-service.js";

export interface StepRunnerOptions {
  service: WorkflowService;
  engine: RotationEngine;
  roster: Roster;
  prisma: PrismaClient;
  publisher: WorkflowPublisher;
  jobs: WorkflowJobs;
  /** Who has left (the access audit); none: nobody is known to have left. */
  directory?: Directory;
  log: Logger;
  /** Who runs which automated step, with heartbeats (the bot's replicas); none: no takeover. */
  leases?: StepLeases;
  /** At most one progress re-render per this many milliseconds. */
  progressIntervalMs?: number;
  now?: () => Date;
}

/** A step interrupted by database faults is run again this often before its job fails. */
const FAULT_RETRIES = 20;
/** How long one wait for the database lasts before the step is tried again anyway. */
const FAULT_WAIT_MS = 5 * 60_000;

/**
 * Runs automated steps (the durable step job's body) and resumes the ones a dead replica left:
 * each result goes back to the state machine as step-succeeded or step-failed.
 */
export class StepRunner {
  private readonly now: () => Date;
  private readonly schedules: RotationSchedules;

  constructor(private readonly o: StepRunnerOptions) {
    this.now = o.now ?? (() => new Date());
    this.schedules = new RotationSchedules(o.prisma);
  }

  /**
   * The durable job's body: runs an automated step that is RUNNING, once; its result when it
   * succeeded. The step is claimed first (another live replica running it: nothing to do) and
   * heartbeated while it runs. A database fault (lost or refused connection, timeout, disk full)
   * does not fail the step: it waits for the database and runs it again, which resumes a
   * rotation from its checkpoint.
   */
  async runStep(
    workflowId: string,
    stepKey: string,
    { lastAttempt } = { lastAttempt: true },
  ): Promise<StepResult | undefined> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.runClaimedStep(workflowId, stepKey, lastAttempt);
      } catch (error) {
        const fault = classifyFault(error);
        if (!fault || error instanceof BusyError || attempt >= FAULT_RETRIES) throw error;
        this.o.log.warn("workflow step interrupted by a database fault; resuming once the database answers", {
          workflowId,
          stepKey,
          fault: fault.kind,
          error: fault.detail,
          attempt,
        });
        await waitForDatabase(() => this.o.prisma.$queryRaw`SELECT 1`, { timeoutMs: FAULT_WAIT_MS });
      }
    }
  }

  private async runClaimedStep(
    workflowId: string,
    stepKey: string,
    lastAttempt: boolean,
  ): Promise<StepResult | undefined> {
    const w = await this.o.service.get(workflowId);
    const step = w.steps.find((s) => s.key === stepKey);
    if (step?.status !== "RUNNING" || !step.action) return undefined;
    const claim = this.o.leases ? await this.o.leases.claim(workflowId, stepKey) : { claimed: true as const };
    if (!claim.claimed) {
      this.o.log.info("workflow step is being run by another live replica", { workflowId, stepKey });
      return undefined;
    }
    const letGo = this.o.leases?.hold(workflowId, stepKey);
    try {
      if ("takenOverFrom" in claim && claim.takenOverFrom) {
        this.o.log.warn("took over a workflow step whose replica stopped beating", {
          workflowId,
          stepKey,
          from: claim.takenOverFrom.runner,
        });
        await this.o.service.apply(workflowId, {
          type: "record",
          action: "step.taken-over",
          actor: BOT_ACTOR,
          stepKey,
          detail: {
            from: claim.takenOverFrom.runner,
            by: this.o.leases?.runner ?? null,
            silentSeconds: claim.takenOverFrom.silentSeconds,
          },
        });
      }
      return await this.executeStep(w, stepKey, step.action, lastAttempt);
    } finally {
      await letGo?.();
    }
  }

  private async executeStep(
    w: WorkflowSnapshot,
    stepKey: string,
    action: NonNullable<WorkflowSnapshot["steps"][number]["action"]>,
    lastAttempt: boolean,
  ): Promise<StepResult | undefined> {
    const workflowId = w.id;
    let result: StepResult;
    try {
      result = await STEP_RUNNERS[action](w, {
        engine: this.o.engine,
        roster: this.o.roster,
        schedules: this.schedules,
        timeline: (id) => this.o.service.timeline(id),
        publisher: this.o.publisher,
        now: this.now,
        onProgress: this.progressReporter(w.id, stepKey),
        ...(this.o.directory ? { directory: this.o.directory } : {}),
        workflowsAbout: (kinds, userIds) => this.o.service.workflowsAbout(kinds, userIds),
      });
    } catch (error) {
      // Another process holds the environment's rotation (a resumed job, the CLI): try again later.
      if (error instanceof BusyError && !lastAttempt) throw error;
      // The database went away: resumable, never a failed step (see runStep).
      if (classifyFault(error) && !(error instanceof StepFailure)) throw error;
      const message =
        error instanceof StepFailure || error instanceof UserError
          ? error.message
          : "internal error (see the logs)";
      if (!(error instanceof StepFailure || error instanceof UserError)) {
        this.o.log.error("workflow step failed", { workflowId, stepKey, error: (error as Error).message });
      }
      await this.o.service.apply(workflowId, {
        type: "step-failed",
        stepKey,
        error: message,
        ...(error instanceof StepFailure ? { result: error.result } : {}),
      });
      return undefined;
    }
    await this.o.service.apply(workflowId, { type: "step-succeeded", stepKey, result });
    return result;
  }

  /**
   * Every replica, every few seconds: a RUNNING step whose runner stopped beating (its replica
   * died or lost the database) gets a new job, which any live replica claims and resumes. One job
   * per silent runner across replicas (the job's key names the last beat).
   */
  async takeOverStaleSteps(): Promise<number> {
    if (!this.o.leases) return 0;
    const stale = await this.o.leases.stale();
    for (const s of stale) {
      this.o.log.warn("a workflow step's replica stopped beating; queueing a takeover", {
        workflowId: s.workflowId,
        stepKey: s.stepKey,
        runner: s.runner,
      });
      await this.o.jobs.runStep(s.workflowId, s.stepKey, `takeover-${s.heartbeatAt.getTime()}`);
    }
    return stale.length;
  }

  /**
   * At start-up: rotations and verifications left RUNNING by a process that died get a new job,
   * unless a live process still holds that environment's rotation. The engine resumes a run from
   * its checkpoint, so nothing is done twice.
   */
  async resumeInterruptedSteps(): Promise<number> {
    let resumed = 0;
    const open = await this.o.service.openWorkflows();
    // Scratch copies of drills that closed while their replica died before dropping them.
    const swept = await this.o.engine.sweepScratch(open.filter((w) => w.inputs.drill).map((w) => w.id));
    if (swept > 0) this.o.log.info("dropped scratch copies left by closed drills", { copies: swept });
    for (const w of open) {
      for (const step of w.steps) {
        if (step.status !== "RUNNING" || (step.action !== "rotate" && step.action !== "verify")) continue;
        const busy = await Promise.all(w.inputs.environments.map((e) => this.o.engine.rotationInProgress(e)));
        if (busy.some(Boolean)) continue;
        this.o.log.warn("resuming an interrupted workflow step", { workflow: w.number, step: step.key });
        await this.o.jobs.runStep(w.id, step.key, `${w.version}-resumed-${Date.now()}`);
        resumed += 1;
      }
    }
    return resumed;
  }

  /** Throttled: Slack's chat.update is rate limited, and people need a glance, not a stream. */
  private progressReporter(workflowId: string, stepKey: string) {
    const interval = this.o.progressIntervalMs ?? 3000;
    let last = Number.NEGATIVE_INFINITY;
    let pending: Promise<unknown> = Promise.resolve();
    return (environment: Environment, progress: Progress) => {
      const now = Date.now();
      if (now - last < interval) return;
      last = now;
      pending = pending
        .then(() =>
          this.o.service.apply(workflowId, {
            type: "progress",
            rotation: {
              stepKey,
              environment,
              phase: progress.phase,
              done: progress.done,
              total: progress.total,
              rowsPerSecond: progress.rate,
              etaSeconds: progress.etaSeconds,
              ...(progress.note ? { note: progress.note } : {}),
              ...(progress.advice ? { advice: progress.advice } : {}),
              updatedAt: this.now(),
            },
          }),
        )
        .catch((error) => this.o.log.warn("progress update failed", { error: (error as Error).message }));
    };
  }
}
