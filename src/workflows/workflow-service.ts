import { randomUUID } from "node:crypto";
import type { PrismaClient } from "../db/prisma.js";
import type { RotationEngine } from "../engine/engine.js";
import type { Environment } from "../environments.js";
import { UserError } from "../errors.js";
import { Prisma } from "../generated/prisma/client.js";
import type { Logger } from "../logger.js";
import type { Approvers } from "./approvers.js";
import { AUDITED_TRANSACTION, appendAuditEvents } from "./audit-log.js";
import { refusal } from "./authority.js";
import { beginWorkflow } from "./begin.js";
import { definitionOf } from "./definitions/index.js";
import type { Directory } from "./directory.js";
import type { WorkflowJobs } from "./ports.js";
import { type Publication, publicationsOf, queuePublications } from "./publications.js";
import type { Roster } from "./roster.js";
import {
  auditEntry,
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
import {
  findOpenByKey,
  findWorkflowByRequest,
  insertWorkflow,
  latestOfKind,
  loadWorkflow,
  saveWorkflow,
  workflowsAbout,
} from "./workflow-store.js";

/** Handled request keys forgotten per statement. */
const FORGET_CHUNK = 5000;
export interface WorkflowServiceOptions {
  prisma: PrismaClient;
  engine: RotationEngine;
  roster: Roster;
  /** Whether workflows page on-call (the paging itself is PagingService's job). */
  pagingEnabled: boolean;
  /** Whether drills page too (at info); false: a drill is never paged. Default true. */
  pageDrills?: boolean;
  directory: Directory;
  jobs: WorkflowJobs;
  /** Told after each commit that wrote publications (PublicationDelivery.kick). */
  published?: () => void;
  approvers: Approvers;
  defaultEnvironment: Environment;
  /** Environments every developer can read, rotated on every offboarding. */
  sharedEnvironments: readonly Environment[];
  /** The team's IANA time zone (KEYOPS_TIME_ZONE): where calendar quarters begin. */
  timeZone?: string;
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
 * Moves workflows: each transition, its audit events and what it shows in Slack (the publication
 * outbox) commit in one transaction; the jobs follow the commit and are safe to repeat. Slack is
 * never called here: PublicationDelivery shows the committed entries afterwards.
 */
export class WorkflowService {
  private readonly now: () => Date;
  /** The read side: workflows, timelines, rotation schedules. */
  readonly read: WorkflowReader;

  constructor(private readonly o: WorkflowServiceOptions) {
    this.now = o.now ?? (() => new Date());
    this.read = new WorkflowReader(o.prisma);
  }

  get commandDefaults(): CommandDefaults {
    return { environment: this.o.defaultEnvironment, now: this.now(), timeZone: this.timeZone };
  }

  /** The team's time zone (KEYOPS_TIME_ZONE). */
  get timeZone(): string {
    return this.o.timeZone ?? "UTC";
  }

  /** The command's text read by its definition; a leading `drill` asks for a rehearsal of it. */
  parseCommand(kind: string, text: string): ParsedCommand {
    const definition = definitionOf(kind);
    const drill = /^\s*drill(?:\s+|$)/i.exec(text);
    if (!drill) return definition.parseCommand(text, this.commandDefaults);
    if (!definition.allowsDrill) throw new UserError(`${definition.command} has no drill`);
    const rest = text.slice(drill[0].length);
    // An empty rest means the default environment (a definition's empty text may open its form instead).
    const parsed = definition.parseCommand(
      rest.trim() === "" ? this.o.defaultEnvironment : rest,
      this.commandDefaults,
    );
    if (!("inputs" in parsed)) throw new UserError(`${definition.command} drill needs an environment`);
    return { inputs: { ...parsed.inputs, drill: true } };
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
    const main = inputs.environments[0];
    const lostVersions =
      definition.gathers?.includes("lost-version") && main
        ? // A version already marked LOST was settled by an earlier workflow (keys import still takes it back).
          (await this.o.engine.lostVersions(main)).filter((v) => v.state !== "LOST").map((v) => v.version)
        : [];
    const keyVersion =
      definition.gathers?.includes("key-version") && main && inputs.keyVersion !== undefined
        ? await this.o.engine.keyVersionFacts(main, inputs.keyVersion)
        : undefined;
    const refused = definition.refuseStart?.({
      inputs,
      requestedBy: request.requestedBy,
      subjectGrants: inputs.subjectUserId ? await this.o.roster.grantsOf(inputs.subjectUserId) : [],
      lostVersions,
      ...(keyVersion !== undefined ? { keyVersion } : {}),
    });
    if (refused) throw new UserError(refused);
    if (inputs.environments.length === 0) {
      throw new UserError("no environment to act on: they have no key access in the roster");
    }
    // KeyOps itself (a scheduled start) has no Slack profile: its inputs carry the team's zone.
    const timeZone =
      request.requestedBy === BOT_ACTOR
        ? undefined
        : await this.o.directory.timeZoneOf(request.requestedBy).catch(() => undefined);
    if (timeZone) inputs.timeZone = timeZone;
    const openKey = definition.openKey?.(inputs);
    if (openKey) {
      const open = await findOpenByKey(this.o.prisma, definition.kind, openKey);
      if (open) return this.startedByThisRequest(request.requestKey, open, openKey);
    }
    const lost = lostVersions[0];
    if (lost !== undefined) inputs.keyVersion = lost;
    const platformCounts =
      lost !== undefined
        ? await this.o.engine.integrationsPerPlatformUnder(main as Environment, lost)
        : definition.gathers?.includes("platform-counts")
          ? await this.o.engine.integrationsPerPlatform(main as Environment)
          : [];

    const begun = beginWorkflow(
      definition,
      {
        id: randomUUID(),
        inputs,
        platformCounts,
        requestedBy: request.requestedBy,
        channelId: request.channelId,
        page: { status: this.pages(inputs) ? "paging" : "off", onCall: [] },
      },
      this.now(),
    );
    // One transaction from the row to its message: the message is the workflow's first outbox
    // entry, so a start that fails anywhere leaves no workflow, no audit event and no message.
    let created: WorkflowSnapshot;
    try {
      created = await this.o.prisma.$transaction(async (tx) => {
        const w = await insertWorkflow(tx, begun.workflow, platformCounts, request.requestKey, openKey);
        const events = await appendAuditEvents(tx, begun.audit);
        await queuePublications(tx, w.id, [
          { kind: "post" },
          ...publicationsOf(events, false),
          ...this.approvalRequests(begun.effects),
        ]);
        return w;
      }, AUDITED_TRANSACTION);
    } catch (error) {
      if (isUniqueViolation(error)) {
        const raced = await findWorkflowByRequest(this.o.prisma, request.requestKey);
        if (raced) return { workflow: raced, created: false };
        // Another replica started the one open workflow of this key first.
        const open = openKey ? await findOpenByKey(this.o.prisma, definition.kind, openKey) : null;
        if (open && openKey) throw new AlreadyOpenError(open, openKey);
      }
      throw error;
    }

    if (created.deadlineAt) {
      const deadline = created.deadlineAt.getTime();
      for (const offset of definition.remindersMs ?? []) {
        const at = new Date(deadline + offset);
        if (at.getTime() > this.now().getTime()) await this.o.jobs.remindAt(created.id, at);
      }
      if (definition.overdue)
        await this.o.jobs.checkDeadlineAt(
          created.id,
          new Date(deadline + (definition.overdue.pageAfterMs ?? 0)),
        );
    }
    if (this.pages(inputs)) await this.o.jobs.page(created.id, "trigger");
    await this.runEffects(created, begun.effects);
    this.o.published?.();
    return { workflow: created, created: true };
  }

  /**
   * An open workflow holds `openKey`: it is this request's own when a copy of the request (another
   * delivery of a scheduled job, on this replica or another) started it after this one looked for
   * it by its request key; otherwise this start is refused.
   */
  private async startedByThisRequest(
    requestKey: string,
    open: WorkflowSnapshot,
    openKey: string,
  ): Promise<{ workflow: WorkflowSnapshot; created: false }> {
    const same = await findWorkflowByRequest(this.o.prisma, requestKey);
    if (same) return { workflow: same, created: false };
    throw new AlreadyOpenError(open, openKey);
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
        const events = await appendAuditEvents(tx, t.audit);
        await queuePublications(tx, workflowId, [
          ...publicationsOf(events, events.length > 0 || command.type === "progress"),
          ...this.approvalRequests(t.effects),
        ]);
        return { transition: t, events };
      }, AUDITED_TRANSACTION);
    } catch (error) {
      if (error instanceof PermissionRefusedError) await this.auditRefusal(workflowId, actor, command, error);
      throw error;
    }
    if (!outcome) return null;
    const { transition: t, events } = outcome;
    if (t.workflow.inputs.drill && events.some((e) => CLOSING.has(e.action)))
      await this.dropScratch(t.workflow);
    await this.runEffects(t.workflow, t.effects);
    this.o.published?.();
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

  /**
   * Forgets handled request keys recorded more than `days` ago, in short statements; returns how
   * many. Safe long after the fact: Slack retries within minutes and a signature more than five
   * minutes old is refused; PagerDuty news older than the page's last change is ignored anyway.
   */
  async forgetHandledRequests(days: number): Promise<number> {
    let forgotten = 0;
    for (;;) {
      // "at" is timestamp without time zone holding UTC, as Prisma writes it.
      const n = await this.o.prisma.$executeRaw`
        DELETE FROM "HandledRequest" WHERE "key" IN (
          SELECT "key" FROM "HandledRequest"
           WHERE "at" < (now() AT TIME ZONE 'UTC') - make_interval(days => ${days}::int)
           ORDER BY "at" LIMIT ${FORGET_CHUNK}::int)`;
      forgotten += n;
      if (n < FORGET_CHUNK) return forgotten;
    }
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

  /**
   * The reminder job: a line in the thread, mentioning the requester and the approvers, while the
   * workflow is open. Once per reminder (`at` names it), also when its job is delivered twice.
   */
  async remind(workflowId: string, at?: string): Promise<void> {
    const w = await this.get(workflowId);
    if (w.status !== "OPEN" || !w.deadlineAt) return;
    const { users, groups } = this.o.approvers.ids;
    const people = [...new Set([w.requestedBy, ...users, ...groups])].filter((id) => id !== BOT_ACTOR);
    await this.apply(
      workflowId,
      {
        type: "record",
        action: "deadline.reminder",
        actor: BOT_ACTOR,
        detail: {
          due: w.deadlineAt.toISOString(),
          // A reminder is late when its own time (the job's) is past the deadline.
          late: (at ? new Date(at) : this.now()) > w.deadlineAt,
          remind: people.join(" "),
        },
      },
      at ? `reminder:${workflowId}:${at}` : undefined,
    );
  }

  /**
   * A workflow a step's result offers (a /key-rotate of a due environment), started by `actor`
   * in the same channel: refused (and audited) as authority.ts says, then a start like any other.
   */
  async startOffered(
    workflowId: string,
    stepKey: string,
    index: number,
    actor: string,
    requestKey: string,
  ): Promise<{ workflow: WorkflowSnapshot; created: boolean }> {
    const w = await this.get(workflowId);
    const refused = refusal(
      w,
      { verb: "start-offered", actor, stepKey },
      await this.o.approvers.includes(actor),
    );
    if (refused instanceof PermissionRefusedError)
      await this.auditRefusal(workflowId, actor, { type: "run", stepKey, actor }, refused, "start-offered");
    if (refused) throw refused;
    const offer = w.steps.find((s) => s.key === stepKey)?.result?.offers?.[index];
    if (!offer) throw new UserError("that button offers nothing now");
    return this.start({
      kind: offer.kind,
      inputs: offer.inputs,
      requestedBy: actor,
      channelId: w.channelId,
      requestKey,
    });
  }

  /** The latest workflow of `kind` that is not a drill. */
  latestOf(kind: string): Promise<WorkflowSnapshot | null> {
    return latestOfKind(this.o.prisma, kind);
  }

  /** Workflows of these kinds whose subject is one of these people (not cancelled, not drills). */
  workflowsAbout(kinds: string[], userIds: string[]) {
    return workflowsAbout(this.o.prisma, kinds, userIds);
  }

  /** The approval requests among `effects`, as outbox entries. */
  private approvalRequests(effects: WorkflowEffect[]): Publication[] {
    return effects.some((e) => e.type === "request-approval")
      ? [{ kind: "approval", approvers: this.o.approvers.ids }]
      : [];
  }

  private pages(inputs: WorkflowInputs): boolean {
    return this.o.pagingEnabled && (!inputs.drill || this.o.pageDrills !== false);
  }

  /** A drill that closed (resolved or cancelled): its scratch copy goes; a failure is swept at the next start. */
  private async dropScratch(w: WorkflowSnapshot): Promise<void> {
    await this.o.engine.dropScratch(w.inputs.environments, w.id).catch((error: Error) =>
      this.o.log.error("dropping a drill's scratch copy failed; it is swept at the next start", {
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
        else if (effect.type === "close-page" && this.o.pagingEnabled)
          await this.o.jobs.page(w.id, "resolve");
        else if (effect.type === "page" && this.pages(w.inputs)) await this.o.jobs.page(w.id, "trigger");
      } catch (error) {
        this.o.log.error("workflow effect failed", {
          workflowId: w.id,
          effect: effect.type,
          error: (error as Error).message,
        });
      }
    }
  }

  private async auditRefusal(
    workflowId: string,
    actor: string,
    command: WorkflowCommand,
    error: Error,
    attempted: string = command.type,
  ) {
    await this.o.prisma.$transaction(async (tx) => {
      // The row first, as every transition takes it before the audit lock: the outbox row below
      // points at it (a key-share lock), and taking the audit lock first deadlocked with a
      // transition in flight.
      const w = await loadWorkflow(tx, workflowId, true);
      const events = await appendAuditEvents(tx, [
        auditEntry(
          w,
          {
            actor,
            action: "permission.refused",
            ...("stepKey" in command ? { stepKey: command.stepKey } : {}),
            detail: { attempted, reason: error.message },
          },
          this.now(),
        ),
      ]);
      await queuePublications(tx, workflowId, publicationsOf(events, true));
    }, AUDITED_TRANSACTION);
    this.o.published?.();
  }
}

/** A start refused because an open workflow of the kind holds the same open key (this quarter's). */
export class AlreadyOpenError extends UserError {
  override name = "AlreadyOpenError";
  constructor(
    readonly open: WorkflowSnapshot,
    openKey: string,
  ) {
    super(
      `#${open.number} ${open.title} is already open for ${openKey}: work that one. Nothing was started.`,
    );
  }
}

const CLOSING = new Set<string>(["workflow.resolved", "workflow.cancelled"]);

function isUniqueViolation(error: unknown): boolean {
  return error instanceof Prisma.PrismaClientKnownRequestError && error.code === "P2002";
}
