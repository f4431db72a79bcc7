import { RotationEngine } from "../../src/engine/engine.js";
import { KeyStore } from "../../src/engine/key-store.js";
import type { Target } from "../../src/engine/target.js";
import { createLogger, type Logger } from "../../src/logger.js";
import type { TestDatabase } from "./database.js";

/** A logger whose lines go to the test worker's stderr (and so into the secret scan's record). */
export const testLogger: Logger = createLogger(process.env.KEYOPS_TEST_LOG === "1" ? "debug" : "warn");

export function engineFor(t: TestDatabase, target?: Target): { keys: KeyStore; engine: RotationEngine } {
  const keys = new KeyStore(t.db.prisma, t.masterKey, testLogger);
  return { keys, engine: new RotationEngine(t.db, keys, testLogger, target) };
}
