import { randomUUID } from "node:crypto";
import type { PrismaClient } from "../db/prisma.js";
import type { RotationEngine } from "../engine/engine.js";
import type { Environment } from "../environments.js";
import { UserError } from "../errors.js";
import { Prisma } from "../generated/prisma/client.js";
import type { Logger } from "../logger.js";
import type { Approvers } from "./approvers.js";
import { AUDITED_TRANSACTION, appendAuditEvents } from "./audit-log.js";
import { beginWorkflow } from "./begin.js";
import { definitionOf } from "./definitions/index.js";
import type { Directory } from "./directory.js";
import type { WorkflowJobs, WorkflowPublisher } from "./ports.js";
import { PublishingQueue } from "./publishing-queue.js";
import type { Roster } from "./roster.js";
import {
  BOT_ACTOR,
  PermissionRefusedError,
  type Transition,
  transition,
  type WorkflowCommand,
  type WorkflowEffect,
} from "./state-machine.js";
import type {
  CommandDefaults,
  ParsedCommand,
  TimelineEvent,
  WorkflowInputs,
  WorkflowSnapshot,
} from "./types.js";
import { WorkflowReader } from "./workflow-reader.js";
import { findWorkflowByRequest, insertWorkflow, loadWorkflow, saveWorkflow } from "./workflow-store.js";

export interface WorkflowServiceOptions {
  prisma: PrismaClient;
  engine: RotationEngine;
  roster: Roster;
  /** Whether workflows page on-call (the paging itself is PagingService's job). */
  pagingEnabled: boolean;
  directory: Directory;
  publisher: WorkflowPublisher;
  jobs: WorkflowJobs;
  approvers: Approvers;
  defaultEnvironment: Environment;
  /** Environments every developer can read, rotated on every offboarding. */
  sharedEnvironments: readonly Environment[];
  log: Logger;
  now?: () => Date;
}

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
  private readonly publishing: PublishingQueue;
  /** The read side: workflows, timelines, rotation schedules. */
  readonly read: WorkflowReader;

  constructor(private readonly o: WorkflowServiceOptions) {
    this.now = o.now ?? (() => new Date());
    this.read = new WorkflowReader(o.prisma);
    this.publishing = new PublishingQueue(o.publisher, (id) => this.read.get(id), o.log);
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
    const isApprover = await this.o.approvers.includes(actor);
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
    if (events.length > 0 || command.type === "progress") await this.publishing.publish(t.workflow, events);
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
      transition(w, command, { isApprover: await this.o.approvers.includes(command.actor) }, this.now());
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

  get(workflowId: string): Promise<WorkflowSnapshot> {
    return this.read.get(workflowId);
  }

  openWorkflows(): Promise<WorkflowSnapshot[]> {
    return this.read.openWorkflows();
  }

  rotationSchedules() {
    return this.read.rotationSchedules();
  }

  timeline(workflowId: string): Promise<TimelineEvent[]> {
    return this.read.timeline(workflowId);
  }

  /** Whether `userId` may approve (configured directly or through a user group). */
  isApprover(userId: string): Promise<boolean> {
    return this.o.approvers.includes(userId);
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

  private async runEffects(w: WorkflowSnapshot, effects: WorkflowEffect[]): Promise<void> {
    for (const effect of effects) {
      try {
        // The workflow's version names the transition that started this run of the step.
        if (effect.type === "run-step") await this.o.jobs.runStep(w.id, effect.stepKey, String(w.version));
        else if (effect.type === "request-approval")
          await this.o.publisher.requestApproval(w, this.o.approvers.ids);
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
    await this.publishing.publish(w, events);
  }
}

function isUniqueViolation(error: unknown): boolean {
  return error instanceof Prisma.PrismaClientKnownRequestError && error.code === "P2002";
}
