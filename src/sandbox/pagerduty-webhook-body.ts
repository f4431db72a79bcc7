import { createHmac, randomUUID } from "node:crypto";

/** PagerDuty's v3 webhook deliveries as PagerDuty sends them: the tests' and the sandbox's PagerDuty stand-ins. */

/** The `X-PagerDuty-Signature` value PagerDuty would send for this body. */
export function signPagerDutyWebhook(secret: string, body: string | Buffer): string {
  return `v1=${createHmac("sha256", secret).update(body).digest("hex")}`;
}

export interface WebhookBodyOptions {
  eventType: string;
  incidentKey: string;
  /** The agent's display name (its `summary`); no agent when omitted. */
  agentName?: string;
  agentType?: "user_reference" | "service_reference";
  /** Derived from the event type when omitted. */
  status?: "triggered" | "acknowledged" | "resolved";
  incidentId?: string;
  title?: string;
  assignees?: string[];
  occurredAt?: string;
  /** event.id; a new one each time when omitted. */
  eventId?: string;
}

/** A v3 webhook body shaped like PagerDuty's, as the raw JSON text it signs. */
export function webhookBody(options: WebhookBodyOptions): string {
  const incidentId = options.incidentId ?? "PINC0001";
  const reference = (kind: string, id: string, summary: string) => ({
    html_url: `https://keyops.pagerduty.com/${kind}s/${id}`,
    id,
    self: `https://api.pagerduty.com/${kind}s/${id}`,
    summary,
    type: `${kind}_reference`,
  });
  const status =
    options.status ??
    (options.eventType === "incident.acknowledged"
      ? "acknowledged"
      : options.eventType === "incident.resolved"
        ? "resolved"
        : "triggered");
  const agentType = options.agentType ?? "user_reference";
  return JSON.stringify({
    event: {
      id: options.eventId ?? randomUUID(),
      event_type: options.eventType,
      resource_type: "incident",
      occurred_at: options.occurredAt ?? new Date().toISOString(),
      agent: options.agentName
        ? reference(agentType === "user_reference" ? "user" : "service", "PAGENT1", options.agentName)
        : null,
      client: { name: "PagerDuty" },
      data: {
        id: incidentId,
        type: "incident",
        self: `https://api.pagerduty.com/incidents/${incidentId}`,
        html_url: `https://keyops.pagerduty.com/incidents/${incidentId}`,
        number: 42,
        status,
        incident_key: options.incidentKey,
        created_at: "2026-01-01T00:00:00Z",
        title: options.title ?? "Key incident: production key compromised",
        service: reference("service", "PSERVIC", "KeyOps"),
        assignees: (options.assignees ?? ["Ada Lovelace"]).map((name, i) =>
          reference("user", `PUSER${i}`, name),
        ),
        escalation_policy: reference("escalation_policy", "PPOLICY", "Key incidents"),
        teams: [reference("team", "PTEAM01", "Security")],
        priority: null,
        urgency: "high",
        conference_bridge: null,
        resolve_reason: null,
      },
    },
  });
}
