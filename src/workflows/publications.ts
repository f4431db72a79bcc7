import type { Prisma } from "../generated/prisma/client.js";
import type { ApproverIds } from "./approvers.js";
import type { TimelineEvent } from "./types.js";

/**
 * What a workflow shows in Slack, as outbox entries written in the transaction of the change they
 * show: the message (the first entry of every workflow), re-renders of it, one thread line per
 * audit event and the approval request. PublicationDelivery delivers them afterwards, in order.
 */
export type Publication =
  | { kind: "post" }
  | { kind: "update" }
  | { kind: "line"; event: TimelineEvent }
  | { kind: "approval"; approvers: ApproverIds };

/** Queues `publications` for one workflow inside `tx`: they commit, or vanish, with the change. */
export async function queuePublications(
  tx: Prisma.TransactionClient,
  workflowId: string,
  publications: Publication[],
): Promise<void> {
  if (publications.length === 0) return;
  await tx.publication.createMany({
    data: publications.map(({ kind, ...payload }) => ({
      workflowId,
      kind,
      payload: payload as Prisma.InputJsonValue,
    })),
  });
}

/** A thread line's event as stored in the outbox (JSON) read back. */
export function eventOf(payload: unknown): TimelineEvent {
  const event = (payload as { event: TimelineEvent & { at: string } }).event;
  return { ...event, at: new Date(event.at) };
}

/** The publications of one transition: its audit events' lines, then the message's new state. */
export function publicationsOf(events: TimelineEvent[], rerender: boolean): Publication[] {
  return [
    ...(rerender ? [{ kind: "update" } as const] : []),
    ...events.map((event) => ({ kind: "line" as const, event })),
  ];
}
