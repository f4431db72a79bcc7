import type { Server } from "node:http";
import {
  App,
  type Logger as BoltLogger,
  type CustomRoute,
  HTTPReceiver,
  type ReceiverEvent,
} from "@slack/bolt";
import type { BotConfig } from "../bot-config.js";
import type { HealthReport } from "../health.js";
import { applyServerTimeouts, MAX_REQUEST_BODY } from "../http/limits.js";
import { guardSlackEvents } from "../http/slack-events-guard.js";
import type { Logger } from "../logger.js";
import { boltLogger } from "./bolt-logger.js";
import type { Installation } from "./installation.js";

export interface SlackAppOptions {
  config: Pick<BotConfig, "slack" | "port" | "logLevel">;
  /** From auth.test at start: Bolt then needs no auth.test of its own. */
  installation: Pick<Installation, "botId" | "botUserId">;
  log: Logger;
  health: () => Promise<HealthReport>;
  /** More HTTP routes beside /slack/events and /healthz (the PagerDuty webhook). */
  routes?: CustomRoute[];
  /** Told each request's type and seconds from reaching the app to its ack (the metrics' histogram). */
  onAck?: (type: string, seconds: number) => void;
}

/**
 * Bolt in HTTP mode (POST /slack/events, for production and several replicas), or Socket Mode
 * when an app token is set. Either way the same listeners and the same extra routes.
 */
export function createSlackApp(options: SlackAppOptions): { app: App; drain(): Promise<void> } {
  const { slack } = options.config;
  const customRoutes: CustomRoute[] = [healthRoute(options.health), ...(options.routes ?? [])];
  const logger = boltLogger(options.log, options.config.logLevel);
  const common = {
    token: slack.botToken,
    botId: options.installation.botId,
    botUserId: options.installation.botUserId,
    logger,
    // No listener uses Bolt's conversation store; it would cost every request a look-up.
    convoStore: false as const,
    clientOptions: slack.apiUrl ? { slackApiUrl: slack.apiUrl } : {},
  };
  const app = slack.appToken
    ? new App({
        ...common,
        signingSecret: slack.signingSecret,
        customRoutes,
        socketMode: true,
        appToken: slack.appToken,
        port: options.config.port,
      })
    : new App({
        ...common,
        receiver: guardedReceiver(slack.signingSecret, customRoutes, logger, options.log),
      });
  if (slack.appToken) hardenSocketModeRoutes(app);

  if (options.onAck) timeAcks(app, options.onAck);

  // Listeners go on after ack(); a graceful stop waits for them.
  const inFlight = new Set<Promise<unknown>>();
  app.use(async ({ next }) => {
    const work = next();
    inFlight.add(work);
    try {
      await work;
    } finally {
      inFlight.delete(work);
    }
  });
  return { app, drain: async () => void (await Promise.allSettled([...inFlight])) };
}

const SLACK_EVENTS = "/slack/events";

/** Bolt's HTTP receiver behind the request guard (timestamps, body cap, malformed bodies). */
function guardedReceiver(
  signingSecret: string,
  customRoutes: CustomRoute[],
  logger: BoltLogger,
  log: Logger,
): HTTPReceiver {
  const receiver = new HTTPReceiver({
    signingSecret,
    endpoints: SLACK_EVENTS,
    customRoutes,
    logger,
    bodyLimit: MAX_REQUEST_BODY,
  });
  receiver.requestListener = guardSlackEvents(receiver.requestListener, {
    signingSecret,
    path: SLACK_EVENTS,
    log,
  });
  return receiver;
}

/** Socket Mode serves the custom routes on an HTTP server of its own: the same timeouts there. */
function hardenSocketModeRoutes(app: App): void {
  const server = (app as unknown as { receiver?: { httpServer?: Server } }).receiver?.httpServer;
  if (server) applyServerTimeouts(server);
}

/**
 * Times every request from the receiver handing it to the app (body read, signature checked) to
 * its ack, in HTTP and Socket Mode alike. The timing is taken after the ack went out: the ack
 * path waits for nothing new.
 */
function timeAcks(app: App, observe: (type: string, seconds: number) => void): void {
  const processEvent = app.processEvent.bind(app);
  app.processEvent = (event: ReceiverEvent) => {
    const arrived = performance.now();
    let timed = false;
    return processEvent({
      ...event,
      ack: async (response) => {
        await event.ack(response);
        if (timed) return;
        timed = true;
        observe(requestType(event.body), (performance.now() - arrived) / 1000);
      },
    });
  };
}

/** command, action, view, shortcut, options, event or other. */
function requestType(body: Record<string, unknown>): string {
  if (typeof body.command === "string") return "command";
  switch (body.type) {
    case "block_actions":
    case "interactive_message":
      return "action";
    case "view_submission":
    case "view_closed":
      return "view";
    case "shortcut":
    case "message_action":
      return "shortcut";
    case "block_suggestion":
      return "options";
    case "event_callback":
      return "event";
    default:
      return "other";
  }
}

function healthRoute(health: () => Promise<HealthReport>): CustomRoute {
  return {
    path: "/healthz",
    method: ["GET"],
    handler: (_req, res) => {
      health()
        .catch(
          (): HealthReport => ({ ok: false, database: "unreachable", encryption: {}, mismatchedClients: [] }),
        )
        .then((report) => {
          res.writeHead(report.ok ? 200 : 503, { "content-type": "application/json" });
          res.end(JSON.stringify(report));
        });
    },
  };
}
