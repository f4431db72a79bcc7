import type { UpdatedIntegration } from "../engine/guide-table.js";
import type { ApproverIds } from "./approvers.js";
import type { TimelineEvent, WorkflowSnapshot } from "./types.js";

/**
 * Where a workflow is shown: the Slack message, its thread and files there (src/slack/publisher.ts).
 * The message, its updates, the thread lines and the approval request are delivered from the
 * publication outbox (publication-delivery.ts); `key` names the outbox entry and is carried by the
 * message, so a retry after an unknown outcome finds what an earlier attempt posted.
 */
export interface WorkflowPublisher {
  /** Posts the workflow's message; returns its ts. */
  post(w: WorkflowSnapshot, key: string): Promise<string>;
  /** Re-renders the message in place. */
  update(w: WorkflowSnapshot): Promise<void>;
  /** One thread line for one audit event; returns its ts. */
  log(w: WorkflowSnapshot, event: TimelineEvent, key: string): Promise<string>;
  /** The ts of the message carrying `key` (in the channel, or in the workflow's thread), if any. */
  findPublished(w: WorkflowSnapshot, key: string, where: "channel" | "thread"): Promise<string | undefined>;
  /** The audit query's rows in the thread, under its summary line. */
  recentAccess(w: WorkflowSnapshot, summary: string, rows: UpdatedIntegration[]): Promise<void>;
  /** Asks the approvers, in the thread, for the approval the workflow waits for; returns its ts. */
  requestApproval(w: WorkflowSnapshot, approvers: ApproverIds, key: string): Promise<string>;
  /** A link to the workflow's message, for PagerDuty's incident. */
  permalink(w: WorkflowSnapshot): Promise<string | undefined>;
  /** The markdown post-mortem as a file in the thread. */
  uploadPostmortem(w: WorkflowSnapshot, timeline: TimelineEvent[]): Promise<void>;
}

/**
 * The chat platform refused a publication for good (the message was deleted, or the content can
 * never be accepted): the outbox skips it, names it in the log, and delivers what follows.
 */
export class PublicationRefusedError extends Error {
  constructor(readonly reason: string) {
    super(`refused for good: ${reason}`);
    this.name = "PublicationRefusedError";
  }
}

/** Durable background work (pg-boss): each job runs once across replicas and survives restarts. */
export interface WorkflowJobs {
  /** `attempt` tells runs of the same step apart (a Retry is a new job, never merged into the last). */
  runStep(workflowId: string, stepKey: string, attempt: string): Promise<void>;
  remindAt(workflowId: string, at: Date): Promise<void>;
  /** At the deadline: pages on-call if the definition's overdue step is not done (once per workflow). */
  checkDeadlineAt(workflowId: string, deadline: Date): Promise<void>;
  /** Pages on-call for the workflow (retried in the background), or resolves its page. */
  page(workflowId: string, action: "trigger" | "resolve"): Promise<void>;
  /** A reminder in the thread if the page is still not acknowledged at `at`. */
  remindUnacknowledged(workflowId: string, at: Date): Promise<void>;
}
