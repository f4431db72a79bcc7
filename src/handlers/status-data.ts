import { ENVIRONMENTS } from "../environments.js";
import type { StatusData } from "../views/status.js";
import { nextQuarter } from "../workflows/calendar.js";
import { WORKFLOW_DEFINITIONS } from "../workflows/definitions/index.js";
import type { HandlerDeps } from "./deps.js";

/** What /keyops status and the App Home show. */
export async function loadStatusData(deps: HandlerDeps): Promise<StatusData> {
  const [workflows, keyrings, schedules, clients] = await Promise.all([
    deps.service.openWorkflows(),
    Promise.all(ENVIRONMENTS.map((environment) => deps.engine.status(environment))),
    deps.service.rotationSchedules(),
    deps.engine.clients.list(),
  ]);
  // Workflows the bot starts by itself: the latest of each (drills left out), the next start.
  const now = new Date();
  const scheduled = await Promise.all(
    WORKFLOW_DEFINITIONS.filter((d) => d.schedule).map(async (d) => {
      const latest = await deps.service.latestOf(d.kind);
      return {
        name: d.name,
        command: d.command,
        ...(latest ? { latest } : {}),
        ...(d.schedule?.quarterly ? { nextStartAt: nextQuarter(now, deps.service.timeZone).start } : {}),
      };
    }),
  );
  // Drills are rehearsals: not open incidents.
  return { workflows: workflows.filter((w) => !w.inputs.drill), keyrings, schedules, clients, scheduled };
}
