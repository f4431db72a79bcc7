import type { AuditEvent, PrismaClient } from "../generated/prisma/client.js";

// The audit log for a SIEM: one event per line, as stored (jsonl) or as an OCSF API Activity event
// (class_uid 6003, category Application Activity; OCSF 1.6.0, events/application/api_activity.json:
// actor, api and src_endpoint required, with the base event's activity_id, category_uid, class_uid,
// metadata, severity_id, time and type_uid).

export type ExportFormat = "jsonl" | "ocsf";
export const EXPORT_FORMATS: readonly ExportFormat[] = ["jsonl", "ocsf"];

const OCSF_VERSION = "1.6.0";
const API_ACTIVITY = {
  class_uid: 6003,
  class_name: "API Activity",
  category_uid: 6,
  category_name: "Application Activity",
};
const ACTIVITY = {
  create: [1, "Create"],
  read: [2, "Read"],
  update: [3, "Update"],
  delete: [4, "Delete"],
} as const;

/** The stored event as one JSON object (what `keyops audit verify` recomputes). */
export function eventJson(event: AuditEvent): Record<string, unknown> {
  return {
    sequence: event.sequence,
    at: event.at.toISOString(),
    workflowId: event.workflowId,
    actor: event.actor,
    action: event.action,
    stepKey: event.stepKey,
    detail: event.detail,
    prevHash: event.prevHash,
    hash: event.hash,
    keyed: event.keyed,
  };
}

/** What the event did to the thing it names, as OCSF's CRUD activity. */
function activityOf(action: string): readonly [number, string] {
  if (action === "key.exported") return ACTIVITY.read;
  if (action === "access.revoked") return ACTIVITY.delete;
  if (/\.(started|granted|requested|triggered)$/.test(action)) return ACTIVITY.create;
  return ACTIVITY.update;
}

/** The actor as KeyOps records it: a Slack user id, `cli:<user>@<host>`, "keyops" or "pagerduty". */
function actorOf(actor: string): { user: Record<string, string>; host?: string } {
  const cli = /^cli:([^@]*)@(.*)$/.exec(actor);
  if (cli) return { user: { name: cli[1] as string, type: "User" }, host: cli[2] as string };
  if (/^[UW][A-Z0-9]+$/.test(actor)) return { user: { uid: actor, type: "User" } };
  return { user: { name: actor, type: "System" } };
}

/** One OCSF API Activity event for an audit event. */
export function ocsfEvent(event: AuditEvent): Record<string, unknown> {
  const [activityId, activityName] = activityOf(event.action);
  const refused = event.action === "permission.refused" || event.action.endsWith(".failed");
  const { user, host } = actorOf(event.actor);
  return {
    ...API_ACTIVITY,
    activity_id: activityId,
    activity_name: activityName,
    type_uid: API_ACTIVITY.class_uid * 100 + activityId,
    type_name: `${API_ACTIVITY.class_name}: ${activityName}`,
    time: event.at.getTime(),
    severity_id: refused ? 3 : 1,
    severity: refused ? "Medium" : "Informational",
    status_id: refused ? 2 : 1,
    status: refused ? "Failure" : "Success",
    message: event.action,
    actor: { user },
    api: { operation: event.action, service: { name: "KeyOps" } },
    src_endpoint: host ? { hostname: host } : { name: user.uid ? "slack" : user.name },
    ...(event.workflowId ? { resources: [{ uid: event.workflowId, type: "workflow" }] } : {}),
    metadata: {
      version: OCSF_VERSION,
      product: { name: "KeyOps", vendor_name: "KeyOps" },
      uid: String(event.sequence),
      event_code: event.action,
      original_time: event.at.toISOString(),
      sequence: event.sequence,
    },
    unmapped: {
      step_key: event.stepKey,
      detail: event.detail,
      prev_hash: event.prevHash,
      hash: event.hash,
      keyed: event.keyed,
    },
  };
}

/** Writes the events from `since` on, oldest first, one line each, in batches (any size of log). */
export async function exportAuditEvents(
  prisma: PrismaClient,
  format: ExportFormat,
  since: Date | undefined,
  write: (line: string) => void,
): Promise<number> {
  const toJson = format === "ocsf" ? ocsfEvent : eventJson;
  let after = 0;
  let count = 0;
  for (;;) {
    const batch = await prisma.auditEvent.findMany({
      where: { sequence: { gt: after }, ...(since ? { at: { gte: since } } : {}) },
      orderBy: { sequence: "asc" },
      take: 1000,
    });
    for (const event of batch) write(`${JSON.stringify(toJson(event))}\n`);
    count += batch.length;
    if (batch.length < 1000) return count;
    after = (batch.at(-1) as AuditEvent).sequence;
  }
}
