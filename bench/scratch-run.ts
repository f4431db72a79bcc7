import { mkdtemp } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { type EmbeddedServer, startEmbeddedPostgres } from "../src/db/embedded.js";
import { removeTree } from "../src/db/embedded-host.js";
import { onInterrupt } from "../src/interrupts.js";
import type { Logger } from "../src/logger.js";
import { freePort } from "../src/net.js";

/** A benchmark's progress notes, on stderr (stdout carries its figures). */
export const note = (message: string) => process.stderr.write(`bench: ${message}\n`);

/** What an interrupted benchmark must stop, newest first: its finally blocks never run. */
const stopsOnInterrupt: (() => unknown)[] = [];

/**
 * `stop` runs if the benchmark is interrupted (SIGINT, SIGTERM, SIGHUP) before the returned
 * function is called: for what outlives the process otherwise, such as the embedded PostgreSQL
 * (spawned detached) or a child process.
 */
export function stopOnInterrupt(stop: () => unknown): () => void {
  stopsOnInterrupt.push(stop);
  return () => {
    const at = stopsOnInterrupt.indexOf(stop);
    if (at >= 0) stopsOnInterrupt.splice(at, 1);
  };
}

/** Set on the first interrupt: what fails after it fails because of the clean-up. */
let interrupted = false;

/**
 * On an interrupt (SIGINT, SIGTERM, SIGHUP), stops what was registered, removes the scratch
 * directory (unless `keep`) and exits 128 + the signal's number; an interrupt a second or more
 * later ends the process at once (see onInterrupt).
 */
function cleanUpOnInterrupt(bench: string, dir: string, keep: boolean): void {
  const exitCode = (signal: NodeJS.Signals) => 128 + os.constants.signals[signal];
  onInterrupt(
    (signal) => {
      interrupted = true;
      note(`${signal}: stopping what bench:${bench} started`);
      void (async () => {
        for (const stop of stopsOnInterrupt.splice(0).reverse())
          await Promise.resolve()
            .then(stop)
            .catch((error: unknown) => note(`could not stop: ${String(error)}`));
        if (keep) note(`kept ${dir}`);
        else
          await removeTree(dir).catch((error: unknown) => note(`could not remove ${dir}: ${String(error)}`));
        process.exit(exitCode(signal));
      })();
    },
    { signals: ["SIGINT", "SIGTERM", "SIGHUP"], exitCode },
  );
}

/**
 * Runs a benchmark in a scratch directory of its own, removed afterwards unless `keep` (also when
 * it is interrupted, see cleanUpOnInterrupt); a failure (bad options included) is one line naming
 * the benchmark and exit code 1.
 */
export function runInScratchDir(
  bench: string,
  start: () => { keep: boolean; work: (dir: string) => Promise<void> },
): void {
  const main = async () => {
    const { keep, work } = start();
    const dir = await mkdtemp(path.join(os.tmpdir(), `keyops-${bench}-`));
    cleanUpOnInterrupt(bench, dir, keep);
    try {
      await work(dir);
    } finally {
      if (keep) note(`kept ${dir}`);
      else await removeTree(dir); // with the clusters kept for it in /var/lib/keyops/clusters
    }
  };
  main().catch((error: unknown) => {
    if (interrupted) return;
    const message = error instanceof Error ? error.message : String(error);
    process.stderr.write(`bench:${bench} failed: ${message.split("\n")[0]}\n`);
    process.exitCode = 1;
  });
}

/** The benchmark's embedded PostgreSQL in its scratch directory, stopped if it is interrupted. */
export async function startScratchPostgres(
  dir: string,
  log: Logger,
): Promise<{ server: EmbeddedServer; port: number }> {
  const port = await freePort();
  note(`starting PostgreSQL in ${dir} on port ${port}`);
  const server = await startEmbeddedPostgres({ dataDir: dir, port, log });
  stopOnInterrupt(() => server.stop());
  return { server, port };
}
