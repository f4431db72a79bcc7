import type { App } from "@slack/bolt";
import { register as registerActions } from "./actions/index.js";
import { register as registerCommands } from "./commands/index.js";
import type { HandlerDeps } from "./deps.js";
import { register as registerEvents } from "./events/index.js";
import { register as registerViews } from "./views/index.js";

/** Every listener, grouped by kind. */
export function registerListeners(app: App, deps: HandlerDeps): void {
  registerCommands(app, deps);
  registerActions(app, deps);
  registerViews(app, deps);
  registerEvents(app, deps);
}
