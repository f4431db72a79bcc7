import type { IncomingMessage, ServerResponse } from "node:http";
import type { CustomRoute } from "@slack/bolt";
import { NotFoundError } from "../../errors.js";
import { answerJson as answer, answerTooLarge, readBody } from "../../http/json.js";
import { MAX_REQUEST_BODY } from "../../http/limits.js";
import type { Logger } from "../../logger.js";
import type { PageNews, PagingService } from "../../workflows/paging.js";
import { parsePagerDutyWebhook, verifyPagerDutySignature, WebhookPayloadError } from "./webhook.js";

/** PagerDuty waits 5 s; answer before, and let slow Slack updates finish after. */
const ANSWER_WITHIN_MS = 4000;
const NEWS: Record<string, PageNews["kind"]> = {
  "incident.acknowledged": "acknowledged",
  "incident.resolved": "resolved",
  "incident.escalated": "escalated",
  "incident.reassigned": "reassigned",
};
const WORKFLOW_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** POST /pagerduty/webhook: PagerDuty's v3 webhooks, signed, at least once, deduplicated. */
export function pagerDutyWebhookRoute(options: {
  secret: string | undefined;
  paging: PagingService;
  log: Logger;
}): CustomRoute {
  return {
    path: "/pagerduty/webhook",
    method: ["POST"],
    handler: (req, res) => {
      handle(req, res, options).catch((error: Error) => {
        options.log.error("PagerDuty webhook failed", { error: error.message });
        answer(res, 500, { error: "internal error" });
      });
    },
  };
}

async function handle(
  req: IncomingMessage,
  res: ServerResponse,
  { secret, paging, log }: { secret: string | undefined; paging: PagingService; log: Logger },
): Promise<void> {
  if (!secret) return answer(res, 404, { error: "PagerDuty webhooks are not configured" });
  const body = await readBody(req, MAX_REQUEST_BODY);
  if (body === undefined) return answerTooLarge(res, MAX_REQUEST_BODY);
  const signature = req.headers["x-pagerduty-signature"];
  if (!verifyPagerDutySignature(body, Array.isArray(signature) ? signature.join(",") : signature, secret)) {
    return answer(res, 401, { error: "bad or missing signature" });
  }
  try {
    JSON.parse(body.toString("utf8"));
  } catch {
    return answer(res, 400, { error: "malformed JSON" });
  }
  let event: ReturnType<typeof parsePagerDutyWebhook>;
  try {
    event = parsePagerDutyWebhook(body);
  } catch (error) {
    // Signed but not an incident event we use (pings, annotations): accepted, or PagerDuty retries.
    if (error instanceof WebhookPayloadError) return answer(res, 202, { ignored: error.message });
    throw error;
  }
  const kind = NEWS[event.eventType];
  if (!kind) return answer(res, 202, { ignored: event.eventType });
  if (!WORKFLOW_ID.test(event.incident.incidentKey))
    return answer(res, 202, { ignored: "not a KeyOps incident" });
  const occurredAt = event.occurredAt ? new Date(event.occurredAt) : undefined;
  const news: PageNews = {
    workflowId: event.incident.incidentKey,
    kind,
    ...(event.agent?.name ? { by: event.agent.name } : {}),
    ...(event.incident.assignees ? { to: event.incident.assignees } : {}),
    fromKeyOps: event.agent?.type === "service_reference",
    ...(occurredAt && !Number.isNaN(occurredAt.getTime()) ? { occurredAt } : {}),
  };
  const work = paging
    .news(news, deliveryKey(event.eventId, req.headers["x-webhook-id"]))
    .then((result) => ({ result }))
    .catch((error: unknown) => {
      if (error instanceof NotFoundError) return { result: "unknown incident" };
      throw error;
    });
  const late = new Promise<{ result: string }>((resolve) =>
    setTimeout(() => resolve({ result: "accepted" }), ANSWER_WITHIN_MS).unref(),
  );
  const outcome = await Promise.race([work, late]);
  work.catch((error: Error) => log.error("PagerDuty webhook processing failed", { error: error.message }));
  answer(res, outcome.result === "unknown incident" ? 202 : 200, outcome);
}

/**
 * What makes a delivery the same as one handled before: the event's own id (the same event sent
 * again, under another X-Webhook-Id or none), else the delivery's X-Webhook-Id.
 */
function deliveryKey(
  eventId: string | undefined,
  webhookId: string | string[] | undefined,
): string | undefined {
  if (eventId) return `pd-event:${eventId}`;
  return typeof webhookId === "string" && webhookId ? `pd-webhook:${webhookId}` : undefined;
}
