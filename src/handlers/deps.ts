import type { WebClient } from "@slack/web-api";
import type { RotationEngine } from "../engine/engine.js";
import type { Logger } from "../logger.js";
import type { Installation } from "../slack/installation.js";
import type { AuditEntry } from "../workflows/audit-log.js";
import type { PagingService } from "../workflows/paging.js";
import type { Roster } from "../workflows/roster.js";
import type { WorkflowService } from "../workflows/workflow-service.js";
import type { ModalSeal } from "./modal-seal.js";

/** What every listener may use: the workflow service and the engine (for status), nothing else. */
export interface HandlerDeps {
  service: WorkflowService;
  paging: PagingService;
  engine: RotationEngine;
  roster: Roster;
  /** Channel ids the commands, buttons and forms work in; empty means anywhere. */
  allowedChannels: string[];
  /** The workspace the bot token belongs to (auth.test at start). */
  installation: Installation;
  /** Slack's Web API for look-ups on the way to a start: bounded retries and timeout. */
  lookups: WebClient;
  /** Seals modal metadata when a modal opens; the request guard opens it on submission. */
  seal: ModalSeal;
  /** Writes one audit event (the request guard's refusals). */
  audit(entry: AuditEntry): Promise<void>;
  log: Logger;
}
