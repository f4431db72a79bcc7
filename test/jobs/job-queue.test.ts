import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { type JobInfo, JobQueue } from "../../src/jobs/job-queue.js";
import { createLogger, type Logger, silentLogger } from "../../src/logger.js";
import { createEmptyDatabase } from "../support/database.js";

interface Run {
  replica: string;
  data: { n: number };
  job: JobInfo;
}

/** Long enough for an idle worker (polling every 0.5 s) to have looked twice. */
const QUIET_MS = 1_200;

let database: Awaited<ReturnType<typeof createEmptyDatabase>>;
const started: JobQueue[] = [];
let queues = 0;

beforeAll(async () => {
  database = await createEmptyDatabase();
});

afterEach(async () => {
  await Promise.all(started.splice(0).map((queue) => queue.stop({ graceful: false })));
});

afterAll(async () => {
  await database?.drop();
});

async function startQueue(log: Logger = silentLogger): Promise<JobQueue> {
  const queue = await JobQueue.start({ connectionString: database.url, log });
  started.push(queue);
  return queue;
}

function newQueueName(): string {
  queues += 1;
  return `test-queue-${queues}`;
}

/** A handler recording its runs into `runs`, optionally held until `release()`. */
function recorder(runs: Run[], replica: string, hold?: Promise<void>) {
  return async (data: { n: number }, job: JobInfo) => {
    runs.push({ replica, data, job });
    await hold;
  };
}

function gate(): { hold: Promise<void>; release: () => void } {
  let release = () => {};
  const hold = new Promise<void>((resolve) => {
    release = resolve;
  });
  return { hold, release };
}

async function jobRow(id: string): Promise<{ state: string; retry_count: number }> {
  const { rows } = await database.pool.query("SELECT state, retry_count FROM pgboss.job WHERE id = $1", [id]);
  return rows[0];
}

const waitFor = (check: () => void | Promise<void>) => vi.waitFor(check, { timeout: 5_000, interval: 25 });

describe("JobQueue", () => {
  it("runs a sent job once, with its data", async () => {
    const queue = await startQueue();
    const name = newQueueName();
    const runs: Run[] = [];
    await queue.register(name, recorder(runs, "a"));

    const id = await queue.send(name, { n: 1 });

    await waitFor(() => expect(runs).toHaveLength(1));
    expect(runs[0]).toEqual({ replica: "a", data: { n: 1 }, job: { id, retryCount: 0 } });
    await sleep(QUIET_MS);
    expect(runs).toHaveLength(1);
    expect((await jobRow(id as string)).state).toBe("completed");
    expect(await queue.send(name, { n: 2 }, { id: id as string })).toBeNull();
  });

  it("retries a failing handler up to retryLimit, then gives up, logging the error but not the payload", async () => {
    const lines: string[] = [];
    const queue = await startQueue(createLogger("debug", (line) => lines.push(line)));
    const name = newQueueName();
    const attempts: number[] = [];
    await queue.register<{ workflowId: string }>(
      name,
      async (_data, job) => {
        attempts.push(job.retryCount);
        throw new Error("step exploded");
      },
      { retryLimit: 2, retryDelaySeconds: 0 },
    );

    const id = await queue.send(name, { workflowId: "payload-marker-5c1e" });

    await waitFor(async () => expect((await jobRow(id as string)).state).toBe("failed"));
    await sleep(QUIET_MS);
    expect(attempts).toEqual([0, 1, 2]);
    expect(await jobRow(id as string)).toEqual({ state: "failed", retry_count: 2 });
    expect(lines.filter((line) => line.includes("step exploded"))).toHaveLength(3);
    expect(lines.filter((line) => line.includes("no retries left"))).toHaveLength(1);
    expect(lines.join("")).not.toContain("payload-marker-5c1e");
  });

  it("ignores a second send of a singleton key while the first is queued or running, not after", async () => {
    const queue = await startQueue();
    const name = newQueueName();
    const runs: Run[] = [];
    const running = gate();
    await queue.register(name, recorder(runs, "a", running.hold));

    const first = await queue.send(name, { n: 1 }, { singletonKey: "rotate:prod" });
    const queued = await queue.send(name, { n: 2 }, { singletonKey: "rotate:prod" });
    await waitFor(() => expect(runs).toHaveLength(1));
    const active = await queue.send(name, { n: 3 }, { singletonKey: "rotate:prod" });
    running.release();

    expect(first).not.toBeNull();
    expect([queued, active]).toEqual([null, null]);
    await waitFor(async () => expect((await jobRow(first as string)).state).toBe("completed"));
    await sleep(QUIET_MS);
    expect(runs.map((run) => run.data.n)).toEqual([1]);

    const again = await queue.send(name, { n: 4 }, { singletonKey: "rotate:prod" });
    expect(again).not.toBeNull();
    await waitFor(() => expect(runs.map((run) => run.data.n)).toEqual([1, 4]));
  });

  it("runs a singleton key once across two replicas, without holding up other keys", async () => {
    const [a, b] = await Promise.all([startQueue(), startQueue()]);
    const name = newQueueName();
    const runs: Run[] = [];
    const running = gate();
    await a.register(name, recorder(runs, "a", running.hold));
    await b.register(name, recorder(runs, "b", running.hold));

    const sent = await Promise.all([
      a.send(name, { n: 1 }, { singletonKey: "rotate:prod" }),
      b.send(name, { n: 1 }, { singletonKey: "rotate:prod" }),
    ]);
    expect(sent.filter((id) => id !== null)).toHaveLength(1);
    await waitFor(() => expect(runs).toHaveLength(1));
    expect(
      await Promise.all([
        a.send(name, { n: 1 }, { singletonKey: "rotate:prod" }),
        b.send(name, { n: 1 }, { singletonKey: "rotate:prod" }),
      ]),
    ).toEqual([null, null]);

    // The other replica's worker is free for another key while the first job still runs.
    await a.send(name, { n: 2 }, { singletonKey: "rotate:staging" });
    await waitFor(() => expect(runs.map((run) => run.data.n)).toEqual([1, 2]));
    expect(new Set(runs.map((run) => run.replica))).toEqual(new Set(["a", "b"]));

    running.release();
    await sleep(QUIET_MS);
    expect(runs.map((run) => run.data.n)).toEqual([1, 2]);
  });

  it("keeps a job across a restart: a queue that stops before it is due leaves it to the next one", async () => {
    const name = newQueueName();
    const runs: Run[] = [];
    const a = await startQueue();
    await a.register(name, recorder(runs, "a"));
    const id = await a.send(name, { n: 1 }, { startAfter: new Date(Date.now() + 1_500) });
    await a.stop({ graceful: false });

    const b = await startQueue();
    await b.register(name, recorder(runs, "b"));

    await waitFor(() => expect(runs).toHaveLength(1));
    expect(runs[0]).toEqual({ replica: "b", data: { n: 1 }, job: { id, retryCount: 0 } });
  });

  it("hands a job running on a queue stopped abruptly to another replica as a retry", async () => {
    const name = newQueueName();
    const runs: Run[] = [];
    const a = await startQueue();
    const b = await startQueue();
    const stuck = gate();
    await a.register(name, recorder(runs, "a", stuck.hold), { retryLimit: 1 });
    const id = await a.send(name, { n: 1 });
    await waitFor(() => expect(runs).toHaveLength(1));

    await a.stop({ graceful: false });
    await b.register(name, recorder(runs, "b"));

    await waitFor(() => expect(runs.map((run) => run.replica)).toEqual(["a", "b"]));
    expect(runs[1]?.job).toEqual({ id, retryCount: 1 });
    stuck.release();
  });

  it("stops gracefully: waits for the running handler, whose job completes", async () => {
    const queue = await startQueue();
    const name = newQueueName();
    let finished = false;
    const running = gate();
    await queue.register(name, async () => {
      running.release();
      await sleep(700);
      finished = true;
    });
    const id = await queue.send(name, { n: 1 });
    await running.hold;

    await queue.stop({ graceful: true, timeoutMs: 10_000 });

    expect(finished).toBe(true);
    expect((await jobRow(id as string)).state).toBe("completed");
  });

  it("delays a job until startAfter; a cancelled job never runs", async () => {
    const queue = await startQueue();
    const name = newQueueName();
    const runs: Run[] = [];
    await queue.register(name, recorder(runs, "a"));

    const sentAt = Date.now();
    await queue.send(name, { n: 1 }, { startAfter: 2 });
    const cancelled = await queue.send(name, { n: 2 }, { startAfter: 2 });
    await queue.cancel(name, cancelled as string);

    await waitFor(() => expect(runs).toHaveLength(1));
    expect(Date.now() - sentAt).toBeGreaterThanOrEqual(1_900);
    await sleep(QUIET_MS);
    expect(runs.map((run) => run.data.n)).toEqual([1]);
    expect((await jobRow(cancelled as string)).state).toBe("cancelled");
  });
});
