import { describe, expect, it } from "vitest";
import { appendAuditEvents, verifyAuditChain } from "../../src/workflows/audit-log.js";
import { useTestDatabase } from "../support/database.js";

const t = useTestDatabase();

async function append(count: number, workflowId = "wf-a") {
  await t.db.prisma.$transaction((tx) =>
    appendAuditEvents(
      tx,
      Array.from({ length: count }, (_, i) => ({
        workflowId,
        actor: `U${i}`,
        action: "step.done" as const,
        stepKey: `step-${i}`,
        detail: { reason: `because ${i}`, rows: i, z: true, a: null },
      })),
    ),
  );
}

describe("the audit log", () => {
  it("chains every event to the one before, across transactions and concurrent writers", async () => {
    await append(3);
    await Promise.all([append(5, "wf-b"), append(5, "wf-c"), append(5, "wf-d")]);
    const verdict = await verifyAuditChain(t.db.prisma);
    expect(verdict).toEqual({ ok: true, events: 18, keyedFrom: 1, tailMissing: false });
  });

  it("the database refuses edits, removals and truncation", async () => {
    await expect(
      t.db.pool.query(`UPDATE "AuditEvent" SET "actor" = 'U9' WHERE "sequence" = 1`),
    ).rejects.toThrow(/append-only/);
    await expect(t.db.pool.query(`DELETE FROM "AuditEvent" WHERE "sequence" = 2`)).rejects.toThrow(
      /append-only/,
    );
    await expect(t.db.pool.query(`TRUNCATE "AuditEvent"`)).rejects.toThrow(/append-only/);
  });

  it("an event rolled back with its transaction leaves no gap", async () => {
    const before = await verifyAuditChain(t.db.prisma);
    await expect(
      t.db.prisma.$transaction(async (tx) => {
        await appendAuditEvents(tx, [{ workflowId: "wf-a", actor: "U1", action: "step.done" }]);
        throw new Error("the transition failed");
      }),
    ).rejects.toThrow("the transition failed");
    await append(1);
    expect(await verifyAuditChain(t.db.prisma)).toEqual({
      ok: true,
      events: before.events + 1,
      keyedFrom: 1,
      tailMissing: false,
    });
  });

  it("detects tampering by someone who switched the guard off", async () => {
    const client = await t.db.pool.connect();
    try {
      await client.query(`ALTER TABLE "AuditEvent" DISABLE TRIGGER USER`);
      await client.query(
        `UPDATE "AuditEvent" SET "detail" = jsonb_set("detail", '{reason}', '"edited"') WHERE "sequence" = 4`,
      );
      expect(await verifyAuditChain(t.db.prisma)).toMatchObject({
        ok: false,
        brokenAt: 4,
        problem: "content altered",
      });

      // Recomputing the edited event's own hash is not enough: the next one points at the old hash.
      await client.query(`UPDATE "AuditEvent" SET "hash" = repeat('a', 64) WHERE "sequence" = 4`);
      expect(await verifyAuditChain(t.db.prisma)).toMatchObject({ ok: false, brokenAt: 4 });

      await client.query(`DELETE FROM "AuditEvent" WHERE "sequence" >= 4 AND "sequence" <= 5`);
      expect(await verifyAuditChain(t.db.prisma)).toMatchObject({
        ok: false,
        brokenAt: 4,
        problem: "event #4 is missing",
      });
    } finally {
      await client.query(`ALTER TABLE "AuditEvent" ENABLE TRIGGER USER`);
      client.release();
    }
  });
});
