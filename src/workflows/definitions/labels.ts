import type { Environment } from "../../environments.js";

export function environmentLabel(environment: Environment | undefined): string {
  if (!environment) return "";
  return environment.charAt(0).toUpperCase() + environment.slice(1);
}
