import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { eventually } from "../support/bot.js";
import { captureOutput, runKeyops, spawnKeyops } from "../support/cli.js";
import { newTestKey } from "../support/database.js";
import { OwnPostgres } from "../support/own-postgres.js";

const ROWS = 3000;
// Slow enough (about 6 s of re-encryption) that a fault lands in the middle of it.
const ROTATE = ["rotate", "--json", "--batch-size", "50", "--max-rows-per-second", "500"];

let server: OwnPostgres;
let env: Record<string, string>;

beforeAll(async () => {
  server = await OwnPostgres.start();
  env = {
    DATABASE_URL: server.url,
    KEYOPS_MASTER_KEY: newTestKey().exposeBase64(),
    ENCRYPTION_KEY: newTestKey().exposeBase64(),
  };
  const seeded = await runKeyops(["demo", "seed", "--rows", String(ROWS)], env);
  expect(seeded.code, seeded.stderr).toBe(0);
});

afterAll(async () => {
  await server?.close();
});

async function verify() {
  const result = await runKeyops(["verify", "--json"], env);
  expect(result.code, result.stderr).toBe(0);
  return JSON.parse(result.stdout) as {
    rows: number;
    failed: number;
    notOnActive: number;
    plaintextDigest: string;
    perVersion: Record<string, number>;
  };
}

/** Rows re-encrypted by every run so far (0 before the first has been recorded). */
async function rowsDone(): Promise<number> {
  const { rows } = await server.pool
    .query<{ done: number }>(`SELECT COALESCE(sum("rowsDone"), 0)::int AS done FROM "RotationRun"`)
    .catch(() => ({ rows: [] as { done: number }[] }));
  return rows[0]?.done ?? 0;
}

/** Starts a rotation in its own process and waits until it has committed some batches. */
async function rotationUnderWay() {
  const child = spawnKeyops(ROTATE, env);
  const output = captureOutput(child);
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  const doneBefore = await rowsDone();
  await eventually(
    "the rotation to commit some batches",
    async () => (await rowsDone()) >= doneBefore + 300,
    30_000,
  );
  return { exited, ...output };
}

/** Runs `keyops rotate` again (after the lock holder's session is gone) until it is not refused as busy. */
async function rotateAgain() {
  let last = await runKeyops(ROTATE, env);
  for (let i = 0; last.code === 3 && i < 20; i++) {
    await sleep(250);
    last = await runKeyops(ROTATE, env);
  }
  return last;
}

function expectOneResumableLine(stderr: string, pattern: RegExp) {
  const lines = stderr.trim().split("\n");
  expect(lines, stderr).toHaveLength(1);
  expect(lines[0]).toMatch(pattern);
  expect(stderr).not.toMatch(/node:events|Unhandled 'error'|^\s+at /m);
}

describe("the CLI when its database goes away mid-rotation", () => {
  it("pg_terminate_backend on its sessions: one line, exit 75; running it again resumes and every row decrypts", async () => {
    const original = await verify();
    const rotation = await rotationUnderWay();
    expect(await server.terminateKeyopsBackends()).toBeGreaterThan(0);
    expect(await rotation.exited).toBe(75);
    expectOneResumableLine(
      rotation.stderr(),
      /^keyops: lost the connection to the database \(.+\); run the same command again to resume \(nothing committed is lost\)$/,
    );
    expect(JSON.parse(rotation.stdout())).toMatchObject({ exitCode: 75 });

    const again = await rotateAgain();
    expect(again.code, again.stderr).toBe(0);
    const report = JSON.parse(again.stdout);
    expect(report).toMatchObject({ status: "SUCCEEDED", resumed: true, digestUnchanged: true });
    const after = await verify();
    expect(after).toMatchObject({ rows: ROWS, failed: 0, notOnActive: 0 });
    expect(after.plaintextDigest).toBe(original.plaintextDigest);
  });

  it("the server restarting: one line, exit 75; after the restart the same command resumes", async () => {
    const original = await verify();
    const rotation = await rotationUnderWay();
    await server.restart();
    const code = await rotation.exited;
    expect(code, `${rotation.stderr()}\n${rotation.stdout()}`).toBe(75);
    expectOneResumableLine(
      rotation.stderr(),
      /^keyops: (lost the connection to|cannot reach) the database \(.+\); .*run the same command again to resume/,
    );
    const again = await rotateAgain();
    expect(again.code, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({
      status: "SUCCEEDED",
      resumed: true,
      digestUnchanged: true,
    });
    const after = await verify();
    expect(after).toMatchObject({ rows: ROWS, failed: 0, notOnActive: 0 });
    expect(after.plaintextDigest).toBe(original.plaintextDigest);
  });

  it("a lock held past lock_timeout: one line saying the database did not answer in time, exit 75; then it runs", async () => {
    const url = new URL(server.url);
    url.searchParams.set("options", "-c lock_timeout=300");
    const timed = { ...env, DATABASE_URL: url.toString() };
    const holder = await server.pool.connect();
    try {
      await holder.query(`BEGIN; LOCK TABLE "KeyVersion" IN ACCESS EXCLUSIVE MODE`);
      const result = await runKeyops(["keys", "status"], timed);
      expect(result.code).toBe(75);
      expectOneResumableLine(
        result.stderr,
        /^keyops: the database did not answer in time \(.*lock timeout.*\); run the same command again to resume/,
      );
    } finally {
      await holder.query("ROLLBACK");
      holder.release();
    }
    const again = await runKeyops(["keys", "status"], timed);
    expect(again.code, again.stderr).toBe(0);
  });

  it("the application holding row locks (lock_timeout set): the rest is rotated, the run waits instead of aborting, and finishes once they are released", async () => {
    const original = await verify();
    const url = new URL(server.url);
    url.searchParams.set("options", "-c lock_timeout=300");
    const timed = { ...env, DATABASE_URL: url.toString() };
    const application = await server.pool.connect();
    let released = false;
    try {
      await application.query("BEGIN");
      const { rows: locked } = await application.query<{ id: string; credentials: string }>(
        // Locked by id: FOR UPDATE with OFFSET would lock the rows it skips too.
        `SELECT id, credentials FROM "PlatformIntegration"
          WHERE id IN (SELECT id FROM "PlatformIntegration" ORDER BY id OFFSET 1000 LIMIT 5)
          ORDER BY id FOR UPDATE`,
      );
      expect(locked).toHaveLength(5);
      const child = spawnKeyops(["rotate", "--json", "--batch-size", "200"], timed);
      const output = captureOutput(child);
      const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
      const doneBefore = await rowsDone();
      await eventually(
        "every row but the locked ones re-encrypted",
        async () => (await rowsDone()) >= doneBefore + ROWS - locked.length,
        60_000,
      );
      const early = await Promise.race([exited, sleep(2000).then(() => "still running")]);
      expect(early, output.stderr()).toBe("still running");
      const { rows: stillOld } = await server.pool.query<{ id: string; credentials: string }>(
        `SELECT id, credentials FROM "PlatformIntegration" WHERE id = ANY($1) ORDER BY id`,
        [locked.map((r) => r.id)],
      );
      expect(stillOld, "the locked rows wait, untouched").toEqual(locked);
      await application.query("ROLLBACK");
      released = true;
      expect(await exited, output.stderr()).toBe(0);
      expect(JSON.parse(output.stdout())).toMatchObject({ status: "SUCCEEDED", digestUnchanged: true });
    } finally {
      if (!released) await application.query("ROLLBACK").catch(() => undefined);
      application.release();
    }
    const after = await verify();
    expect(after).toMatchObject({ rows: ROWS, failed: 0, notOnActive: 0 });
    expect(after.plaintextDigest).toBe(original.plaintextDigest);
  }, 150_000);

  it("the server down: one line naming it, exit 75, and the hint to run it again", async () => {
    await server.stop();
    try {
      const result = await runKeyops(["rotate"], env);
      expect(result.code).toBe(75);
      expectOneResumableLine(
        result.stderr,
        /^keyops: cannot reach the database \(.*ECONNREFUSED.*\); once it is up, run the same command again to resume/,
      );
    } finally {
      await server.restart();
    }
  });
});
