import { describe, expect, it } from "vitest";
import { APPROVER, eventually, REQUESTER, useTestBot } from "../support/bot.js";
import { WorkflowDriver } from "../support/workflow-driver.js";

const ROWS = 200;
const app = useTestBot({ rows: ROWS, env: { KEYOPS_SHARED_ENVIRONMENTS: "none" } });

/**
 * A stale application instance writing one row back under the old version each time it is
 * rewritten (what "42 not on v2" came from): a trigger keeps that row's old ciphertext.
 */
async function staleWriterOn(id: string) {
  await app().database.db.pool.query(`
    CREATE OR REPLACE FUNCTION keep_old_version() RETURNS trigger AS $$
      BEGIN NEW.credentials := OLD.credentials; RETURN NEW; END $$ LANGUAGE plpgsql;
    DROP TRIGGER IF EXISTS stale_writer ON "PlatformIntegration";
    CREATE TRIGGER stale_writer BEFORE UPDATE OF credentials ON "PlatformIntegration"
      FOR EACH ROW WHEN (NEW.id = '${id.replaceAll("'", "''")}') EXECUTE FUNCTION keep_old_version();`);
  return async () =>
    app().database.db.pool.query(`DROP TRIGGER IF EXISTS stale_writer ON "PlatformIntegration"`);
}

describe("what a rotation reports when rows stay behind", () => {
  it("a run that ends FAILED_WITH_ROWS with every row decrypting fails the re-encrypt step; pass stops at 5; no 'N of M' above M", async () => {
    const { rows } = await app().database.db.pool.query<{ id: string }>(
      `SELECT id FROM "PlatformIntegration" ORDER BY id LIMIT 1`,
    );
    const stop = await staleWriterOn(rows[0]?.id as string);
    try {
      const rotation = await WorkflowDriver.start(app(), "/key-rotate", "production stale writer", REQUESTER);
      await rotation.click(REQUESTER, "generate-key", "step_run");
      await rotation.waitForStep("generate-key", "DONE");
      await rotation.click(APPROVER, "approval", "step_approve");
      await rotation.waitForStep("reencrypt", "FAILED", 60_000);
      const step = (await rotation.state()).steps.find((s) => s.key === "reencrypt");
      expect(step?.error).toBe(
        "1 row is still under an older version (written by an application instance with an old key?); " +
          "Retry once every instance writes the new version",
      );
      const run = await app().database.db.prisma.rotationRun.findFirstOrThrow({ orderBy: { id: "desc" } });
      expect(run.status).toBe("FAILED_WITH_ROWS");
      expect(run.pass).toBe(5);
      // The row was rewritten once per pass: more rewrites than rows, said as such.
      expect(run.rowsDone).toBeGreaterThan(ROWS);
      const line = step?.result?.lines.join("\n") ?? "";
      expect(line).toContain(`${run.rowsDone} rewrites for ${ROWS} rows re-encrypted`);
      expect(line).not.toMatch(new RegExp(`\\b${run.rowsDone} of ${ROWS}\\b`));
      expect(rotation.messageText()).not.toContain(`✅ *Re-encrypt*`);
    } finally {
      await stop();
    }
  });

  it("a resumed run's rate is this process's rows over this process's time", async () => {
    const { engine } = app().bot.runtime;
    const controller = new AbortController();
    const interrupted = engine.rotate("production", {
      batchSize: 10,
      maxRowsPerSecond: 100,
      signal: controller.signal,
    });
    await eventually("half the rows done", async () => {
      const run = await app().database.db.prisma.rotationRun.findFirst({ where: { status: "RUNNING" } });
      return (run?.rowsDone ?? 0) >= ROWS / 2;
    });
    controller.abort();
    await expect(interrupted).rejects.toThrow();
    const before = await app().database.db.prisma.rotationRun.findFirstOrThrow({
      where: { status: "RUNNING" },
    });
    const report = await engine.rotate("production", { batchSize: 10 });
    expect(report.resumed).toBe(true);
    expect(report.reencrypted).toBe(before.rowsDone + report.reencryptedHere);
    expect(report.reencryptedHere).toBeLessThan(report.reencrypted);
    expect(report.rowsPerSecond).toBe(Math.round((report.reencryptedHere * 1000) / report.reencryptMs));
  });
});
