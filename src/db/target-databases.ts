import pg from "pg";
import type { Logger } from "../logger.js";

/**
 * Connections to the databases that hold the environments' encrypted credentials, opened on
 * first use and shared by every target in the same database.
 */
export class TargetDatabases {
  private readonly pools = new Map<string, pg.Pool>();

  constructor(private readonly log: Logger) {}

  poolFor(url: string): pg.Pool {
    let pool = this.pools.get(url);
    if (!pool) {
      pool = new pg.Pool({ connectionString: url, max: 5, application_name: "keyops" });
      pool.on("error", (error) => this.log.warn("target database connection lost", { error: error.message }));
      this.pools.set(url, pool);
    }
    return pool;
  }

  async close(): Promise<void> {
    await Promise.all([...this.pools.values()].map((pool) => pool.end().catch(() => undefined)));
    this.pools.clear();
  }
}
