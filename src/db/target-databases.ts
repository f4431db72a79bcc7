import pg from "pg";
import type { Environment } from "../environments.js";
import type { Logger } from "../logger.js";

/**
 * Connections to the databases that hold each environment's encrypted credentials, opened on
 * first use. An environment without its own URL uses the KeyOps database.
 */
export class TargetDatabases {
  private readonly pools = new Map<Environment, pg.Pool>();

  constructor(
    private readonly own: pg.Pool,
    private readonly urls: Partial<Record<Environment, string>>,
    private readonly log: Logger,
  ) {}

  readonly poolFor = (environment: Environment): pg.Pool => {
    const url = this.urls[environment];
    if (!url) return this.own;
    let pool = this.pools.get(environment);
    if (!pool) {
      pool = new pg.Pool({ connectionString: url, max: 5, application_name: "keyops" });
      pool.on("error", (error) =>
        this.log.warn("target database connection lost", { environment, error: error.message }),
      );
      this.pools.set(environment, pool);
    }
    return pool;
  };

  async close(): Promise<void> {
    await Promise.all([...this.pools.values()].map((pool) => pool.end().catch(() => undefined)));
    this.pools.clear();
  }
}
