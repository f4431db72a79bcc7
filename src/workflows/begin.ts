import type { AuditEntry } from "./audit-log.js";
import { DEFAULT_REQUESTER_LABEL } from "./definitions/index.js";
import { advance, auditEntry, type Transition, type WorkflowEffect } from "./state-machine.js";
import type {
  PageSnapshot,
  PlatformCount,
  WorkflowDefinition,
  WorkflowInputs,
  WorkflowSnapshot,
} from "./types.js";

/** What marks a drill in its title, and so in its messages, page summary and post-mortem. */
export const DRILL_MARK = "[DRILL]";

export interface WorkflowStart {
  id: string;
  inputs: WorkflowInputs;
  platformCounts: PlatformCount[];
  requestedBy: string;
  channelId: string;
  page: PageSnapshot;
}

/** A new workflow of `definition`: every step pending, then whatever follows by itself. */
export function beginWorkflow(definition: WorkflowDefinition, start: WorkflowStart, now: Date): Transition {
  const deadlineAt = definition.deadline?.(start.inputs, now);
  const w: WorkflowSnapshot = {
    id: start.id,
    number: 0,
    kind: definition.kind,
    name: definition.name,
    title: `${start.inputs.drill ? `${DRILL_MARK} ` : ""}${definition.title(start.inputs)}`,
    command: definition.command,
    requesterLabel: definition.requesterLabel ?? DEFAULT_REQUESTER_LABEL,
    ...(definition.deadlineLabel ? { deadlineLabel: definition.deadlineLabel } : {}),
    status: "OPEN",
    inputs: start.inputs,
    requestedBy: start.requestedBy,
    channelId: start.channelId,
    createdAt: now,
    ...(deadlineAt ? { deadlineAt } : {}),
    steps: definition
      .steps({ inputs: start.inputs, platformCounts: start.platformCounts })
      .map((step) => ({ ...step, status: "PENDING" })),
    page: start.page,
    version: 0,
  };
  const audit: AuditEntry[] = [];
  const effects: WorkflowEffect[] = [];
  const record = (entry: Omit<AuditEntry, "workflowId" | "at">) => audit.push(auditEntry(w, entry, now));
  record({
    actor: start.requestedBy,
    action: "workflow.started",
    detail: {
      kind: definition.kind,
      environments: start.inputs.environments.join(","),
      ...(start.inputs.severity ? { severity: start.inputs.severity } : {}),
      ...(start.inputs.subjectUserId ? { subject: start.inputs.subjectUserId } : {}),
    },
  });
  advance(w, now, record, effects);
  return { workflow: w, audit, effects };
}
