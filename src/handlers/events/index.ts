import type { App } from "@slack/bolt";
import { renderHome } from "../../views/status.js";
import type { HandlerDeps } from "../deps.js";
import { loadStatusData } from "../status-data.js";

export function register(app: App, deps: HandlerDeps): void {
  app.event("app_home_opened", async ({ event, body, client, context }) => {
    if (event.tab !== "home") return;
    try {
      // Slack re-sends an event it thinks was not received (x-slack-retry-num); Bolt passes each
      // copy on. One App Home per event_id, across retries and replicas.
      if (!(await deps.service.claimRequest(`event:${body.event_id}`))) {
        deps.log.debug("repeated event ignored", {
          event: "app_home_opened",
          retry: context.retryNum ?? 0,
          ...(context.retryReason ? { reason: context.retryReason } : {}),
        });
        return;
      }
      await client.views.publish({
        user_id: event.user,
        view: renderHome(await loadStatusData(deps), new Date()),
      });
    } catch (error) {
      deps.log.warn("publishing the App Home failed", { error: (error as Error).message });
    }
  });
}
