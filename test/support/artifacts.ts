// Everything the suite prints, and every key it uses, is recorded under .test-artifacts/ so the
// global teardown can prove no key material ever reached an output (see secret-scan.ts).
import { appendFileSync, mkdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { SecretKey } from "../../src/crypto/secret-key.js";

export const ARTIFACTS_DIR = fileURLToPath(new URL("../../.test-artifacts", import.meta.url));
export const OUTPUT_DIR = path.join(ARTIFACTS_DIR, "output");
export const KEYS_DIR = path.join(ARTIFACTS_DIR, "keys");

export function recordOutput(text: string | Uint8Array): void {
  mkdirSync(OUTPUT_DIR, { recursive: true });
  appendFileSync(path.join(OUTPUT_DIR, `${process.pid}.log`), text);
}

/** Keys are recorded readable by this user only, and deleted once the run's scans are done. */
export function recordKey(key: SecretKey): void {
  mkdirSync(KEYS_DIR, { recursive: true, mode: 0o700 });
  const bytes = key.exposeBytes();
  appendFileSync(
    path.join(KEYS_DIR, `${process.pid}.txt`),
    `${key.fingerprint} ${bytes.toString("base64")} ${bytes.toString("hex")}\n`,
    { mode: 0o600 },
  );
}

/** The keys this worker recorded so far. */
export function recordedKeys(): SecretKey[] {
  let text: string;
  try {
    text = readFileSync(path.join(KEYS_DIR, `${process.pid}.txt`), "utf8");
  } catch {
    return [];
  }
  const unique = new Set(
    text
      .split("\n")
      .map((line) => line.split(" ")[1])
      .filter(Boolean),
  );
  return [...unique].map((base64) => SecretKey.fromBase64(base64 as string, "recorded key"));
}
