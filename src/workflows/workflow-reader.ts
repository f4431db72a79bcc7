import type { PrismaClient } from "../db/prisma.js";
import { readTimeline } from "./audit-log.js";
import type { TimelineEvent, WorkflowSnapshot } from "./types.js";
import { listOpenWorkflows, loadWorkflow } from "./workflow-store.js";

export interface RotationScheduleRow {
  environment: string;
  lastRotatedAt: Date;
  nextDueAt: Date;
}

/** The read side: a workflow, the open ones, a timeline, the rotation schedules. Never writes. */
export class WorkflowReader {
  constructor(private readonly prisma: PrismaClient) {}

  get(workflowId: string): Promise<WorkflowSnapshot> {
    return loadWorkflow(this.prisma, workflowId);
  }

  openWorkflows(): Promise<WorkflowSnapshot[]> {
    return listOpenWorkflows(this.prisma);
  }

  /** When each environment was last rotated and when the next rotation is due. */
  rotationSchedules(): Promise<RotationScheduleRow[]> {
    return this.prisma.rotationSchedule.findMany({ orderBy: { environment: "asc" } });
  }

  timeline(workflowId: string): Promise<TimelineEvent[]> {
    return readTimeline(this.prisma, workflowId);
  }
}
