import type pg from "pg";
import type { PrismaClient } from "../db/prisma.js";
import type { Logger } from "../logger.js";
import type { ApproverIds } from "./approvers.js";
import { PublicationRefusedError, type WorkflowPublisher } from "./ports.js";
import { eventOf } from "./publications.js";
import type { WorkflowSnapshot } from "./types.js";
import { loadWorkflow } from "./workflow-store.js";

export interface PublicationDeliveryOptions {
  prisma: PrismaClient;
  /** Connections for the per-workflow advisory lock (a session lock, released if the process dies). */
  pool: pg.Pool;
  publisher: WorkflowPublisher;
  log: Logger;
  /** How often every replica looks for entries that are due. */
  pollMs?: number;
  /** The first retry's delay; each next one doubles, up to maxBackoffMs. */
  backoffMs?: number;
  maxBackoffMs?: number;
}

interface Entry {
  id: string;
  kind: "post" | "update" | "line" | "approval";
  payload: unknown;
  attempts: number;
  due: boolean;
}

/** Two-key advisory locks: this class id keeps them apart from every other lock of the database. */
const LOCK_CLASS = 7_301;
const ERROR_SHOWN_MAX = 500;

/**
 * Delivers the publication outbox: per workflow in id order (an entry waits for every earlier one,
 * so updates and lines wait for the message's ts), on one replica at a time (a session advisory
 * lock per workflow), retried with exponential backoff while Slack fails, never lost across a
 * restart (entries are rows). At least once towards Slack, made effectively once: an entry is
 * counted as attempted before Slack is called, and a retry of one that was attempted first looks
 * for the message tagged with its key (message metadata) and records that instead of posting again.
 */
export class PublicationDelivery {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private stopped = false;

  constructor(private readonly o: PublicationDeliveryOptions) {}

  start(): void {
    this.timer = setInterval(() => this.kick(), this.o.pollMs ?? 1000);
    this.timer.unref();
    this.kick();
  }

  /** Delivers what is due now (after a commit); a pass already running goes round once more. */
  kick(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.deliverDue()
      .catch((error: Error) => this.o.log.warn("delivering publications failed", { error: error.message }))
      .finally(() => {
        this.running = undefined;
        if (this.again) {
          this.again = false;
          this.kick();
        }
      });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    await this.running;
  }

  /** One pass: every workflow whose oldest undelivered entry is due. */
  async deliverDue(): Promise<void> {
    const heads = await this.o.pool.query<{ workflowId: string; due: boolean }>(
      `SELECT "workflowId", "nextAttemptAt" <= now() AS due FROM (
         SELECT DISTINCT ON ("workflowId") "workflowId", "nextAttemptAt" FROM "Publication"
         WHERE "deliveredAt" IS NULL ORDER BY "workflowId", id) heads`,
    );
    for (const head of heads.rows) {
      if (this.stopped) return;
      if (head.due) await this.deliverWorkflow(head.workflowId);
    }
  }

  private async deliverWorkflow(workflowId: string): Promise<void> {
    const client = await this.o.pool.connect();
    let locked = false;
    try {
      const lock = await client.query<{ locked: boolean }>(
        "SELECT pg_try_advisory_lock($1, hashtext($2)) AS locked",
        [LOCK_CLASS, workflowId],
      );
      locked = lock.rows[0]?.locked === true;
      if (!locked) return; // another replica delivers this workflow now
      while (!this.stopped) {
        const entries = await client.query<Entry>(
          `SELECT id::text, kind, payload, attempts, "nextAttemptAt" <= now() AS due FROM "Publication"
           WHERE "workflowId" = $1 AND "deliveredAt" IS NULL ORDER BY "Publication".id LIMIT 2`,
          [workflowId],
        );
        const [entry, next] = entries.rows;
        if (!entry?.due) return;
        if (!(await this.deliver(client, workflowId, entry, next))) return;
      }
    } finally {
      if (locked)
        await client
          .query("SELECT pg_advisory_unlock($1, hashtext($2))", [LOCK_CLASS, workflowId])
          .catch(() => {});
      client.release();
    }
  }

  /** True when the entry was delivered; false when it failed and waits for its retry. */
  private async deliver(
    client: pg.PoolClient,
    workflowId: string,
    entry: Entry,
    next?: Entry,
  ): Promise<boolean> {
    // A re-render that a later one follows shows nothing the later one does not.
    if (entry.kind === "update" && next?.kind === "update") {
      await markDelivered(client, entry.id, null);
      return true;
    }
    const key = `publication-${entry.id}`;
    // Counted before Slack is called: a crash during the call leaves it attempted (see below).
    await client.query(`UPDATE "Publication" SET attempts = attempts + 1 WHERE id = $1`, [entry.id]);
    try {
      const w = await loadWorkflow(this.o.prisma, workflowId);
      const earlier =
        entry.attempts > 0 && entry.kind !== "update"
          ? await this.o.publisher.findPublished(w, key, entry.kind === "post" ? "channel" : "thread")
          : undefined;
      const ts = earlier ?? (await this.publish(w, entry, key));
      if (entry.kind === "post")
        await client.query(`UPDATE "Workflow" SET "messageTs" = $2 WHERE id = $1 AND "messageTs" IS NULL`, [
          workflowId,
          ts,
        ]);
      await markDelivered(client, entry.id, ts ?? null);
      return true;
    } catch (error) {
      if (error instanceof PublicationRefusedError) {
        // Retrying cannot change it, and every later entry of the workflow waits behind it.
        await client.query(`UPDATE "Publication" SET "deliveredAt" = now(), "lastError" = $2 WHERE id = $1`, [
          entry.id,
          error.message,
        ]);
        this.o.log.error("Slack refused to show part of a workflow for good; skipped it", {
          workflowId,
          publication: entry.kind,
          error: error.reason,
        });
        return true;
      }
      const delayMs = Math.min(
        (this.o.backoffMs ?? 1000) * 2 ** Math.min(entry.attempts, 20),
        this.o.maxBackoffMs ?? 60_000,
      );
      const message = (error as Error).message.slice(0, ERROR_SHOWN_MAX);
      await client.query(
        `UPDATE "Publication" SET "lastError" = $2, "nextAttemptAt" = now() + make_interval(secs => $3) WHERE id = $1`,
        [entry.id, message, delayMs / 1000],
      );
      this.o.log.warn("showing a workflow in Slack failed; it will be retried", {
        workflowId,
        publication: entry.kind,
        attempt: entry.attempts + 1,
        retryInSeconds: delayMs / 1000,
        error: message,
      });
      return false;
    }
  }

  private async publish(w: WorkflowSnapshot, entry: Entry, key: string): Promise<string | undefined> {
    switch (entry.kind) {
      case "post":
        return w.messageTs ?? (await this.o.publisher.post(w, key));
      case "update":
        await this.o.publisher.update(w);
        return undefined;
      case "line":
        return this.o.publisher.log(w, eventOf(entry.payload), key);
      case "approval":
        return this.o.publisher.requestApproval(
          w,
          (entry.payload as { approvers: ApproverIds }).approvers,
          key,
        );
    }
  }
}

async function markDelivered(client: pg.PoolClient, id: string, ts: string | null): Promise<void> {
  await client.query(
    `UPDATE "Publication" SET "deliveredAt" = now(), ts = $2, "lastError" = NULL WHERE id = $1`,
    [id, ts],
  );
}
