import type { App } from "@slack/bolt";
import { renderHome } from "../../views/status.js";
import type { HandlerDeps } from "../deps.js";
import { loadStatusData } from "../status-data.js";

export function register(app: App, deps: HandlerDeps): void {
  app.event("app_home_opened", async ({ event, client }) => {
    if (event.tab !== "home") return;
    try {
      await client.views.publish({
        user_id: event.user,
        view: renderHome(await loadStatusData(deps), new Date()),
      });
    } catch (error) {
      deps.log.warn("publishing the App Home failed", { error: (error as Error).message });
    }
  });
}
