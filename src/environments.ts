import { UserError } from "./errors.js";

export const ENVIRONMENTS = ["development", "staging", "production"] as const;
export type Environment = (typeof ENVIRONMENTS)[number];

export class UnknownEnvironmentError extends UserError {
  override name = "UnknownEnvironmentError";
  constructor(text: string) {
    super(`unknown environment "${text}" (expected ${ENVIRONMENTS.join(", ")})`);
  }
}

export function isEnvironment(text: string): text is Environment {
  return (ENVIRONMENTS as readonly string[]).includes(text);
}

export function parseEnvironment(text: string): Environment {
  const normalized = text.trim().toLowerCase();
  if (!isEnvironment(normalized)) throw new UnknownEnvironmentError(text);
  return normalized;
}
