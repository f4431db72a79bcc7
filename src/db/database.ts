import { randomBytes } from "node:crypto";
import pg from "pg";
import type { Config } from "../config.js";
import type { Logger } from "../logger.js";
import { type EmbeddedServer, startEmbeddedPostgres } from "./embedded.js";
import { guardPool } from "./faults.js";
import { migrate } from "./migrate.js";
import { createPrismaClient, type PrismaClient } from "./prisma.js";

export interface Database {
  /** Its connection string (with credentials: never log it). */
  url: string;
  pool: pg.Pool;
  prisma: PrismaClient;
  /** True when this process runs on the embedded PostgreSQL (no DATABASE_URL). */
  embedded: boolean;
  close(): Promise<void>;
}

export interface OpenDatabaseOptions {
  poolSize?: number;
  /** Extra settings for an embedded server this process starts. */
  embeddedSettings?: Record<string, string>;
}

/** DATABASE_URL when set, else the embedded PostgreSQL under dataDir; migrated before use. */
export async function openDatabase(
  config: Pick<Config, "databaseUrl" | "dataDir" | "embeddedPostgresPort">,
  log: Logger,
  options: OpenDatabaseOptions = {},
): Promise<Database> {
  let server: EmbeddedServer | undefined;
  let url = config.databaseUrl;
  if (!url) {
    server = await startEmbeddedPostgres({
      dataDir: config.dataDir,
      port: config.embeddedPostgresPort,
      log,
      settings: options.embeddedSettings,
    });
    url = server.url;
  }
  const applicationName = `keyops-${process.pid}-${randomBytes(4).toString("hex")}`;
  const pool = new pg.Pool({
    connectionString: url,
    max: options.poolSize ?? 10,
    application_name: applicationName,
  });
  // A client losing its connection (server restart, terminated backend) must not end the process.
  guardPool(pool, log, "database");
  try {
    await migrate(pool, log);
  } catch (error) {
    await pool.end().catch(() => undefined);
    await server?.stop();
    throw error;
  }
  const prisma = createPrismaClient(pool);

  let closed = false;
  return {
    url,
    pool,
    prisma,
    embedded: server !== undefined,
    async close() {
      if (closed) return;
      closed = true;
      await prisma.$disconnect().catch(() => undefined);
      await pool.end().catch(() => undefined);
      // pool.end() resolves before the sockets close; the server stopping next is expected.
      pool.removeAllListeners("error");
      pool.on("error", () => undefined);
      // The embedded server is shared by every keyops process of the data directory: stop() gives
      // up this process's share, and the last owner out stops it (see embedded-owners.ts).
      await server?.stop();
    },
  };
}
