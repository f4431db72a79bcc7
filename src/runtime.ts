import type pg from "pg";
import { useAuditChainKey } from "./audit/chain-key.js";
import type { Config } from "./config.js";
import { readOrCreateMasterKeyFile } from "./crypto/master-key-file.js";
import { type Database, openDatabase } from "./db/database.js";
import { ensureEnvironmentDatabase } from "./db/environment-databases.js";
import { TargetDatabases } from "./db/target-databases.js";
import { RotationEngine, type TargetBinding } from "./engine/engine.js";
import { KeyStore } from "./engine/key-store.js";
import { PLATFORM_CREDENTIALS } from "./engine/target.js";
import { ENVIRONMENTS, type Environment } from "./environments.js";
import { UserError } from "./errors.js";
import type { Logger } from "./logger.js";

export interface Runtime {
  db: Database;
  engine: RotationEngine;
  close(): Promise<void>;
}

/** Database (migrated), master key, keyring bootstrap (legacy keys adopted) and engine. */
export async function openRuntime(config: Config, log: Logger): Promise<Runtime> {
  const db = await openDatabase(config, log);
  const databases = new TargetDatabases(log);
  try {
    const masterKey = config.masterKey ?? (await readOrCreateMasterKeyFile(config.dataDir, log));
    const keys = new KeyStore(db.prisma, masterKey, log, {
      retiredKeyRetentionDays: config.retiredKeyRetentionDays,
    });
    await keys.bootstrap(config.legacyKeys);
    const [database] = await db.prisma.$queryRaw<{ name: string }[]>`SELECT current_database() AS name`;
    if (database) useAuditChainKey(database.name, masterKey);
    const defaults = await environmentDatabases(config, db, databases);
    const bindings = targetBindings(config, defaults, databases);
    return {
      db,
      engine: new RotationEngine(
        db,
        keys,
        log,
        PLATFORM_CREDENTIALS,
        (environment) => defaults.get(environment) ?? db.pool,
        {
          targets: (environment) => bindings.get(environment) ?? [],
          restoreCopy: (environment) => {
            const url = config.restoreDatabaseUrls[environment];
            return url ? databases.poolFor(url) : undefined;
          },
          clients: { liveWithinMs: config.clientLiveWithinMs, handoverTimeoutMs: config.handoverTimeoutMs },
          ...(config.maxRowsPerSecond ? { maxRowsPerSecond: config.maxRowsPerSecond } : {}),
        },
      ),
      async close() {
        await databases.close();
        await db.close();
      },
    };
  } catch (error) {
    await databases.close();
    await db.close();
    throw error;
  }
}

/**
 * Each environment's own database for its application data, so environments never share a
 * table: KEYOPS_TARGET_DATABASE_URL_<ENV>; on the embedded default a database of its own on the
 * embedded server; with DATABASE_URL, the KeyOps database for KEYOPS_ENVIRONMENT only.
 */
async function environmentDatabases(
  config: Config,
  db: Database,
  databases: TargetDatabases,
): Promise<Map<Environment, pg.Pool>> {
  const pools = new Map<Environment, pg.Pool>();
  for (const environment of ENVIRONMENTS) {
    const url = config.targetDatabaseUrls[environment];
    if (url) pools.set(environment, databases.poolFor(url));
    else if (db.embedded)
      pools.set(environment, databases.poolFor(await ensureEnvironmentDatabase(db.url, environment)));
    else if (environment === config.defaultEnvironment) pools.set(environment, db.pool);
  }
  return pools;
}

/** KEYOPS_TARGETS_FILE's targets, or the guide's table in the environment's database. */
function targetBindings(
  config: Config,
  defaults: Map<Environment, pg.Pool>,
  databases: TargetDatabases,
): Map<Environment, TargetBinding[]> {
  const bindings = new Map<Environment, TargetBinding[]>();
  for (const environment of ENVIRONMENTS) {
    const fallback = defaults.get(environment);
    const configured = config.targets[environment];
    if (!configured) {
      if (fallback) bindings.set(environment, [{ target: PLATFORM_CREDENTIALS, pool: fallback }]);
      continue;
    }
    bindings.set(
      environment,
      configured.map((target) => {
        const pool = target.databaseUrl ? databases.poolFor(target.databaseUrl) : fallback;
        if (!pool) {
          throw new UserError(
            `KEYOPS_TARGETS_FILE: the ${environment} target "${target.name}" has no databaseUrl and ` +
              `${environment} has no database of its own (KEYOPS_TARGET_DATABASE_URL_${environment.toUpperCase()})`,
          );
        }
        return { target, pool };
      }),
    );
  }
  return bindings;
}
