import { NotFoundError } from "../../errors.js";
import type { WorkflowDefinition, WorkflowForm } from "../types.js";
import { keyCompromised } from "./key-compromised.js";
import { keyDestroy } from "./key-destroy.js";
import { keyLost } from "./key-lost.js";
import { keyRestore } from "./key-restore.js";
import { keyRotate } from "./key-rotate.js";
import { offboard } from "./offboard.js";
import { onboard } from "./onboard.js";
import { quarterlyMaintenance } from "./quarterly-maintenance.js";

/** Every workflow the bot runs. A new workflow is a new definition file listed here. */
export const WORKFLOW_DEFINITIONS: readonly WorkflowDefinition[] = [
  keyCompromised,
  keyRotate,
  offboard,
  onboard,
  keyLost,
  quarterlyMaintenance,
  keyRestore,
  keyDestroy,
];

export const DEFAULT_REQUESTER_LABEL = "Requested";

export function definitionOf(kind: string): WorkflowDefinition {
  const definition = WORKFLOW_DEFINITIONS.find((d) => d.kind === kind);
  if (!definition) throw new NotFoundError(`unknown workflow kind "${kind}"`);
  return definition;
}

/** The workflow a form's submission starts. */
export function definitionWithForm(form: WorkflowForm): WorkflowDefinition {
  const definition = WORKFLOW_DEFINITIONS.find((d) => d.form === form);
  if (!definition) throw new NotFoundError(`no workflow starts from the form "${form}"`);
  return definition;
}
