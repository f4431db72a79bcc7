import type { PrismaClient } from "../db/prisma.js";
import { ENVIRONMENTS, type Environment, parseEnvironment } from "../environments.js";
import { RefusedError, UserError } from "../errors.js";
import { AUDITED_TRANSACTION, appendAuditEvents } from "./audit-log.js";

export interface Grant {
  slackUserId: string;
  environment: Environment;
  grantedBy: string;
  grantedAt: Date;
}

/** The guide's access roster ("Document access in team roster"): who can read which key. */
export class Roster {
  constructor(private readonly prisma: PrismaClient) {}

  async list(): Promise<Grant[]> {
    const rows = await this.prisma.keyAccess.findMany({
      where: { revokedAt: null },
      orderBy: [{ environment: "asc" }, { grantedAt: "asc" }],
    });
    return rows.map((r) => ({ ...r, environment: r.environment as Environment }));
  }

  /** Records a grant, audited in the same transaction. Granting twice is refused. */
  async grant(userId: string, environmentText: string, by: string, workflowId?: string): Promise<Grant> {
    const environment = parseEnvironment(environmentText);
    return this.prisma.$transaction(async (tx) => {
      await tx.$executeRaw`SELECT pg_advisory_xact_lock(hashtext(${`roster:${userId}`}))`;
      const existing = await tx.keyAccess.findFirst({
        where: { slackUserId: userId, environment, revokedAt: null },
      });
      if (existing) throw new RefusedError(`@${userId} already has access to ${environment}`);
      const row = await tx.keyAccess.create({ data: { slackUserId: userId, environment, grantedBy: by } });
      await appendAuditEvents(tx, [
        {
          ...(workflowId ? { workflowId } : {}),
          actor: by,
          action: "access.granted",
          detail: { user: userId, environment },
        },
      ]);
      return { ...row, environment };
    }, AUDITED_TRANSACTION);
  }

  /** The environments `userId` holds a grant for. */
  async grantsOf(userId: string): Promise<Environment[]> {
    const grants = await this.prisma.keyAccess.findMany({ where: { slackUserId: userId, revokedAt: null } });
    const held = new Set<string>(grants.map((g) => g.environment));
    return ENVIRONMENTS.filter((e) => held.has(e));
  }

  /** The environments whose key `userId` could read: their grants, plus those every developer can read. */
  async environmentsReadableBy(userId: string, shared: readonly Environment[]): Promise<Environment[]> {
    const grants = await this.prisma.keyAccess.findMany({ where: { slackUserId: userId, revokedAt: null } });
    const readable = new Set<string>([...shared, ...grants.map((g) => g.environment)]);
    return ENVIRONMENTS.filter((e) => readable.has(e));
  }

  /** Revokes every grant `userId` holds (an offboarding), one access.revoked event each; returns their environments. */
  async revokeAll(userId: string, by: string, workflowId?: string): Promise<Environment[]> {
    return this.prisma.$transaction(async (tx) => {
      await tx.$executeRaw`SELECT pg_advisory_xact_lock(hashtext(${`roster:${userId}`}))`;
      const grants = await tx.keyAccess.findMany({
        where: { slackUserId: userId, revokedAt: null },
        orderBy: { environment: "asc" },
      });
      if (grants.length === 0) return [];
      await tx.keyAccess.updateMany({
        where: { id: { in: grants.map((g) => g.id) } },
        data: { revokedAt: new Date(), revokedBy: by },
      });
      await appendAuditEvents(
        tx,
        grants.map((g) => ({
          ...(workflowId ? { workflowId } : {}),
          actor: by,
          action: "access.revoked" as const,
          detail: { user: userId, environment: g.environment },
        })),
      );
      return grants.map((g) => g.environment as Environment);
    }, AUDITED_TRANSACTION);
  }

  async revoke(userId: string, environmentText: string, by: string): Promise<void> {
    const environment = parseEnvironment(environmentText);
    await this.prisma.$transaction(async (tx) => {
      const { count } = await tx.keyAccess.updateMany({
        where: { slackUserId: userId, environment, revokedAt: null },
        data: { revokedAt: new Date(), revokedBy: by },
      });
      if (count === 0) throw new UserError(`@${userId} has no access to ${environment} in the roster`);
      await appendAuditEvents(tx, [
        { actor: by, action: "access.revoked", detail: { user: userId, environment } },
      ]);
    }, AUDITED_TRANSACTION);
  }
}
