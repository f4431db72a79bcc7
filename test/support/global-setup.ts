import { chmod, mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import type { TestProject } from "vitest/node";
import { type EmbeddedServer, removeEmbeddedDataDir, startEmbeddedPostgres } from "../../src/db/embedded.js";
import { removeTree } from "../../src/db/embedded-host.js";
import { silentLogger } from "../../src/logger.js";
import { freePort } from "../../src/net.js";
import { ARTIFACTS_DIR, KEYS_DIR, OUTPUT_DIR } from "./artifacts.js";
import { countRecordedKeys, findLeaks, findTempLeftovers } from "./secret-scan.js";

declare module "vitest" {
  export interface ProvidedContext {
    adminDatabaseUrl: string;
  }
}

/**
 * One PostgreSQL for the run: the system one named by DATABASE_URL when set, else an embedded
 * server in a temporary directory. Each test file gets its own fresh database on it.
 */
export default async function setup(project: TestProject) {
  await rm(ARTIFACTS_DIR, { recursive: true, force: true });
  let server: EmbeddedServer | undefined;
  let dataDir: string | undefined;
  let adminUrl = process.env.DATABASE_URL;
  if (!adminUrl) {
    dataDir = await mkdtemp(path.join(os.tmpdir(), "keyops-test-pg-"));
    server = await startEmbeddedPostgres({
      dataDir,
      port: await freePort(),
      log: silentLogger,
      settings: { fsync: "off", synchronous_commit: "off", full_page_writes: "off", max_connections: "300" },
    });
    adminUrl = server.url;
  }
  project.provide("adminDatabaseUrl", adminUrl);
  // The run's own temporary directory (workers and the CLI children they spawn inherit TMPDIR):
  // what the suite leaves there is checked at the end, and other runs on the machine do not mix in.
  const systemTemp = os.tmpdir();
  const runTemp = await mkdtemp(path.join(systemTemp, "keyops-test-tmp-"));
  await chmod(runTemp, 0o711); // the embedded server's user may pass through, no one may list it
  process.env.TMPDIR = runTemp;

  return async () => {
    await server?.stop();
    // As root the cluster of this private (0700) directory is kept in /var/lib/keyops/clusters: gone too.
    if (dataDir) await removeEmbeddedDataDir(dataDir);
    process.env.TMPDIR = systemTemp;
    const leftovers = findTempLeftovers(runTemp, KEYS_DIR);
    await removeTree(runTemp);
    const leaks = findLeaks(KEYS_DIR, OUTPUT_DIR);
    const keysChecked = countRecordedKeys(KEYS_DIR);
    // The throw-away keys were needed for the scans only: nothing readable is left behind.
    await rm(KEYS_DIR, { recursive: true, force: true });
    if (leftovers.length > 0) {
      process.stderr.write(
        `temp check FAILED: the suite left secrets in the temporary directory: ${leftovers.join("; ")}\n`,
      );
      process.exitCode = 1;
    }
    if (leaks.length > 0) {
      const where = leaks.map((l) => `${l.fingerprint} (${l.encoding}) in ${l.file}`).join("; ");
      // Vitest reports an error thrown here but still exits 0: fail the run explicitly.
      process.stderr.write(`secret scan FAILED: key material reached the suite's output: ${where}\n`);
      process.exitCode = 1;
      return;
    }
    process.stdout.write(
      `secret scan: ${keysChecked} keys checked against everything the suite printed, none found\n`,
    );
  };
}
