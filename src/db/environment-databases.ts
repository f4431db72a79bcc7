import pg from "pg";
import type { Environment } from "../environments.js";

/** The guide's application table (idempotent), as the demo and a fresh environment database need it. */
export const GUIDE_TABLE_SQL = `
DO $$ BEGIN
  CREATE TYPE "Platform" AS ENUM ('SHOPIFY', 'AMAZON');
EXCEPTION WHEN duplicate_object THEN NULL;
END $$;
CREATE TABLE IF NOT EXISTS "PlatformIntegration" (
    "id" TEXT NOT NULL,
    "platform" "Platform" NOT NULL,
    "displayName" TEXT NOT NULL,
    "credentials" TEXT NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,
    CONSTRAINT "PlatformIntegration_pkey" PRIMARY KEY ("id")
);`;

/** `keyops_production`: the embedded server's own database for one environment's application data. */
export function environmentDatabaseName(environment: Environment): string {
  return `keyops_${environment}`;
}

/**
 * On the embedded default, each environment's application data lives in a database of its own
 * (so that staging's rows never sit in development's table): created with the guide's table the
 * first time, its URL returned.
 */
export async function ensureEnvironmentDatabase(
  serverUrl: string,
  environment: Environment,
): Promise<string> {
  const name = environmentDatabaseName(environment);
  const admin = new pg.Client({ connectionString: serverUrl });
  // A lost connection fails the query in flight; the 'error' event must not also end the process.
  admin.on("error", () => undefined);
  await admin.connect();
  try {
    const { rowCount } = await admin.query("SELECT 1 FROM pg_database WHERE datname = $1", [name]);
    if (!rowCount) {
      await admin.query(`CREATE DATABASE ${name}`).catch((error: { code?: string }) => {
        if (error.code !== "42P04") throw error; // created by another process meanwhile
      });
    }
  } finally {
    await admin.end();
  }
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  const client = new pg.Client({ connectionString: url.toString() });
  client.on("error", () => undefined);
  await client.connect();
  try {
    await client.query(GUIDE_TABLE_SQL);
  } finally {
    await client.end();
  }
  return url.toString();
}
