import type { Config } from "./config.js";
import { readOrCreateMasterKeyFile } from "./crypto/master-key-file.js";
import { type Database, openDatabase } from "./db/database.js";
import { RotationEngine } from "./engine/engine.js";
import { KeyStore } from "./engine/key-store.js";
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
    return { db, engine: new RotationEngine(db, keys, log), close: () => db.close() };
  } catch (error) {
    await db.close();
    throw error;
  }
}
