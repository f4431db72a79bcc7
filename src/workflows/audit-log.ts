import { createHash } from "node:crypto";
import type { Prisma, PrismaClient } from "../generated/prisma/client.js";
import type { AuditAction, TimelineEvent } from "./types.js";

/**
 * Options for every transaction that appends audit events: appends queue on one lock, so under a
 * burst a transaction may wait its turn longer than Prisma's 2-second default allows.
 */
export const AUDITED_TRANSACTION = { maxWait: 15_000, timeout: 30_000 } as const;

/** Serialises appends so that each event's prevHash is the hash of the one before it. */
const AUDIT_APPEND_LOCK = 4_712_001;
export const GENESIS_HASH = "0".repeat(64);

export interface AuditEntry {
  workflowId?: string;
  actor: string;
  action: AuditAction;
  stepKey?: string;
  detail?: TimelineEvent["detail"];
  at?: Date;
}

interface HashedFields {
  sequence: number;
  workflowId: string | null;
  at: Date;
  actor: string;
  action: string;
  stepKey: string | null;
  detail: unknown;
}

/** Appends events inside the caller's transaction: they commit or vanish with its state change. */
export async function appendAuditEvents(
  tx: Prisma.TransactionClient,
  entries: AuditEntry[],
): Promise<TimelineEvent[]> {
  if (entries.length === 0) return [];
  await tx.$executeRaw`SELECT pg_advisory_xact_lock(${AUDIT_APPEND_LOCK})`;
  const last = await tx.auditEvent.findFirst({ orderBy: { sequence: "desc" } });
  let sequence = last?.sequence ?? 0;
  let prevHash = last?.hash ?? GENESIS_HASH;
  const appended: TimelineEvent[] = [];
  for (const entry of entries) {
    sequence += 1;
    const fields: HashedFields = {
      sequence,
      workflowId: entry.workflowId ?? null,
      at: entry.at ?? new Date(),
      actor: entry.actor,
      action: entry.action,
      stepKey: entry.stepKey ?? null,
      detail: entry.detail ?? {},
    };
    const hash = hashEvent(prevHash, fields);
    await tx.auditEvent.create({
      data: { ...fields, detail: fields.detail as Prisma.InputJsonValue, prevHash, hash },
    });
    appended.push(toTimelineEvent(fields));
    prevHash = hash;
  }
  return appended;
}

export interface ChainVerdict {
  ok: boolean;
  events: number;
  /** The first event whose stored hashes do not match its content or its predecessor. */
  brokenAt?: number;
  problem?: string;
}

/** Recomputes the whole chain; any edited, removed or reordered event breaks it. */
export async function verifyAuditChain(prisma: PrismaClient): Promise<ChainVerdict> {
  const events = await prisma.auditEvent.findMany({ orderBy: { sequence: "asc" } });
  let prevHash = GENESIS_HASH;
  let expectedSequence = 1;
  for (const event of events) {
    if (event.sequence !== expectedSequence) {
      return { ok: false, events: events.length, brokenAt: event.sequence, problem: "missing event" };
    }
    if (event.prevHash !== prevHash) {
      return { ok: false, events: events.length, brokenAt: event.sequence, problem: "chain broken" };
    }
    if (hashEvent(prevHash, event) !== event.hash) {
      return { ok: false, events: events.length, brokenAt: event.sequence, problem: "content altered" };
    }
    prevHash = event.hash;
    expectedSequence += 1;
  }
  return { ok: true, events: events.length };
}

export async function readTimeline(prisma: PrismaClient, workflowId: string): Promise<TimelineEvent[]> {
  const events = await prisma.auditEvent.findMany({ where: { workflowId }, orderBy: { sequence: "asc" } });
  return events.map(toTimelineEvent);
}

function hashEvent(prevHash: string, fields: HashedFields): string {
  const canonical = canonicalJson({
    sequence: fields.sequence,
    workflowId: fields.workflowId,
    at: fields.at.toISOString(),
    actor: fields.actor,
    action: fields.action,
    stepKey: fields.stepKey,
    detail: fields.detail,
  });
  return createHash("sha256").update(`${prevHash}\n${canonical}`).digest("hex");
}

/** JSON with object keys sorted, so jsonb's own key order cannot change a hash. */
function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (value !== null && typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(",")}}`;
  }
  return JSON.stringify(value);
}

function toTimelineEvent(fields: HashedFields): TimelineEvent {
  return {
    sequence: fields.sequence,
    at: fields.at,
    actor: fields.actor,
    action: fields.action as AuditAction,
    ...(fields.stepKey ? { stepKey: fields.stepKey } : {}),
    detail: fields.detail as TimelineEvent["detail"],
  };
}
