import { App, type CustomRoute } from "@slack/bolt";
import type { BotConfig } from "../bot-config.js";
import type { HealthReport } from "../health.js";
import type { Logger } from "../logger.js";
import { boltLogger } from "./bolt-logger.js";

export interface SlackAppOptions {
  config: Pick<BotConfig, "slack" | "port" | "logLevel">;
  log: Logger;
  health: () => Promise<HealthReport>;
  /** More HTTP routes beside /slack/events and /healthz (the PagerDuty webhook). */
  routes?: CustomRoute[];
}

/**
 * Bolt in HTTP mode (POST /slack/events, for production and several replicas), or Socket Mode
 * when an app token is set. Either way the same listeners and the same extra routes.
 */
export function createSlackApp(options: SlackAppOptions): { app: App; drain(): Promise<void> } {
  const { slack } = options.config;
  const customRoutes: CustomRoute[] = [healthRoute(options.health), ...(options.routes ?? [])];
  const common = {
    token: slack.botToken,
    signingSecret: slack.signingSecret,
    logger: boltLogger(options.log, options.config.logLevel),
    customRoutes,
    // No listener uses Bolt's conversation store; it would cost every request a look-up.
    convoStore: false as const,
    clientOptions: slack.apiUrl ? { slackApiUrl: slack.apiUrl } : {},
  };
  const app = slack.appToken
    ? new App({ ...common, socketMode: true, appToken: slack.appToken, port: options.config.port })
    : new App({ ...common, endpoints: "/slack/events" });

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
