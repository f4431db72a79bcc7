import { randomBytes } from "node:crypto";
import pg from "pg";
import { afterAll, beforeAll, inject } from "vitest";
import { useAuditChainKey } from "../../src/audit/chain-key.js";
import { dataKeyContext, unwrapKey } from "../../src/crypto/envelope.js";
import { SecretKey } from "../../src/crypto/secret-key.js";
import { type Database, openDatabase } from "../../src/db/database.js";
import { silentLogger } from "../../src/logger.js";
import { recordedKeys, recordKey } from "./artifacts.js";

export interface TestDatabase {
  url: string;
  db: Database;
  masterKey: SecretKey;
}

/** A fresh, migrated database on the run's PostgreSQL, dropped afterwards. */
export async function createTestDatabase(): Promise<TestDatabase & { drop(): Promise<void> }> {
  const admin = new URL(inject("adminDatabaseUrl"));
  const name = `keyops_test_${randomBytes(6).toString("hex")}`;
  await withAdmin(admin, (client) => client.query(`CREATE DATABASE ${name}`));
  const url = new URL(admin);
  url.pathname = `/${name}`;
  const db = await openDatabase(
    { databaseUrl: url.toString(), dataDir: "", embeddedPostgresPort: 0 },
    silentLogger,
  );
  const masterKey = newTestKey();
  // What the runtime does on open: this database's audit chain is keyed from its master key.
  useAuditChainKey(name, masterKey);
  return {
    url: url.toString(),
    db,
    masterKey,
    async drop() {
      await recordDataKeys(db);
      await db.close();
      await withAdmin(admin, (client) => client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
    },
  };
}

/** A fresh database with nothing in it (not migrated): a stand-in for an application's own database. */
export async function createEmptyDatabase(): Promise<{ url: string; pool: pg.Pool; drop(): Promise<void> }> {
  const admin = new URL(inject("adminDatabaseUrl"));
  const name = `keyops_empty_${randomBytes(6).toString("hex")}`;
  await withAdmin(admin, (client) => client.query(`CREATE DATABASE ${name}`));
  const url = new URL(admin);
  url.pathname = `/${name}`;
  const pool = new pg.Pool({ connectionString: url.toString() });
  // The forced DROP at the end may cut idle connections: not an error of the test.
  pool.on("error", () => undefined);
  return {
    url: url.toString(),
    pool,
    async drop() {
      await pool.end();
      await withAdmin(admin, (client) => client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
    },
  };
}

/** Registers a fresh database for the current test file. */
export function useTestDatabase(): TestDatabase {
  let current: Awaited<ReturnType<typeof createTestDatabase>> | undefined;
  beforeAll(async () => {
    current = await createTestDatabase();
  });
  afterAll(async () => {
    await current?.drop();
  });
  const get = () => {
    if (!current) throw new Error("the test database is only available inside tests");
    return current;
  };
  return {
    get url() {
      return get().url;
    },
    get db() {
      return get().db;
    },
    get masterKey() {
      return get().masterKey;
    },
  };
}

/** A random key, recorded so the secret scan checks that it never reaches any output. */
export function newTestKey(): SecretKey {
  const key = SecretKey.generate();
  recordKey(key);
  return key;
}

async function withAdmin<T>(url: URL, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url.toString() });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

/**
 * Records every data key stored in the database (unwrapped with whichever recorded master key
 * wrapped it) so the secret scan also checks the keys the code generated itself.
 */
async function recordDataKeys(db: Database): Promise<void> {
  const masters = recordedKeys();
  const rows = await db.prisma.keyVersion.findMany();
  for (const row of rows) {
    if (row.wrappedKey === null) continue; // lost or destroyed: nothing left to record
    for (const master of masters) {
      try {
        recordKey(unwrapKey(master, row.wrappedKey ?? "", dataKeyContext(row.environment, row.version)));
        break;
      } catch {
        // wrapped under another master key
      }
    }
  }
}
