import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { APPROVER, eventually, REQUESTER } from "../support/bot.js";
import { BotFleet } from "../support/bot-processes.js";
import { OwnPostgres } from "../support/own-postgres.js";
import { WorkflowDriver } from "../support/workflow-driver.js";

const ROWS = 3000;
// About 7 s of re-encryption: the faults land in the middle of it.
const SLOW = { KEYOPS_MAX_ROWS_PER_SECOND: "400", KEYOPS_TAKEOVER_SECONDS: "6" };

let server: OwnPostgres;

beforeAll(async () => {
  server = await OwnPostgres.start();
});

afterAll(async () => {
  await server?.close();
});

async function database(name: string): Promise<string> {
  await server.pool.query(`CREATE DATABASE ${name}`);
  const url = new URL(server.url);
  url.pathname = `/${name}`;
  return url.toString();
}

/** /key-rotate through the first bot: generated, approved, re-encrypting with some rows done. */
async function rotationUnderWay(fleet: BotFleet) {
  const rotation = await WorkflowDriver.start(fleet, "/key-rotate", "production under faults", REQUESTER);
  await rotation.click(REQUESTER, "generate-key", "step_run");
  await rotation.waitForStep("generate-key", "DONE", 60_000);
  const before = await fleet.rowsDone();
  await rotation.click(APPROVER, "approval", "step_approve");
  await rotation.waitForStep("reencrypt", "RUNNING", 60_000);
  await eventually("some rows re-encrypted", async () => (await fleet.rowsDone()) >= before + 400, 60_000);
  return rotation;
}

async function expectEveryRowRotated(fleet: BotFleet, original: string) {
  const after = await fleet.engine().verify("production");
  expect(after).toMatchObject({ rows: ROWS, failed: 0, notOnActive: 0 });
  expect(after.plaintextDigest).toBe(original);
}

describe("a rotation survives its replicas and its database", () => {
  it("two bots on one database: SIGKILL the one rotating, the survivor takes it over within a minute and finishes it", async () => {
    const fleet = await BotFleet.start(await database("replicas"), SLOW);
    try {
      await fleet.spawn();
      await fleet.spawn();
      await fleet.seed(ROWS);
      const original = (await fleet.engine().verify("production")).plaintextDigest;
      const rotation = await rotationUnderWay(fleet);
      const runner = await eventually("the replica running the rotation", () =>
        fleet.runnerOf(rotation.workflowId, "reencrypt"),
      );
      const survivor = fleet.bots.find((b) => b !== runner);
      runner.child.kill("SIGKILL");
      await runner.exited;
      const killedAt = Date.now();

      const takeover = await eventually(
        "the takeover in the thread",
        async () => rotation.thread().find((m) => /took over \*Re-encrypt/.test(m.text ?? "")),
        60_000,
      );
      const takeoverSeconds = (Date.now() - killedAt) / 1000;
      expect(takeoverSeconds).toBeLessThan(60);
      expect(takeover.text).toMatch(/silent for \d+ s/);
      await rotation.waitForStep("verify", "DONE", 120_000);
      expect(survivor?.alive()).toBe(true);
      expect(await survivor?.health()).toBe(200);
      await expectEveryRowRotated(fleet, original);
      const timeline = await fleet.bot.service.get(rotation.workflowId);
      expect(timeline.steps.find((s) => s.key === "reencrypt")?.status).toBe("DONE");
      process.stdout.write(
        `takeover: ${takeoverSeconds.toFixed(1)} s after SIGKILL (KEYOPS_TAKEOVER_SECONDS=6)\n`,
      );
    } finally {
      await fleet.stop();
    }
  });

  it.each([
    { fault: "the database restarting", inject: () => server.restart(1500) },
    {
      fault: "the engine's backends terminated",
      inject: async () => expect(await server.terminateKeyopsBackends()).toBeGreaterThan(0),
    },
  ])(
    "$fault mid-rotation: the bot keeps serving and the job resumes from its checkpoint",
    async ({ inject }) => {
      const fleet = await BotFleet.start(
        await database(`fault_${Math.random().toString(36).slice(2, 8)}`),
        SLOW,
      );
      try {
        const bot = await fleet.spawn();
        await fleet.seed(ROWS);
        const original = (await fleet.engine().verify("production")).plaintextDigest;
        const rotation = await rotationUnderWay(fleet);
        await inject();
        await rotation.waitForStep("verify", "DONE", 120_000);
        expect(bot.alive()).toBe(true);
        expect(await bot.health()).toBe(200);
        await expectEveryRowRotated(fleet, original);
        expect(bot.stderr()).not.toMatch(/Unhandled 'error'|node:events/);
        expect(bot.stderr()).toMatch(/resuming once the database answers/);
      } finally {
        await fleet.stop();
      }
    },
  );
});
