import type { RotationEngine } from "../engine/engine.js";
import type { Logger } from "../logger.js";
import type { PagingService } from "../workflows/paging.js";
import type { Roster } from "../workflows/roster.js";
import type { WorkflowService } from "../workflows/workflow-service.js";

/** What every listener may use: the workflow service and the engine (for status), nothing else. */
export interface HandlerDeps {
  service: WorkflowService;
  paging: PagingService;
  engine: RotationEngine;
  roster: Roster;
  /** Channel ids the commands work in; empty means anywhere. */
  allowedChannels: string[];
  log: Logger;
}
