import { existsSync, readFileSync } from "node:fs";
import { mkdir, mkdtemp, readlink, rm, symlink, utimes, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, describe, expect, it } from "vitest";
import { startEmbeddedPostgres } from "../../src/db/embedded.js";
import { CLUSTERS_ROOT, setAsideName } from "../../src/db/embedded-host.js";
import { GRACE_MS, keptClusters, pruneKeptClusters } from "../../src/db/kept-clusters.js";
import { silentLogger } from "../../src/logger.js";
import { freePort } from "../../src/net.js";
import { runKeyops } from "../support/cli.js";

const IS_ROOT = process.getuid?.() === 0;
const made: string[] = [];

async function tempDir(prefix: string): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), prefix));
  made.push(dir);
  return dir;
}

afterAll(async () => {
  for (const dir of made) await rm(dir, { recursive: true, force: true });
});

/** A kept cluster directory as clusterDir makes it: `postgres/` (a file stands for the cluster) and `origin`. */
async function keptDir(
  root: string,
  name: string,
  origin: string | undefined,
  ageMs: number,
): Promise<string> {
  const dir = path.join(root, name);
  await mkdir(path.join(dir, "postgres"), { recursive: true });
  await writeFile(path.join(dir, "postgres", "PG_VERSION"), "18\n");
  if (origin) await writeFile(path.join(dir, "origin"), `${origin}\n`);
  const then = new Date(Date.now() - ageMs);
  await utimes(dir, then, then);
  return dir;
}

describe("the clusters kept for data directories the postgres user cannot reach", () => {
  it("are judged by their data directory's link, and prune removes only the orphaned ones", async () => {
    const root = await tempDir("keyops-kept-root-");
    const old = GRACE_MS + 60_000;
    const live = await tempDir("keyops-kept-live-");
    const inUse = await keptDir(root, "1111111111111111", live, old);
    await symlink(path.join(inUse, "postgres"), path.join(live, "postgres"));
    const gone = await keptDir(root, "2222222222222222", path.join(os.tmpdir(), "keyops-kept-deleted"), old);
    const remade = await tempDir("keyops-kept-remade-");
    const other = await keptDir(root, "3333333333333333", remade, old);
    await symlink(path.join(root, "elsewhere", "postgres"), path.join(remade, "postgres"));
    const aside = await keptDir(root, path.basename(setAsideName("4444444444444444", new Date())), live, old);
    const fresh = await keptDir(root, "5555555555555555", undefined, 0);

    const judged = Object.fromEntries((await keptClusters(root)).map((c) => [c.dir, c]));
    expect(judged[inUse]).toMatchObject({ state: "in-use", origin: live });
    expect(judged[gone]).toMatchObject({ state: "orphaned", reason: expect.stringContaining("is gone") });
    expect(judged[other]).toMatchObject({
      state: "orphaned",
      reason: expect.stringContaining("another cluster"),
    });
    expect(judged[aside]).toMatchObject({ state: "orphaned", reason: expect.stringContaining("set aside") });
    expect(judged[fresh]).toMatchObject({ state: "recent" });
    expect(judged[gone]?.bytes).toBeGreaterThan(0);

    const removed = (await pruneKeptClusters(root)).map((c) => c.dir).sort();
    expect(removed).toEqual([gone, other, aside].sort());
    for (const dir of removed) expect(existsSync(dir)).toBe(false);
    for (const dir of [inUse, fresh, live, remade]) expect(existsSync(dir)).toBe(true);
    expect(await readlink(path.join(live, "postgres"))).toBe(path.join(inUse, "postgres"));
  });

  it("a root that does not exist holds none", async () => {
    expect(await keptClusters(path.join(os.tmpdir(), "keyops-kept-no-such-root"))).toEqual([]);
  });

  it.runIf(IS_ROOT)(
    "a cluster whose data directory was deleted under its running server is kept until the server is gone",
    async () => {
      const dataDir = await tempDir("keyops-kept-private-"); // 0700: the cluster is kept in CLUSTERS_ROOT
      const server = await startEmbeddedPostgres({ dataDir, port: await freePort(), log: silentLogger });
      const cluster = await readlink(path.join(dataDir, "postgres"));
      const home = path.dirname(cluster);
      const ours = (c: { dir: string }) => c.dir === home;
      const pid = Number(readFileSync(path.join(cluster, "postmaster.pid"), "utf8").split("\n")[0]);
      try {
        expect((await keptClusters()).find(ours)).toMatchObject({ state: "running", origin: dataDir });
        await rm(dataDir, { recursive: true, force: true }); // deleted by hand, the server still running
        const past = new Date(Date.now() - GRACE_MS - 60_000);
        await utimes(home, past, past);
        expect((await keptClusters()).find(ours)?.state).toBe("running");
        expect(await pruneKeptClusters(CLUSTERS_ROOT, ours)).toEqual([]);
        expect(existsSync(cluster)).toBe(true);

        process.kill(pid, "SIGINT");
        for (let i = 0; i < 400 && existsSync(path.join(cluster, "postmaster.pid")); i++) await sleep(25);
        await utimes(home, past, past);
        const listed = await runKeyops(["clusters", "list", "--json"], {});
        expect(listed.code).toBe(0);
        const report = JSON.parse(listed.stdout) as {
          clusters: { dir: string; state: string; reason: string }[];
        };
        expect(report.clusters.find(ours)).toMatchObject({
          state: "orphaned",
          reason: expect.stringContaining("is gone"),
        });
        expect((await pruneKeptClusters(CLUSTERS_ROOT, ours)).map((c) => c.dir)).toEqual([home]);
        expect(existsSync(home)).toBe(false);
      } finally {
        await server.stop().catch(() => undefined);
        if (existsSync(path.join(cluster, "postmaster.pid"))) process.kill(pid, "SIGKILL");
        await rm(home, { recursive: true, force: true });
      }
    },
    120_000,
  );
});
