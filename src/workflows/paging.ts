import { setTimeout as sleep } from "node:timers/promises";
import { UserError } from "../errors.js";
import type { Logger } from "../logger.js";
import { definitionOf } from "./definitions/index.js";
import type { Directory } from "./directory.js";
import type { ChangeEvent, PageRequest, Pager, PageSeverity } from "./pager.js";
import type { WorkflowJobs, WorkflowPublisher } from "./ports.js";
import { BOT_ACTOR, type PageChange } from "./state-machine.js";
import { digestWords } from "./step-actions.js";
import type { WorkflowSnapshot } from "./types.js";
import type { WorkflowService } from "./workflow-service.js";

/** How long a page waits for the workflow's message to be delivered, for its link. */
const MESSAGE_WAIT_MS = 5000;
const MESSAGE_POLL_MS = 200;

export interface PagingOptions {
  pager: Pager;
  service: WorkflowService;
  directory: Directory;
  publisher: WorkflowPublisher;
  jobs: WorkflowJobs;
  log: Logger;
  /** Tries of one page in all, and the wait between them (PagerDuty: 3 tries, 30 s apart). */
  retry: { attempts: number; delayMs: number };
  /** Remind the on-call people in the thread while nobody has acknowledged, this often. */
  acknowledgeWithinMs: number;
  /** Severity per workflow kind, over the definition's own. */
  severities: Partial<Record<string, PageSeverity>>;
  /** Sends with retries; PagerDuty's implementation retries only what is worth retrying. */
  withRetries: <T>(send: () => Promise<T>, onRetry: (error: Error, attempt: number) => void) => Promise<T>;
}

/** A page's changes that PagerDuty reports by webhook. */
export interface PageNews {
  workflowId: string;
  kind: "acknowledged" | "resolved" | "escalated" | "reassigned";
  /** The PagerDuty user (or service) who acted, by name. */
  by?: string;
  /** Who it is assigned to now (escalated, reassigned). */
  to?: string[];
  /** KeyOps itself acted (its own acknowledge or resolve echoed back). */
  fromKeyOps: boolean;
  /** When it happened in PagerDuty (the event's occurred_at). */
  occurredAt?: Date;
}

/**
 * On-call paging for workflows: pages when a workflow starts (dedup_key = workflow id), shows
 * who is on call, takes acknowledgements from Slack and from PagerDuty, and never blocks a step.
 */
export class PagingService {
  constructor(private readonly o: PagingOptions) {}

  get enabled(): boolean {
    return this.o.pager.enabled;
  }

  /** The wait between two tries of one send (PAGERDUTY_RETRY_DELAY_SECONDS). */
  get retryDelayMs(): number {
    return this.o.retry.delayMs;
  }

  /** The page job: triggers (with retries), then shows who is on call and plans a reminder. */
  async trigger(workflowId: string): Promise<void> {
    const w = await this.o.service.get(workflowId);
    if (!this.enabled || w.status !== "OPEN") return;
    const request = await this.request(w);
    // Each failed try shows in the message at once, in order; the last decides.
    let shown = Promise.resolve();
    try {
      await this.o.withRetries(
        () => this.o.pager.trigger(request),
        (error, attempt) => {
          const note = `${error.message} (try ${attempt} of ${this.o.retry.attempts})`;
          shown = shown.then(async () => {
            await this.change(w.id, BOT_ACTOR, { kind: "retrying", error: note });
          });
        },
      );
    } catch (error) {
      await shown;
      const message = `${(error as Error).message}; gave up after ${this.o.retry.attempts} tries`;
      await this.change(w.id, BOT_ACTOR, { kind: "gave-up", error: message });
      return;
    }
    await shown;
    const onCall = await this.onCallSlackUsers();
    await this.change(w.id, BOT_ACTOR, { kind: "triggered", onCall });
    await this.o.jobs.remindUnacknowledged(w.id, new Date(Date.now() + this.o.acknowledgeWithinMs));
  }

  /**
   * The deadline job: the definition's overdue step not done and the workflow still open, on-call
   * is paged on an incident of its own (the first page may be acknowledged already), then the
   * thread says so. Safe to repeat: PagerDuty dedups the key, the event is recorded once.
   */
  async deadlinePassed(workflowId: string): Promise<void> {
    const w = await this.o.service.get(workflowId);
    const overdue = definitionOf(w.kind).overdue;
    if (!overdue || w.status !== "OPEN" || !w.deadlineAt) return;
    // The rule's step (offboarding: the rotation), or the whole workflow (a quarter's maintenance).
    const step = overdue.step === undefined ? undefined : w.steps.find((s) => s.key === overdue.step);
    if (overdue.step !== undefined && (!step || step.status === "DONE")) return;
    const due = w.deadlineAt.toISOString();
    const late = overdue.pageAfterMs ? `, ${humanDays(overdue.pageAfterMs)} ago` : "";
    const what = step ? `${step.title} not done` : "still open";
    if (this.enabled) {
      const request = await this.request(w);
      await this.o.withRetries(
        () =>
          this.o.pager.trigger({
            ...request,
            dedupKey: overdueKey(w.id),
            severity: overdue.severity,
            summary: `KeyOps #${w.number}: ${w.title} is past its deadline (${due}${late}): ${what}`,
            details: { ...request.details, deadline: due, ...(step ? { step: step.title } : {}) },
          }),
        () => {},
      );
    }
    await this.o.service.apply(
      w.id,
      {
        type: "record",
        action: "deadline.missed",
        actor: BOT_ACTOR,
        ...(step ? { stepKey: step.key } : {}),
        detail: { due, paged: this.enabled },
      },
      `deadline:${w.id}`,
    );
  }

  /** The resolve job: the workflow ended, so its page is resolved too (and a deadline's page). */
  async resolve(workflowId: string): Promise<void> {
    const w = await this.o.service.get(workflowId);
    if (this.enabled && (await this.o.service.timeline(w.id)).some((e) => e.action === "deadline.missed")) {
      await this.o.withRetries(
        () => this.o.pager.resolve(overdueKey(w.id)),
        () => {},
      );
    }
    if (!this.enabled || w.page.status === "resolved" || w.page.status === "off") return;
    await this.o.withRetries(
      () => this.o.pager.resolve(w.id),
      () => {},
    );
    await this.change(w.id, BOT_ACTOR, { kind: "resolved" });
  }

  /** The Acknowledge button: refused (and audited) before PagerDuty is asked, if it may not be done. */
  async acknowledgeFromSlack(workflowId: string, actor: string, requestKey: string): Promise<void> {
    const command = { type: "page-acknowledge", actor } as const;
    await this.o.service.check(workflowId, command);
    await this.send(() => this.o.pager.acknowledge(workflowId), "acknowledgement");
    await this.o.service.apply(workflowId, command, requestKey);
  }

  async resolveFromSlack(workflowId: string, actor: string, requestKey: string): Promise<void> {
    const command = { type: "page-resolve", actor } as const;
    await this.o.service.check(workflowId, command);
    await this.send(() => this.o.pager.resolve(workflowId), "resolve");
    await this.o.service.apply(workflowId, command, requestKey);
  }

  /** Page again: the state machine's page effect queues the page job. */
  async pageAgain(workflowId: string, actor: string, requestKey: string): Promise<void> {
    await this.o.service.apply(workflowId, { type: "page-again", actor }, requestKey);
  }

  /** A webhook's news, applied once: KeyOps's own actions echoed back change nothing. */
  async news(news: PageNews, deliveryKey?: string): Promise<"applied" | "unchanged"> {
    // KeyOps's own acknowledge or resolve, echoed back, changes nothing.
    if (news.fromKeyOps && (news.kind === "acknowledged" || news.kind === "resolved")) return "unchanged";
    const by = news.by ?? "PagerDuty";
    const to = (news.to ?? []).join(", ");
    const at = news.occurredAt ? { at: news.occurredAt } : {};
    const change: PageChange =
      news.kind === "acknowledged" || news.kind === "resolved"
        ? { kind: news.kind, by, ...at }
        : { kind: news.kind, by, ...(to ? { to } : {}), ...at };
    const changed = await this.o.service.apply(
      news.workflowId,
      { type: "page-change", actor: "pagerduty", change },
      deliveryKey,
    );
    return changed ? "applied" : "unchanged";
  }

  /**
   * The change-event job: one finished rotation (by run id) on the service's timeline in PagerDuty.
   * It never touches the workflow. A failure is logged; a retryable one is thrown for the job to try
   * again later, until its last attempt.
   */
  async changeEvent(
    workflowId: string,
    runId: number,
    { lastAttempt } = { lastAttempt: true },
  ): Promise<void> {
    if (!this.enabled) return;
    const w = await this.o.service.get(workflowId);
    const step = w.steps.find((s) => s.result?.rotations?.some((r) => r.runId === runId));
    const rotation = step?.result?.rotations?.find((r) => r.runId === runId);
    if (!step || !rotation || rotation.failed > 0) return;
    const link = await this.messageLink(w);
    const rows = rotation.rows.toLocaleString("en-US");
    const change: ChangeEvent = {
      summary: `${rotation.environment} key rotated to v${rotation.toVersion}: ${rows} ${rotation.rows === 1 ? "row" : "rows"}, ${digestWords(rotation.digestUnchanged, rotation.applicationWrites)}`,
      at:
        step.finishedAt ??
        new Date(rotation.startedAt ? Date.parse(rotation.startedAt) + rotation.durationMs : Date.now()),
      source: "keyops",
      details: {
        workflow: `#${w.number} ${definitionOf(w.kind).name}`,
        environment: rotation.environment,
        version: `v${rotation.toVersion}`,
        fingerprint: rotation.toFingerprint,
        rows: String(rotation.rows),
        reencrypted: String(rotation.reencrypted),
        digest: digestWords(rotation.digestUnchanged, rotation.applicationWrites),
        run: String(rotation.runId),
        requester: w.requestedBy,
      },
      ...(link ? { link } : {}),
    };
    try {
      await this.o.withRetries(
        () => this.o.pager.change(change),
        (error, attempt) =>
          this.o.log.warn("PagerDuty change event failed; trying again", {
            workflow: w.number,
            run: runId,
            attempt,
            error: error.message,
          }),
      );
    } catch (error) {
      // The pager says when trying again cannot help (PagerDuty's PagingError: a 400, a refused key).
      const retryable = (error as { retryable?: unknown }).retryable !== false;
      const fields = { workflow: w.number, run: runId, error: (error as Error).message };
      if (retryable && !lastAttempt) {
        this.o.log.warn("PagerDuty change event failed; the job will try again later", fields);
        throw error;
      }
      this.o.log.error("PagerDuty change event failed; giving up (the rotation itself succeeded)", fields);
      return;
    }
    this.o.log.info("PagerDuty change event sent", { workflow: w.number, run: runId });
  }

  /** The reminder job: on-call mentioned in the thread while the page waits; then the next one. */
  async remindUnacknowledged(workflowId: string): Promise<void> {
    const changed = await this.change(workflowId, BOT_ACTOR, { kind: "unacknowledged" });
    if (changed)
      await this.o.jobs.remindUnacknowledged(workflowId, new Date(Date.now() + this.o.acknowledgeWithinMs));
  }

  /**
   * A link to the workflow's message. The message is delivered from the outbox after the start
   * commits, so the page (queued at the same commit) waits a few seconds for it; past that, or
   * while Slack is down, on-call is paged without the link.
   */
  private async messageLink(w: WorkflowSnapshot): Promise<string | undefined> {
    let shown = w;
    for (const deadline = Date.now() + MESSAGE_WAIT_MS; !shown.messageTs && Date.now() < deadline; ) {
      await sleep(MESSAGE_POLL_MS);
      shown = await this.o.service.get(w.id);
    }
    return this.o.publisher.permalink(shown).catch(() => undefined);
  }

  private async request(w: WorkflowSnapshot): Promise<PageRequest> {
    const definition = definitionOf(w.kind);
    const link = await this.messageLink(w);
    return {
      dedupKey: w.id,
      summary: `KeyOps #${w.number}: ${w.title}${w.inputs.summary ? ` — ${w.inputs.summary}` : ""}`,
      // A drill is a rehearsal: on-call sees it, nobody is woken for it.
      severity: w.inputs.drill ? "info" : (this.o.severities[w.kind] ?? definition.pageSeverity(w.inputs)),
      source: "keyops",
      component: w.inputs.environments.join(","),
      details: {
        workflow: `#${w.number} ${definition.name}`,
        environments: w.inputs.environments.join(", "),
        requester: w.requestedBy,
        ...(w.inputs.severity ? { severity: w.inputs.severity } : {}),
        ...(w.inputs.subjectUserId ? { leaving: w.inputs.subjectUserId } : {}),
      },
      ...(link ? { link } : {}),
    };
  }

  private async onCallSlackUsers(): Promise<string[]> {
    const people = await this.o.pager.onCall().catch(() => []);
    const ids: string[] = [];
    for (const person of people) {
      const id = person.email ? await this.o.directory.userIdByEmail(person.email) : undefined;
      if (id && !ids.includes(id)) ids.push(id);
    }
    return ids;
  }

  private async send(call: () => Promise<void>, what: string): Promise<void> {
    try {
      await this.o.withRetries(call, () => {});
    } catch (error) {
      throw new UserError(`PagerDuty did not take the ${what}: ${(error as Error).message}. Try again.`);
    }
  }

  private change(workflowId: string, actor: string, change: PageChange) {
    return this.o.service.apply(workflowId, { type: "page-change", actor, change });
  }
}

function humanDays(ms: number): string {
  const days = Math.round(ms / 86_400_000);
  return days >= 1 ? `${days} ${days === 1 ? "day" : "days"}` : `${Math.round(ms / 60_000)} min`;
}

/** The dedup key of a workflow's past-its-deadline page (the first page's is the workflow id). */
export function overdueKey(workflowId: string): string {
  return `${workflowId}:overdue`;
}
