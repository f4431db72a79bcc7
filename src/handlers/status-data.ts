import { ENVIRONMENTS } from "../environments.js";
import type { StatusData } from "../views/status.js";
import type { HandlerDeps } from "./deps.js";

/** What /keyops status and the App Home show. */
export async function loadStatusData(deps: HandlerDeps): Promise<StatusData> {
  const [workflows, keyrings, schedules, clients] = await Promise.all([
    deps.service.openWorkflows(),
    Promise.all(ENVIRONMENTS.map((environment) => deps.engine.status(environment))),
    deps.service.rotationSchedules(),
    deps.engine.clients.list(),
  ]);
  // Drills are rehearsals: not open incidents.
  return { workflows: workflows.filter((w) => !w.inputs.drill), keyrings, schedules, clients };
}
