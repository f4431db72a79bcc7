import { existsSync, readFileSync } from "node:fs";
import { createServer } from "node:net";
import path from "node:path";
import { removeEmbeddedDataDir } from "../../src/db/embedded.js";

/** The embedded server's postmaster.pid under a KeyOps data directory: there while it runs. */
export function postmasterPidFile(dataDir: string): string {
  return path.join(dataDir, "postgres", "postmaster.pid");
}

/** True when nothing listens on the port (a server left running would still hold it). */
export function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(false));
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
  });
}

/**
 * After a test that may have failed half-way: kills an embedded server it left running and
 * removes its data directory (with the cluster kept under /var/lib/keyops as root).
 */
export async function removeLeftoverServer(dataDir: string): Promise<void> {
  if (existsSync(postmasterPidFile(dataDir))) {
    try {
      process.kill(Number(readFileSync(postmasterPidFile(dataDir), "utf8").split("\n")[0]), "SIGKILL");
    } catch {
      // gone already
    }
  }
  await removeEmbeddedDataDir(dataDir).catch(() => undefined);
}
