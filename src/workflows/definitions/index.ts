import { NotFoundError } from "../../errors.js";
import type { WorkflowDefinition } from "../types.js";
import { keyCompromised } from "./key-compromised.js";
import { keyRotate } from "./key-rotate.js";
import { offboard } from "./offboard.js";

/** Every workflow the bot runs. A new workflow is a new definition file listed here. */
export const WORKFLOW_DEFINITIONS: readonly WorkflowDefinition[] = [keyCompromised, keyRotate, offboard];

export function definitionOf(kind: string): WorkflowDefinition {
  const definition = WORKFLOW_DEFINITIONS.find((d) => d.kind === kind);
  if (!definition) throw new NotFoundError(`unknown workflow kind "${kind}"`);
  return definition;
}
