import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { APPROVER, eventually, REQUESTER, useTestBot } from "../support/bot.js";
import { spawnNode } from "../support/cli.js";
import { WorkflowDriver } from "../support/workflow-driver.js";

const WRITER = fileURLToPath(new URL("../support/app-writer.ts", import.meta.url));
const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const ROWS = 2000;

// About 10 s of re-encryption (room for the tampering test to act mid-run on a loaded machine), while the application writes 25 rows a second.
const app = useTestBot({
  rows: ROWS,
  env: { KEYOPS_SHARED_ENVIRONMENTS: "none", KEYOPS_MAX_ROWS_PER_SECOND: "200" },
});

const writers: ReturnType<typeof spawnNode>[] = [];
afterEach(async () => {
  for (const w of writers.splice(0)) {
    if (w.exitCode === null) {
      w.kill("SIGTERM");
      await new Promise((resolve) => w.once("exit", resolve));
    }
  }
});

/** The application as its own process, writing new secrets into random rows (but `spared`). */
async function startWriter(spared?: string) {
  const { database } = app();
  const child = spawnNode(
    ["--import", "tsx", WRITER],
    {
      KEYOPS_DATABASE_URL: database.url,
      KEYOPS_MASTER_KEY: database.masterKey.exposeBase64(),
      KEYOPS_KEYRING_REFRESH_SECONDS: "1",
      KEYOPS_REPORT_INTERVAL_SECONDS: "1",
      KEYOPS_SERVICE_NAME: "api",
      WRITES_PER_SECOND: "25",
      ...(spared ? { SPARED_ID: spared } : {}),
    },
    { cwd: ROOT },
  );
  writers.push(child);
  let stdout = "";
  child.stdout?.on("data", (chunk: string) => {
    stdout += chunk;
  });
  await eventually("the application to write", async () => stdout.includes("writing"), 60_000);
  return {
    async stop(): Promise<number> {
      child.kill("SIGTERM");
      await new Promise((resolve) => child.once("exit", resolve));
      return Number(/writes (\d+)/.exec(stdout)?.[1] ?? "0");
    },
  };
}

async function approvedRotation(reason: string) {
  const rotation = await WorkflowDriver.start(app(), "/key-rotate", `production ${reason}`, REQUESTER);
  await rotation.click(REQUESTER, "generate-key", "step_run");
  await rotation.waitForStep("generate-key", "DONE");
  await rotation.click(APPROVER, "approval", "step_approve");
  await rotation.waitForStep("reencrypt", "RUNNING");
  return rotation;
}

function resultLines(w: Awaited<ReturnType<WorkflowDriver["state"]>>, stepKey: string): string {
  const step = w.steps.find((s) => s.key === stepKey);
  return [...(step?.result?.lines ?? []), step?.error ?? ""].join("\n");
}

describe("/key-rotate while the application writes", () => {
  it("re-encrypts and verifies while a real writer writes: the row prints tell its writes from a changed secret", async () => {
    const writer = await startWriter();
    const rotation = await approvedRotation("with live writes");
    await rotation.waitForStep("verify", "DONE", 90_000);
    const state = await rotation.state();
    expect(state.steps.find((s) => s.key === "reencrypt")?.status).toBe("DONE");
    const verified = resultLines(state, "verify");
    expect(verified).toMatch(
      /production: \d+ rows, 0 fail to decrypt, 0 not on v2, digest changed only by the application: [1-9]\d* rows? it wrote since the run started; every other row holds the secret it held before the run \(row by row\)/,
    );
    const writes = await writer.stop();
    expect(writes).toBeGreaterThan(0);
    const final = await app().bot.runtime.engine.verify("production");
    expect(final).toMatchObject({ rows: ROWS, failed: 0, notOnActive: 0 });
  }, 180_000);

  it("a secret changed during the run without an application write fails verify, naming the row, although the application writes too", async () => {
    const { engine } = app().bot.runtime;
    const pool = app().database.db.pool;
    const { rows } = await pool.query<{ id: string }>(
      `SELECT id FROM "PlatformIntegration" ORDER BY id DESC LIMIT 1`,
    );
    const tampered = rows[0]?.id as string;
    // Were the application to write that row too, its write would rightly explain the change.
    const writer = await startWriter(tampered);
    const rotation = await approvedRotation("with a tampered row");
    // After the run's first verify (its row prints) and before its last one.
    await eventually(
      "the run under way",
      async () => {
        const run = await app().database.db.prisma.rotationRun.findFirst({ where: { status: "RUNNING" } });
        return (run?.rowsDone ?? 0) > 0;
      },
      90_000,
    ); // the hand-over gate and the first verify come first: slow under a loaded machine
    const keyring = await engine.keys.loadKeyring("production");
    // Not the application's write: a new secret, and "updatedAt" left as it was.
    await pool.query(`UPDATE "PlatformIntegration" SET "credentials" = $1 WHERE id = $2`, [
      keyring.encrypt(JSON.stringify({ accessToken: "shpat_not_the_application" })),
      tampered,
    ]);
    await eventually(
      "verify to finish",
      async () => ["DONE", "FAILED"].includes((await rotation.stepStatus("verify")) ?? ""),
      90_000,
    ).catch(async (error) => {
      throw new Error(`${error.message}: ${JSON.stringify((await rotation.state()).steps)}`);
    });
    await rotation.waitForStep("verify", "FAILED", 90_000);
    await writer.stop();
    const state = await rotation.state();
    expect(state.steps.find((s) => s.key === "reencrypt")?.status).toBe("DONE");
    expect(resultLines(state, "verify")).toMatch(
      new RegExp(
        `digest DIFFERENT: 1 row changed without an application write since the run started \\(${tampered}\\)`,
      ),
    );
  }, 180_000);
});
