import type { Environment } from "../environments.js";
import { RefusedError } from "../errors.js";
import type { ClientInstanceInfo } from "./client-registry.js";

/** Who of an environment's live instances can read a version yet: the hand-over gate's view. */
export interface HandoverState {
  version: number;
  fingerprint: string;
  instances: number;
  ready: number;
  services: { service: string; ready: number; total: number }[];
  /** Live instances that do not hold the version yet. */
  waiting: ClientInstanceInfo[];
  /** Live instances holding the version with another key: never ready, and an alert. */
  mismatched: ClientInstanceInfo[];
}

export function handoverState(
  live: ClientInstanceInfo[],
  version: number,
  fingerprint: string,
): HandoverState {
  const waiting: ClientInstanceInfo[] = [];
  const mismatched: ClientInstanceInfo[] = [];
  const services = new Map<string, { service: string; ready: number; total: number }>();
  for (const instance of live) {
    const held = instance.versions.find((v) => v.version === version);
    const service = services.get(instance.service) ?? { service: instance.service, ready: 0, total: 0 };
    services.set(instance.service, service);
    service.total += 1;
    if (held?.fingerprint === fingerprint) service.ready += 1;
    else if (held) mismatched.push(instance);
    else waiting.push(instance);
  }
  const list = [...services.values()];
  return {
    version,
    fingerprint,
    instances: live.length,
    ready: list.reduce((sum, s) => sum + s.ready, 0),
    services: list,
    waiting,
    mismatched,
  };
}

export function handoverComplete(state: HandoverState): boolean {
  return state.waiting.length === 0 && state.mismatched.length === 0;
}

/** `api: 2 of 3 instances can read v4` (one clause per service), or that nobody reports. */
export function describeHandover(state: HandoverState): string {
  if (state.instances === 0) {
    return `no application instance reports; KeyOps cannot vouch that the application can read v${state.version}`;
  }
  return state.services
    .map(
      (s) =>
        `${s.service}: ${s.ready} of ${s.total} ${s.total === 1 ? "instance" : "instances"} can read v${state.version}`,
    )
    .join("; ");
}

/** What the operator has to do for the instances still waiting. */
export function handoverAdvice(state: HandoverState, environment: Environment): string {
  const advice: string[] = [];
  const envWaiting = state.waiting.filter((i) => i.source === "env");
  if (envWaiting.length > 0) {
    const services = [...new Set(envWaiting.map((i) => i.service))].join(", ");
    advice.push(
      `add ENCRYPTION_KEY_V${state.version} to ${services} (write it with ` +
        `keyops keys export ${state.version} --env ${environment} --out <file>) and redeploy`,
    );
  }
  if (state.waiting.some((i) => i.source === "keyring")) {
    advice.push(
      "keyring instances read new versions within seconds: check that they can reach the KeyOps database",
    );
  }
  for (const instance of state.mismatched) {
    advice.push(
      `${instance.instanceId} holds another key as v${state.version} (a mismatched key): fix its ENCRYPTION_KEY_V${state.version}`,
    );
  }
  return advice.join("; ");
}

export class HandoverTimeoutError extends RefusedError {
  override name = "HandoverTimeoutError";
}
