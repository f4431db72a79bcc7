import { mkdtemp } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import pg from "pg";
import { type EmbeddedServer, removeEmbeddedDataDir, startEmbeddedPostgres } from "../../src/db/embedded.js";
import { guardPool } from "../../src/db/faults.js";
import { silentLogger } from "../../src/logger.js";
import { freePort } from "../../src/net.js";

/**
 * A PostgreSQL server of the test file's own (the suite's shared one must never be restarted):
 * an embedded cluster in a temporary directory that the test can restart, and whose KeyOps
 * backends it can terminate, while real processes use it.
 */
export class OwnPostgres {
  private server: EmbeddedServer | undefined;
  /** The test's own connections (seeding, watching runs), resilient to the faults it injects. */
  readonly pool: pg.Pool;

  private constructor(
    readonly dataDir: string,
    readonly port: number,
    readonly url: string,
    server: EmbeddedServer,
  ) {
    this.server = server;
    this.pool = guardPool(new pg.Pool({ connectionString: url, max: 4 }), silentLogger, "test");
  }

  static async start(
    options: { dataDir?: string; settings?: Record<string, string> } = {},
  ): Promise<OwnPostgres> {
    const dataDir = options.dataDir ?? (await mkdtemp(path.join(os.tmpdir(), "keyops-faults-pg-")));
    const port = await freePort();
    const server = await startEmbeddedPostgres({
      dataDir,
      port,
      log: silentLogger,
      settings: options.settings,
    });
    return new OwnPostgres(dataDir, port, server.url, server);
  }

  /** Stops the server (fast shutdown: every session is terminated), then starts it again. */
  async restart(downMs = 0): Promise<void> {
    await this.stop();
    if (downMs > 0) await new Promise((resolve) => setTimeout(resolve, downMs));
    this.server = await startEmbeddedPostgres({ dataDir: this.dataDir, port: this.port, log: silentLogger });
  }

  async stop(): Promise<void> {
    await this.server?.stop();
    this.server = undefined;
  }

  /**
   * pg_terminate_backend on every session of a KeyOps process (application_name keyops*), but
   * those of this test process (which watches the faults it injects).
   */
  async terminateKeyopsBackends(): Promise<number> {
    const { rows } = await this.pool.query<{ n: string }>(
      `SELECT count(pg_terminate_backend(pid)) AS n FROM pg_stat_activity
        WHERE application_name LIKE 'keyops%' AND application_name NOT LIKE $1 AND pid <> pg_backend_pid()`,
      [`keyops-${process.pid}-%`],
    );
    return Number(rows[0]?.n ?? 0);
  }

  async close(): Promise<void> {
    await this.pool.end().catch(() => undefined);
    await this.stop();
    await removeEmbeddedDataDir(this.dataDir);
  }
}
