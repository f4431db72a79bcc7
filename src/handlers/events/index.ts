import type { App } from "@slack/bolt";
import { ENVIRONMENTS } from "../../environments.js";
import { renderHome } from "../../views/status.js";
import type { HandlerDeps } from "../deps.js";

export function register(app: App, deps: HandlerDeps): void {
  app.event("app_home_opened", async ({ event, client }) => {
    if (event.tab !== "home") return;
    try {
      const [workflows, keyrings] = await Promise.all([
        deps.service.openWorkflows(),
        Promise.all(ENVIRONMENTS.map((environment) => deps.engine.status(environment))),
      ]);
      await client.views.publish({
        user_id: event.user,
        view: renderHome({ workflows, keyrings }, new Date()),
      });
    } catch (error) {
      deps.log.warn("publishing the App Home failed", { error: (error as Error).message });
    }
  });
}
