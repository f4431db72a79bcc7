import { createHash, createHmac } from "node:crypto";
import { auditChainKeyFor } from "../audit/chain-key.js";
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

export interface HashedFields {
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
  const key = await chainKey(tx);
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
    const hash = hashEvent(prevHash, fields, key);
    await tx.auditEvent.create({
      data: { ...fields, detail: fields.detail as Prisma.InputJsonValue, prevHash, hash, keyed: true },
    });
    appended.push(toTimelineEvent(fields));
    prevHash = hash;
  }
  return appended;
}

/** The chain's last event as published outside the database (see src/audit/audit-heads.ts). */
export interface ChainHead {
  sequence: number;
  hash: string;
  publishedAt: string;
}

export interface ChainVerdict {
  ok: boolean;
  events: number;
  /** The first event chained with the key (earlier ones are the unkeyed chain of before); null if none. */
  keyedFrom: number | null;
  /** The first event whose stored hashes do not match its content, its predecessor or the published head. */
  brokenAt?: number;
  problem?: string;
  /** The last head published outside the database, when one was given. */
  publishedHead?: ChainHead;
  /** The log ends before the last published head: its tail was removed or the database rolled back. */
  tailMissing: boolean;
}

/**
 * Recomputes the whole chain: any edited, removed or reordered event breaks it, and so does an
 * unkeyed event after a keyed one. Against the last head published outside the database, a removed
 * tail, a chain rewritten from the start and a rolled-back database are found too.
 */
export async function verifyAuditChain(
  prisma: PrismaClient,
  publishedHead?: ChainHead,
): Promise<ChainVerdict> {
  const key = await chainKey(prisma);
  const events = await prisma.auditEvent.findMany({ orderBy: { sequence: "asc" } });
  let prevHash = GENESIS_HASH;
  let expectedSequence = 1;
  let keyedFrom: number | null = null;
  const verdict = (extra: Partial<ChainVerdict> = {}): ChainVerdict => ({
    ok: extra.problem === undefined,
    events: events.length,
    keyedFrom,
    ...(publishedHead ? { publishedHead } : {}),
    tailMissing: false,
    ...extra,
  });
  let atHead: string | undefined;
  for (const event of events) {
    if (event.sequence !== expectedSequence)
      return verdict({ brokenAt: expectedSequence, problem: `event #${expectedSequence} is missing` });
    if (event.prevHash !== prevHash)
      return verdict({
        brokenAt: event.sequence,
        problem: "chain broken (it does not point at the event before)",
      });
    if (event.keyed) keyedFrom ??= event.sequence;
    else if (keyedFrom !== null)
      return verdict({ brokenAt: event.sequence, problem: "unkeyed event after the chain was keyed" });
    if (hashEvent(prevHash, event, event.keyed ? key : undefined) !== event.hash)
      return verdict({ brokenAt: event.sequence, problem: "content altered" });
    if (publishedHead && event.sequence === publishedHead.sequence) atHead = event.hash;
    prevHash = event.hash;
    expectedSequence += 1;
  }
  if (publishedHead) {
    const last = events.length;
    if (last < publishedHead.sequence) {
      return verdict({
        brokenAt: last + 1,
        tailMissing: true,
        problem:
          `tail missing: the log ends at event #${last}, but event #${publishedHead.sequence} was published ` +
          `at ${publishedHead.publishedAt} (events removed, or the database rolled back)`,
      });
    }
    if (atHead !== publishedHead.hash) {
      return verdict({
        brokenAt: publishedHead.sequence,
        problem:
          `event #${publishedHead.sequence} is not the one published at ${publishedHead.publishedAt} ` +
          "(the chain was rewritten, or the database rolled back and written again)",
      });
    }
  }
  return verdict();
}

/** The last event's sequence and hash (sequence 0 and the genesis hash for an empty log). */
export async function readChainHead(prisma: PrismaClient): Promise<{ sequence: number; hash: string }> {
  const last = await prisma.auditEvent.findFirst({ orderBy: { sequence: "desc" } });
  return { sequence: last?.sequence ?? 0, hash: last?.hash ?? GENESIS_HASH };
}

export async function readTimeline(prisma: PrismaClient, workflowId: string): Promise<TimelineEvent[]> {
  const events = await prisma.auditEvent.findMany({ where: { workflowId }, orderBy: { sequence: "asc" } });
  return events.map(toTimelineEvent);
}

/** HMAC-SHA256 under `key`; without one, the plain SHA-256 of the unkeyed chain before the key. */
export function hashEvent(prevHash: string, fields: HashedFields, key?: Buffer): string {
  const canonical = canonicalJson({
    sequence: fields.sequence,
    workflowId: fields.workflowId,
    at: fields.at.toISOString(),
    actor: fields.actor,
    action: fields.action,
    stepKey: fields.stepKey,
    detail: fields.detail,
  });
  const input = `${prevHash}\n${canonical}`;
  return (key ? createHmac("sha256", key) : createHash("sha256")).update(input).digest("hex");
}

/** The chain key of the database `client` is connected to (registered when the runtime opened it). */
async function chainKey(client: Prisma.TransactionClient | PrismaClient): Promise<Buffer> {
  const [row] = await client.$queryRaw<{ name: string }[]>`SELECT current_database() AS name`;
  const key = row ? auditChainKeyFor(row.name) : undefined;
  if (!key)
    throw new Error(
      "the audit chain key of this database is not set (the runtime sets it from the master key)",
    );
  return key;
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
