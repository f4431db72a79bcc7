import pg from "pg";
import type { Logger } from "../logger.js";
import { guardPool } from "./faults.js";

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
      pool = guardPool(
        new pg.Pool({ connectionString: url, max: 5, application_name: "keyops" }),
        this.log,
        "target database",
      );
      this.pools.set(url, pool);
    }
    return pool;
  }

  async close(): Promise<void> {
    await Promise.all([...this.pools.values()].map((pool) => pool.end().catch(() => undefined)));
    this.pools.clear();
  }
}
