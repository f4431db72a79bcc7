import { randomBytes } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { Agent, createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import { loopbackCertificates } from "./loopback-tls.js";
import { signPagerDutyWebhook, webhookBody } from "./pagerduty-webhook-body.js";
import type { Persona } from "./people.js";

/** An incident the bot opened through the Events API, as the PagerDuty panel shows it. */
export interface SandboxIncident {
  id: string;
  number: number;
  dedupKey: string;
  summary: string;
  severity: string;
  status: "triggered" | "acknowledged" | "resolved";
  /** Who acknowledged or resolved it last, and from where. */
  lastChange?: { by: string; at: Date };
  createdAt: Date;
}

export interface SandboxPagerDutySettings {
  routingKey: string;
  apiToken: string;
  webhookSecret: string;
  onCall: Persona;
  /** Where PagerDuty's webhooks go: the bot's /pagerduty/webhook. */
  webhookUrl: () => string;
  log: (message: string) => void;
}

const ESCALATION_POLICY = "PSANDBOX";

/**
 * PagerDuty for the sandbox, over HTTPS on loopback (the bot's PagerDuty client speaks only
 * HTTPS; its agent trusts this stand-in's throw-away CA): the Events API v2, change events, the
 * on-call look-up, and v3 webhooks, signed, into the bot's real route when an incident changes.
 */
export class SandboxPagerDuty {
  readonly incidents = new Map<string, SandboxIncident>();
  readonly escalationPolicyId = ESCALATION_POLICY;
  private readonly listeners = new Set<() => void>();
  private deliveries: Promise<unknown> = Promise.resolve();

  private constructor(
    private readonly server: Server,
    readonly host: string,
    readonly agent: Agent,
    private readonly settings: SandboxPagerDutySettings,
  ) {}

  static async start(settings: SandboxPagerDutySettings): Promise<SandboxPagerDuty> {
    const tls = loopbackCertificates();
    let standin: SandboxPagerDuty | undefined;
    const server = createServer({ key: tls.key, cert: tls.cert }, (req, res) => {
      standin?.handle(req, res).catch(() => res.destroy());
    });
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(0, "127.0.0.1", () => resolve());
    });
    const { port } = server.address() as AddressInfo;
    standin = new SandboxPagerDuty(
      server,
      `127.0.0.1:${port}`,
      new Agent({ ca: tls.ca, keepAlive: false }),
      settings,
    );
    return standin;
  }

  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Someone acknowledged or resolved the incident in PagerDuty: the webhook tells the bot. */
  async act(incidentId: string, action: "acknowledge" | "resolve", by: Persona): Promise<void> {
    const incident = [...this.incidents.values()].find((i) => i.id === incidentId);
    if (!incident) throw new Error("no such incident");
    if (incident.status === "resolved") return;
    if (action === "acknowledge" && incident.status === "acknowledged") return;
    this.change(incident, action === "acknowledge" ? "acknowledged" : "resolved", by.name);
    await this.deliver(incident, by.name, "user_reference");
  }

  async close(): Promise<void> {
    await this.deliveries.catch(() => undefined);
    this.agent.destroy();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private changed(): void {
    for (const listener of [...this.listeners]) listener();
  }

  private change(incident: SandboxIncident, status: SandboxIncident["status"], by: string): void {
    incident.status = status;
    incident.lastChange = { by, at: new Date() };
    this.changed();
  }

  private deliver(
    incident: SandboxIncident,
    agentName: string,
    agentType: "user_reference" | "service_reference",
  ): Promise<void> {
    const body = webhookBody({
      eventType: `incident.${incident.status}`,
      incidentKey: incident.dedupKey,
      incidentId: incident.id,
      title: incident.summary,
      agentName,
      agentType,
      assignees: [this.settings.onCall.name],
    });
    const delivery = fetch(this.settings.webhookUrl(), {
      method: "POST",
      headers: {
        "content-type": "application/json",
        "x-webhook-id": randomBytes(12).toString("hex"),
        "x-pagerduty-signature": signPagerDutyWebhook(this.settings.webhookSecret, body),
      },
      body,
    }).then(
      async (response) => {
        await response.text();
        if (!response.ok) this.settings.log(`PagerDuty webhook answered HTTP ${response.status}`);
      },
      (error: Error) => this.settings.log(`PagerDuty webhook failed: ${error.message}`),
    );
    this.deliveries = this.deliveries.then(() => delivery);
    return delivery;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const url = new URL(req.url ?? "/", "https://pagerduty.invalid");
    const send = (status: number, body: unknown): void => {
      res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body));
    };
    let body: Record<string, unknown> = {};
    try {
      body = chunks.length
        ? (JSON.parse(Buffer.concat(chunks).toString("utf8")) as Record<string, unknown>)
        : {};
    } catch {
      return send(400, { status: "invalid event", message: "Event object is not valid JSON" });
    }
    if (req.method === "POST" && url.pathname === "/v2/enqueue") return send(...this.enqueue(body));
    if (req.method === "POST" && url.pathname === "/v2/change/enqueue") {
      if (body.routing_key !== this.settings.routingKey) return send(400, { status: "invalid event" });
      return send(202, { status: "success", message: "Change event processed" });
    }
    if (req.method === "GET" && url.pathname === "/oncalls") {
      if (req.headers.authorization !== `Token token=${this.settings.apiToken}`)
        return send(401, { error: { message: "Unauthorized", code: 2006 } });
      const person = this.settings.onCall;
      return send(200, {
        oncalls: [
          {
            escalation_policy: { id: ESCALATION_POLICY, type: "escalation_policy_reference" },
            escalation_level: 1,
            user: {
              id: "PUSER01",
              type: "user",
              name: person.name,
              summary: person.name,
              email: person.email,
            },
          },
        ],
        limit: 100,
        offset: 0,
        more: false,
        total: null,
      });
    }
    send(404, { error: { message: "Not Found", code: 2100 } });
  }

  /** Events API v2: trigger opens (or adds to) the dedup key's incident; acknowledge and resolve change it. */
  private enqueue(event: Record<string, unknown>): [number, unknown] {
    const dedupKey = typeof event.dedup_key === "string" ? event.dedup_key : undefined;
    if (event.routing_key !== this.settings.routingKey)
      return [400, { status: "invalid event", errors: ["'routing_key' is invalid"] }];
    if (!dedupKey) return [400, { status: "invalid event", errors: ["'dedup_key' is missing"] }];
    const existing = this.incidents.get(dedupKey);
    const accepted: [number, unknown] = [
      202,
      { status: "success", message: "Event processed", dedup_key: dedupKey },
    ];
    if (event.event_action === "trigger") {
      const payload = (event.payload ?? {}) as { summary?: string; severity?: string };
      if (existing && existing.status !== "resolved") return accepted;
      this.incidents.set(dedupKey, {
        id: `PSB${String(this.incidents.size + 1).padStart(4, "0")}`,
        number: this.incidents.size + 1,
        dedupKey,
        summary: payload.summary ?? "",
        severity: payload.severity ?? "info",
        status: "triggered",
        createdAt: new Date(),
      });
      this.changed();
      return accepted;
    }
    if (!existing || existing.status === "resolved") return accepted;
    if (event.event_action === "acknowledge" && existing.status === "triggered") {
      this.change(existing, "acknowledged", "KeyOps");
      void this.deliver(existing, "KeyOps", "service_reference");
    } else if (event.event_action === "resolve") {
      this.change(existing, "resolved", "KeyOps");
      void this.deliver(existing, "KeyOps", "service_reference");
    }
    return accepted;
  }
}
