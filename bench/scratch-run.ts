import { mkdtemp } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { removeTree } from "../src/db/embedded-host.js";

/** A benchmark's progress notes, on stderr (stdout carries its figures). */
export const note = (message: string) => process.stderr.write(`bench: ${message}\n`);

/**
 * Runs a benchmark in a scratch directory of its own, removed afterwards unless `keep`; a failure
 * (bad options included) is one line naming the benchmark and exit code 1.
 */
export function runInScratchDir(
  bench: string,
  start: () => { keep: boolean; work: (dir: string) => Promise<void> },
): void {
  const main = async () => {
    const { keep, work } = start();
    const dir = await mkdtemp(path.join(os.tmpdir(), `keyops-${bench}-`));
    try {
      await work(dir);
    } finally {
      if (keep) note(`kept ${dir}`);
      else await removeTree(dir); // with the clusters kept for it in /var/lib/keyops/clusters
    }
  };
  main().catch((error: unknown) => {
    const message = error instanceof Error ? error.message : String(error);
    process.stderr.write(`bench:${bench} failed: ${message.split("\n")[0]}\n`);
    process.exitCode = 1;
  });
}
