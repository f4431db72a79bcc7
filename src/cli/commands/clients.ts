import type { ClientInstanceInfo } from "../../engine/client-registry.js";
import { type Command, print } from "../command.js";

/** `production api  web-1:42:ab12  env      holds v3 v4  writes v4  seen 2 s ago  0 failures in the last hour` */
export function renderClients(instances: ClientInstanceInfo[], now = Date.now()): string {
  if (instances.length === 0) {
    return "no application instance has reported in the last day (keyops/client reports every few seconds)";
  }
  return instances
    .map((i) => {
      const held = i.versions.map((v) => `v${v.version}`).join(" ") || "no keys";
      const seen = Math.max(0, Math.round((now - i.lastSeenAt.getTime()) / 1000));
      const state = i.stoppedAt ? "stopped" : i.live ? "live" : "silent";
      const problems = i.problems.length > 0 ? `  problems: ${i.problems.join("; ")}` : "";
      return (
        `${i.environment.padEnd(11)} ${i.service.padEnd(12)} ${i.instanceId.padEnd(28)} ${i.source.padEnd(7)} ` +
        `${state.padEnd(7)} holds ${held}  writes ${i.encryptsVersion === null ? "nothing" : `v${i.encryptsVersion}`}  ` +
        `seen ${seen} s ago  ${i.failuresLastHour} failures in the last hour${problems}`
      );
    })
    .join("\n");
}

export const clients: Command = {
  path: ["clients"],
  usage: "keyops clients [--env E] [--json]",
  summary: "the application's instances: versions held, version written, last seen, failures",
  async run(context) {
    const runtime = await context.runtime();
    const environment = typeof context.values.env === "string" ? context.environment : undefined;
    const instances = await runtime.engine.clients.list(environment);
    print(context, { instances }, renderClients(instances));
    return 0;
  },
};
