import { existsSync, readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { CLUSTERS_ROOT } from "../../src/db/embedded-host.js";
import { captureOutput, spawnNode } from "../support/cli.js";
import { portIsFree, removeLeftoverServer } from "../support/embedded-leftovers.js";

const BENCH = fileURLToPath(new URL("../../bench/rotation.ts", import.meta.url));
const STARTED = /starting PostgreSQL in (\S+) on port (\d+)/;

/** Clusters kept in CLUSTERS_ROOT for a data directory inside `dir` (as root). */
function clustersFor(dir: string): string[] {
  return readdirSync(CLUSTERS_ROOT, { withFileTypes: true })
    .filter((entry) => entry.isDirectory())
    .filter((entry) => {
      const origin = path.join(CLUSTERS_ROOT, entry.name, "origin");
      return existsSync(origin) && readFileSync(origin, "utf8").trim().startsWith(dir);
    })
    .map((entry) => entry.name);
}

describe("a benchmark interrupted half-way", () => {
  it.each(["SIGTERM", "SIGINT"] as const)(
    "on %s stops its PostgreSQL and removes its scratch directory, then exits 128 + the signal",
    async (signal) => {
      const child = spawnNode(["--import", "tsx", BENCH, "--rows", "50000"], {});
      const output = captureOutput(child);
      const exited = new Promise<{ code: number | null }>((resolve) =>
        child.on("close", (code) => resolve({ code })),
      );
      let dir = "";
      let port = 0;
      try {
        // Interrupted while it seeds, its server running.
        await new Promise<void>((resolve, reject) => {
          const seen = () => {
            const started = STARTED.exec(output.stderr());
            if (started && output.stderr().includes("seeding")) {
              dir = started[1] as string;
              port = Number(started[2]);
              resolve();
            }
          };
          child.stderr?.on("data", seen);
          void exited.then(() => reject(new Error(`the benchmark ended first: ${output.stderr()}`)));
        });
        expect(existsSync(path.join(dir, "postgres"))).toBe(true);
        // Twice, as a signal to the process group arrives: directly, and a moment later relayed by tsx.
        child.kill(signal);
        await sleep(100);
        child.kill(signal);
        const { code } = await exited;
        expect(code).toBe(signal === "SIGTERM" ? 143 : 130);
        expect(output.stderr()).toContain(`${signal}: stopping what bench:rotation started`);
        expect(existsSync(dir)).toBe(false);
        expect(await portIsFree(port)).toBe(true);
        if (existsSync(CLUSTERS_ROOT)) expect(clustersFor(dir)).toEqual([]);
      } finally {
        child.kill("SIGKILL");
        if (dir) await removeLeftoverServer(dir);
      }
    },
    120_000,
  );
});
