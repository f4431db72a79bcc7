import { randomUUID } from "node:crypto";
import { classifyFault, waitForDatabase } from "../db/faults.js";
import type { PrismaClient } from "../db/prisma.js";
import type { RotationEngine } from "../engine/engine.js";
import type { Progress } from "../engine/progress.js";
import type { Environment } from "../environments.js";
import { BusyError, UserError } from "../errors.js";
import { Prisma } from "../generated/prisma/client.js";
import type { Logger } from "../logger.js";
import { AUDITED_TRANSACTION, appendAuditEvents, readTimeline } from "./audit-log.js";
import { beginWorkflow } from "./begin.js";
import { definitionOf } from "./definitions/index.js";
import type { Directory } from "./directory.js";
import type { WorkflowJobs, WorkflowPublisher } from "./ports.js";
import type { Roster } from "./roster.js";
import {
  BOT_ACTOR,
  PermissionRefusedError,
  type Transition,
  transition,
  type WorkflowCommand,
  type WorkflowEffect,
} from "./state-machine.js";
import { STEP_RUNNERS, StepFailure } from "./step-actions.js";
import type { StepLeases } from "./step-leases.js";
import type {
  CommandDefaults,
  ParsedCommand,
  StepResult,
  TimelineEvent,
  WorkflowInputs,
  WorkflowSnapshot,
} from "./types.js";
import {
  findWorkflowByRequest,
  insertWorkflow,
  listOpenWorkflows,
  loadWorkflow,
  saveWorkflow,
} from "./workflow-store.js";

export interface WorkflowServiceOptions {
  prisma: PrismaClient;
  engine: RotationEngine;
  roster: Roster;
  /** Whether workflows page on-call (the paging itself is PagingService's job). */
  pagingEnabled: boolean;
  directory: Directory;
  publisher: WorkflowPublisher;
  jobs: WorkflowJobs;
  /** Slack user ids (U…/W…) and user-group ids (S…) allowed to approve. */
  approvers: string[];
  defaultEnvironment: Environment;
  /** Environments every developer can read, rotated on every offboarding. */
  sharedEnvironments: readonly Environment[];
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

export interface StartRequest {
  kind: string;
  inputs: WorkflowInputs;
  requestedBy: string;
  channelId: string;
  /** Slack's trigger_id: the same request twice starts one workflow. */
  requestKey: string;
}

/**
 * Moves workflows: each transition and its audit events commit in one transaction; the effects
 * (Slack message, thread lines, jobs, paging) follow the commit and are safe to repeat.
 */
export class WorkflowService {
  private readonly now: () => Date;
  private readonly publishing = new Map<string, Promise<void>>();

  constructor(private readonly o: WorkflowServiceOptions) {
    this.now = o.now ?? (() => new Date());
  }

  get commandDefaults(): CommandDefaults {
    return { environment: this.o.defaultEnvironment };
  }

  parseCommand(kind: string, text: string): ParsedCommand {
    return definitionOf(kind).parseCommand(text, this.commandDefaults);
  }

  /** Starts a workflow, or returns the one this request already started. */
  async start(request: StartRequest): Promise<{ workflow: WorkflowSnapshot; created: boolean }> {
    const existing = await findWorkflowByRequest(this.o.prisma, request.requestKey);
    if (existing) return { workflow: existing, created: false };

    const definition = definitionOf(request.kind);
    const inputs: WorkflowInputs = { ...request.inputs };
    if (definition.environmentsFrom === "roster" && inputs.subjectUserId) {
      if (inputs.subjectUserId === request.requestedBy) throw new UserError("you cannot offboard yourself");
      inputs.environments = await this.o.roster.environmentsReadableBy(
        inputs.subjectUserId,
        this.o.sharedEnvironments,
      );
    }
    if (inputs.environments.length === 0) {
      throw new UserError("no environment to act on: they have no key access in the roster");
    }
    const timeZone = await this.o.directory.timeZoneOf(request.requestedBy).catch(() => undefined);
    if (timeZone) inputs.timeZone = timeZone;
    const platformCounts = definition.gathers?.includes("platform-counts")
      ? await this.o.engine.integrationsPerPlatform(inputs.environments[0] as Environment)
      : [];

    const begun = beginWorkflow(
      definition,
      {
        id: randomUUID(),
        inputs,
        platformCounts,
        requestedBy: request.requestedBy,
        channelId: request.channelId,
        page: { status: this.o.pagingEnabled ? "paging" : "off", onCall: [] },
      },
      this.now(),
    );
    // One transaction from the row to its message: a start that fails anywhere (Slack refuses the
    // post, the database) leaves no workflow, no audit event and no message behind.
    let created: WorkflowSnapshot;
    let events: TimelineEvent[];
    let posted: WorkflowSnapshot | undefined;
    try {
      [created, events] = await this.o.prisma.$transaction(async (tx) => {
        const w = await insertWorkflow(tx, begun.workflow, platformCounts, request.requestKey);
        w.messageTs = await this.o.publisher.post(w);
        posted = w;
        await tx.workflow.update({ where: { id: w.id }, data: { messageTs: w.messageTs } });
        return [w, await appendAuditEvents(tx, begun.audit)] as const;
      }, AUDITED_TRANSACTION);
    } catch (error) {
      if (posted) await this.retract(posted);
      if (isUniqueViolation(error)) {
        const raced = await findWorkflowByRequest(this.o.prisma, request.requestKey);
        if (raced) return { workflow: raced, created: false };
      }
      throw error;
    }

    await this.o.publisher.log(created, events);
    if (created.deadlineAt) await this.o.jobs.remindAt(created.id, created.deadlineAt);
    if (this.o.pagingEnabled) await this.o.jobs.page(created.id, "trigger");
    await this.runEffects(created, begun.effects);
    return { workflow: created, created: true };
  }

  /**
   * Applies one command to the locked row. Returns null when nothing changed: a request already
   * handled (its requestKey, Slack's trigger_id, seen before) or a command with nothing to do.
   * Refusals throw a UserError; permission refusals are audited.
   */
  async apply(
    workflowId: string,
    command: WorkflowCommand,
    requestKey?: string,
  ): Promise<WorkflowSnapshot | null> {
    const actor = "actor" in command ? command.actor : BOT_ACTOR;
    const isApprover = await this.isApprover(actor);
    let outcome: { transition: Transition; events: TimelineEvent[] } | null;
    try {
      outcome = await this.o.prisma.$transaction(async (tx) => {
        if (requestKey) {
          const inserted = await tx.handledRequest.createMany({
            data: [{ key: requestKey }],
            skipDuplicates: true,
          });
          if (inserted.count === 0) return null;
        }
        const before = await loadWorkflow(tx, workflowId, true);
        const t = transition(before, command, { isApprover }, this.now());
        if (t.workflow === before) return { transition: t, events: [] };
        await saveWorkflow(tx, before, t.workflow);
        return { transition: t, events: await appendAuditEvents(tx, t.audit) };
      }, AUDITED_TRANSACTION);
    } catch (error) {
      if (error instanceof PermissionRefusedError) await this.auditRefusal(workflowId, actor, command, error);
      throw error;
    }
    if (!outcome) return null;
    const { transition: t, events } = outcome;
    if (events.length > 0 || command.type === "progress") await this.publish(t.workflow, events);
    await this.runEffects(t.workflow, t.effects);
    return events.length > 0 || command.type === "progress" ? t.workflow : null;
  }

  /**
   * Whether `command` would be accepted now, before something outside is asked (PagerDuty): throws
   * its refusal, audited when it is a permission refusal. apply() decides again on the locked row.
   */
  async check(workflowId: string, command: WorkflowCommand & { actor: string }): Promise<void> {
    const w = await this.get(workflowId);
    try {
      transition(w, command, { isApprover: await this.isApprover(command.actor) }, this.now());
    } catch (error) {
      if (error instanceof PermissionRefusedError)
        await this.auditRefusal(workflowId, command.actor, command, error);
      throw error;
    }
  }

  /**
   * Records a Slack request that changes no workflow (an event's event_id) as handled, in the same
   * table as the trigger_ids: true the first time, false for a retry, a replay or another replica's copy.
   */
  async claimRequest(requestKey: string): Promise<boolean> {
    const inserted = await this.o.prisma.handledRequest.createMany({
      data: [{ key: requestKey }],
      skipDuplicates: true,
    });
    return inserted.count > 0;
  }

  async get(workflowId: string): Promise<WorkflowSnapshot> {
    return loadWorkflow(this.o.prisma, workflowId);
  }

  async openWorkflows(): Promise<WorkflowSnapshot[]> {
    return listOpenWorkflows(this.o.prisma);
  }

  /** When each environment was last rotated and when the next rotation is due. */
  async rotationSchedules(): Promise<{ environment: string; lastRotatedAt: Date; nextDueAt: Date }[]> {
    return this.o.prisma.rotationSchedule.findMany({ orderBy: { environment: "asc" } });
  }

  async timeline(workflowId: string): Promise<TimelineEvent[]> {
    return readTimeline(this.o.prisma, workflowId);
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
    const w = await this.get(workflowId);
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
        await this.apply(workflowId, {
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
        prisma: this.o.prisma,
        publisher: this.o.publisher,
        now: this.now,
        onProgress: this.progressReporter(w.id),
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
      await this.apply(workflowId, {
        type: "step-failed",
        stepKey,
        error: message,
        ...(error instanceof StepFailure ? { result: error.result } : {}),
      });
      return undefined;
    }
    await this.apply(workflowId, { type: "step-succeeded", stepKey, result });
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
    for (const w of await this.openWorkflows()) {
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

  /** The deadline job: a reminder in the thread while the work is not done. */
  async remind(workflowId: string): Promise<void> {
    const w = await this.get(workflowId);
    if (w.status !== "OPEN" || !w.deadlineAt) return;
    await this.apply(workflowId, {
      type: "record",
      action: "deadline.reminder",
      actor: BOT_ACTOR,
      detail: { due: w.deadlineAt.toISOString() },
    });
  }

  /** Takes back the message of a start that did not commit; a failure here is only logged. */
  private async retract(w: WorkflowSnapshot): Promise<void> {
    await this.o.publisher.retract(w).catch((error: Error) =>
      this.o.log.error("removing the message of a failed start failed", {
        workflowId: w.id,
        error: error.message,
      }),
    );
  }

  async isApprover(userId: string): Promise<boolean> {
    if (userId === BOT_ACTOR) return false;
    if (this.o.approvers.includes(userId)) return true;
    for (const group of this.o.approvers.filter((id) => id.startsWith("S"))) {
      const members = await this.o.directory.membersOf(group).catch((): string[] => []);
      if (members.includes(userId)) return true;
    }
    return false;
  }

  /** Throttled: Slack's chat.update is rate limited, and people need a glance, not a stream. */
  private progressReporter(workflowId: string) {
    const interval = this.o.progressIntervalMs ?? 3000;
    let last = Number.NEGATIVE_INFINITY;
    let pending: Promise<unknown> = Promise.resolve();
    return (environment: Environment, progress: Progress) => {
      const now = Date.now();
      if (now - last < interval) return;
      last = now;
      pending = pending
        .then(() =>
          this.apply(workflowId, {
            type: "progress",
            rotation: {
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

  private async runEffects(w: WorkflowSnapshot, effects: WorkflowEffect[]): Promise<void> {
    for (const effect of effects) {
      try {
        // The workflow's version names the transition that started this run of the step.
        if (effect.type === "run-step") await this.o.jobs.runStep(w.id, effect.stepKey, String(w.version));
        else if (effect.type === "request-approval") await this.o.publisher.note(w, this.approvalRequest(w));
        else if (effect.type === "close-page" && this.o.pagingEnabled)
          await this.o.jobs.page(w.id, "resolve");
        else if (effect.type === "page" && this.o.pagingEnabled) await this.o.jobs.page(w.id, "trigger");
      } catch (error) {
        this.o.log.error("workflow effect failed", {
          workflowId: w.id,
          effect: effect.type,
          error: (error as Error).message,
        });
      }
    }
  }

  private approvalRequest(w: WorkflowSnapshot): string {
    const who = this.o.approvers
      .map((id) => (id.startsWith("S") ? `<!subteam^${id}>` : `<@${id}>`))
      .join(" ");
    return `${who || "An approver"}: #${w.number} needs your approval (two-person rule: not <@${w.requestedBy}>).`;
  }

  /**
   * Publishes one workflow's changes in order: concurrent transitions could otherwise render an
   * older state last. Each turn renders the latest committed state.
   */
  private publish(w: WorkflowSnapshot, events: TimelineEvent[]): Promise<void> {
    const previous = this.publishing.get(w.id) ?? Promise.resolve();
    const turn = previous.then(async () => {
      try {
        const latest = await this.get(w.id);
        await this.o.publisher.update(latest.version >= w.version ? latest : w);
        if (events.length > 0) await this.o.publisher.log(w, events);
      } catch (error) {
        this.o.log.error("publishing a workflow failed", {
          workflowId: w.id,
          error: (error as Error).message,
        });
      }
    });
    this.publishing.set(w.id, turn);
    void turn.then(() => {
      if (this.publishing.get(w.id) === turn) this.publishing.delete(w.id);
    });
    return turn;
  }

  private async auditRefusal(workflowId: string, actor: string, command: WorkflowCommand, error: Error) {
    const events = await this.o.prisma.$transaction(
      (tx) =>
        appendAuditEvents(tx, [
          {
            workflowId,
            actor,
            action: "permission.refused",
            ...("stepKey" in command ? { stepKey: command.stepKey } : {}),
            detail: { attempted: command.type, reason: error.message },
            at: this.now(),
          },
        ]),
      AUDITED_TRANSACTION,
    );
    const w = await this.get(workflowId);
    await this.publish(w, events);
  }
}

function isUniqueViolation(error: unknown): boolean {
  return error instanceof Prisma.PrismaClientKnownRequestError && error.code === "P2002";
}
