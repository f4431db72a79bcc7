import { readFile, stat, writeFile } from "node:fs/promises";
import path from "node:path";
import { UserError } from "../errors.js";
import type { Logger } from "../logger.js";
import { KeyFormatError } from "./errors.js";
import { SecretKey } from "./secret-key.js";

/**
 * The embedded default's master key: read from `<dataDir>/master.key`, or generated there once
 * (mode 0600). Production deployments set KEYOPS_MASTER_KEY instead (config refuses to start
 * with DATABASE_URL and no master key).
 */
export async function readOrCreateMasterKeyFile(dataDir: string, log: Logger): Promise<SecretKey> {
  const file = path.join(dataDir, "master.key");
  try {
    return await readMasterKeyFile(file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
  }
  const key = SecretKey.generate();
  try {
    await writeFile(file, `${key.exposeBase64()}\n`, { mode: 0o600, flag: "wx" });
    log.warn("KEYOPS_MASTER_KEY is not set: generated a master key for the embedded database", {
      file,
      fingerprint: key.fingerprint,
    });
    return key;
  } catch (error) {
    // Another process created it first: use theirs.
    if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
    return readMasterKeyFile(file);
  }
}

/** Refuses a master key file that group or others can read or write (a UserError, exit 2), then reads it. */
async function readMasterKeyFile(file: string): Promise<SecretKey> {
  const { mode } = await stat(file);
  if ((mode & 0o066) !== 0) {
    throw new UserError(
      `${file} is readable or writable by group or others (mode ${(mode & 0o777).toString(8).padStart(4, "0")}): ` +
        `the master key must be private: chmod 600 ${file}`,
    );
  }
  try {
    return SecretKey.fromBase64(await readFile(file, "utf8"), file);
  } catch (error) {
    if (error instanceof KeyFormatError) throw new UserError(error.message);
    throw error;
  }
}
