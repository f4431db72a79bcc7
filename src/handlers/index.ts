import type { App } from "@slack/bolt";
import { register as registerActions } from "./actions/index.js";
import { register as registerCommands } from "./commands/index.js";
import type { HandlerDeps } from "./deps.js";
import { register as registerEvents } from "./events/index.js";
import { requestGuard } from "./request-guard.js";
import { register as registerViews } from "./views/index.js";

/** The request guard first (every request, every listener's error), then every listener, grouped by kind. */
export function registerListeners(app: App, deps: HandlerDeps): void {
  app.use(
    requestGuard({
      installation: deps.installation,
      allowedChannels: deps.allowedChannels,
      seal: deps.seal,
      workflow: (id) => deps.service.get(id),
      audit: deps.audit,
      log: deps.log,
    }),
  );
  registerCommands(app, deps);
  registerActions(app, deps);
  registerViews(app, deps);
  registerEvents(app, deps);
}
