import type { Config } from "./config.js";
import { readOrCreateMasterKeyFile } from "./crypto/master-key-file.js";
import { type Database, openDatabase } from "./db/database.js";
import { TargetDatabases } from "./db/target-databases.js";
import { RotationEngine } from "./engine/engine.js";
import { KeyStore } from "./engine/key-store.js";
import { PLATFORM_CREDENTIALS } from "./engine/target.js";
import type { Logger } from "./logger.js";

export interface Runtime {
  db: Database;
  engine: RotationEngine;
  close(): Promise<void>;
}

/** Database (migrated), master key, keyring bootstrap (legacy keys adopted) and engine. */
export async function openRuntime(config: Config, log: Logger): Promise<Runtime> {
  const db = await openDatabase(config, log);
  try {
    const masterKey = config.masterKey ?? (await readOrCreateMasterKeyFile(config.dataDir, log));
    const keys = new KeyStore(db.prisma, masterKey, log);
    await keys.bootstrap(config.legacyKeys);
    const targets = new TargetDatabases(db.pool, config.targetDatabaseUrls, log);
    return {
      db,
      engine: new RotationEngine(db, keys, log, PLATFORM_CREDENTIALS, targets.poolFor, {
        clients: { liveWithinMs: config.clientLiveWithinMs, handoverTimeoutMs: config.handoverTimeoutMs },
      }),
      async close() {
        await targets.close();
        await db.close();
      },
    };
  } catch (error) {
    await db.close();
    throw error;
  }
}
