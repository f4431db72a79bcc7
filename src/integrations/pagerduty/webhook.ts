import { createHmac, timingSafeEqual } from "node:crypto";
import { z } from "zod";

/** An incident event from a PagerDuty v3 webhook, reduced to what the workflows use. */
export interface WebhookEvent {
  /** e.g. "incident.acknowledged", "incident.resolved", "incident.escalated", "incident.reassigned". */
  eventType: string;
  /** event.id: unique per event (the X-Webhook-Id header is unique per delivery). */
  eventId?: string;
  occurredAt?: string;
  /** Who or what acted. v3 sends a reference: a name (its `summary`) but never an email. */
  agent?: {
    id?: string;
    name?: string;
    /** "user_reference" for a person; "service_reference" when an integration (e.g. KeyOps) acted. */
    type?: string;
  };
  incident: {
    id: string;
    status: "triggered" | "acknowledged" | "resolved";
    /** The Events API dedup_key the incident was opened with: KeyOps's workflow id. */
    incidentKey: string;
    htmlUrl: string;
    title: string;
    /** Assignees' display names. */
    assignees?: string[];
  };
}

/** The body is not a v3 incident event. The message names what is wrong, never quotes the body. */
export class WebhookPayloadError extends Error {
  override name = "WebhookPayloadError";
}

const SIGNATURE = /^v1=([0-9a-f]{64})$/i;

/**
 * Checks `X-PagerDuty-Signature` (`v1=<hex HMAC-SHA256(secret, raw body)>`, comma-separated when
 * PagerDuty signs with two secrets during a rotation): true when any v1 signature matches.
 */
export function verifyPagerDutySignature(
  rawBody: Buffer | string,
  header: string | undefined,
  secret: string,
): boolean {
  if (!header || !secret) return false;
  const expected = createHmac("sha256", secret).update(rawBody).digest();
  let matched = false;
  for (const part of header.split(",")) {
    const hex = SIGNATURE.exec(part.trim())?.[1];
    if (!hex) continue;
    // Every candidate is compared so the time taken doesn't tell which one matched.
    if (timingSafeEqual(Buffer.from(hex, "hex"), expected)) matched = true;
  }
  return matched;
}

const reference = z.object({
  id: z.string().optional(),
  summary: z.string().optional(),
  type: z.string().optional(),
});

const envelope = z.object({
  event: z.object({
    id: z.string().optional(),
    event_type: z.string().min(1),
    occurred_at: z.string().optional(),
    agent: reference.nullish(),
    data: z.unknown().optional(),
  }),
});

const incident = z.object({
  id: z.string().min(1),
  type: z.literal("incident"),
  status: z.enum(["triggered", "acknowledged", "resolved"]),
  incident_key: z.string().min(1),
  html_url: z.string().min(1),
  title: z.string(),
  assignees: z.array(reference).nullish(),
});

/** Parses a verified v3 webhook body carrying an incident; throws WebhookPayloadError otherwise. */
export function parsePagerDutyWebhook(rawBody: Buffer | string): WebhookEvent {
  let json: unknown;
  try {
    json = JSON.parse(typeof rawBody === "string" ? rawBody : rawBody.toString("utf8"));
  } catch {
    throw new WebhookPayloadError("PagerDuty webhook body is not JSON");
  }
  const outer = envelope.safeParse(json);
  if (!outer.success) {
    throw new WebhookPayloadError(`PagerDuty webhook is not a v3 event (${firstProblem(outer.error)})`);
  }
  const { event } = outer.data;
  const data = event.data as { type?: unknown } | null | undefined;
  if (typeof data !== "object" || data === null || data.type !== "incident") {
    throw new WebhookPayloadError(`PagerDuty webhook ${event.event_type} carries no incident`);
  }
  const inner = incident.safeParse(data);
  if (!inner.success) {
    throw new WebhookPayloadError(
      `PagerDuty webhook ${event.event_type} has a bad incident (${firstProblem(inner.error, "event.data")})`,
    );
  }
  const found = inner.data;
  const assignees = found.assignees?.flatMap((assignee) => (assignee.summary ? [assignee.summary] : []));
  return {
    eventType: event.event_type,
    ...(event.id ? { eventId: event.id } : {}),
    ...(event.occurred_at ? { occurredAt: event.occurred_at } : {}),
    ...(event.agent ? { agent: agentOf(event.agent) } : {}),
    incident: {
      id: found.id,
      status: found.status,
      incidentKey: found.incident_key,
      htmlUrl: found.html_url,
      title: found.title,
      ...(assignees ? { assignees } : {}),
    },
  };
}

function agentOf(agent: z.infer<typeof reference>): NonNullable<WebhookEvent["agent"]> {
  return {
    ...(agent.id ? { id: agent.id } : {}),
    ...(agent.summary ? { name: agent.summary } : {}),
    ...(agent.type ? { type: agent.type } : {}),
  };
}

// Names the field, not its value: the body may hold anything.
function firstProblem(error: z.ZodError, prefix?: string): string {
  const issue = error.issues[0];
  if (!issue) return "invalid";
  const where = [prefix, ...issue.path.map(String)].filter(Boolean).join(".") || "body";
  return issue.code === "invalid_type" ? `${where} missing or of the wrong type` : `${where} invalid`;
}
