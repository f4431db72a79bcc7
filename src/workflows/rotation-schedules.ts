import type { PrismaClient } from "../db/prisma.js";
import type { Environment } from "../environments.js";

export interface RotationRecord {
  lastRotatedAt: Date;
  nextDueAt: Date;
  timeZone: string;
  recordedBy: string;
  workflowId: string;
}

/** When each environment was last rotated and when the next rotation is due (one row each). */
export class RotationSchedules {
  constructor(private readonly prisma: PrismaClient) {}

  /** Every environment's row (an environment never rotated through KeyOps has none). */
  async list(): Promise<(RotationRecord & { environment: Environment })[]> {
    const rows = await this.prisma.rotationSchedule.findMany({ orderBy: { environment: "asc" } });
    return rows.map((r) => ({
      environment: r.environment as Environment,
      lastRotatedAt: r.lastRotatedAt,
      nextDueAt: r.nextDueAt,
      timeZone: r.timeZone,
      recordedBy: r.recordedBy,
      workflowId: r.workflowId ?? "",
    }));
  }

  async record(environment: Environment, record: RotationRecord): Promise<void> {
    await this.prisma.rotationSchedule.upsert({
      where: { environment },
      create: { environment, ...record },
      update: record,
    });
  }
}
