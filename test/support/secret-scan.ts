import { lstatSync, readdirSync, readFileSync } from "node:fs";
import path from "node:path";

export interface Leak {
  fingerprint: string;
  encoding: "base64" | "hex";
  file: string;
}

/** Finds every recorded key (base64 or hex, any case for hex) in any recorded output. */
export function findLeaks(keysDir: string, outputDir: string): Leak[] {
  const keys = readLines(keysDir).map((line) => {
    const [fingerprint = "", base64 = "", hex = ""] = line.split(" ");
    return { fingerprint, base64, hex: hex.toLowerCase() };
  });
  const leaks: Leak[] = [];
  for (const file of listFiles(outputDir)) {
    const text = readFileSync(file, "utf8");
    const lower = text.toLowerCase();
    for (const key of keys) {
      if (key.base64 && text.includes(key.base64))
        leaks.push({ fingerprint: key.fingerprint, encoding: "base64", file });
      if (key.hex && lower.includes(key.hex))
        leaks.push({ fingerprint: key.fingerprint, encoding: "hex", file });
    }
  }
  return leaks;
}

export function countRecordedKeys(keysDir: string): number {
  return new Set(readLines(keysDir).map((line) => line.split(" ")[1])).size;
}

function readLines(dir: string): string[] {
  return listFiles(dir)
    .flatMap((file) => readFileSync(file, "utf8").split("\n"))
    .filter((line) => line.trim() !== "");
}

function listFiles(dir: string): string[] {
  try {
    return readdirSync(dir).map((name) => path.join(dir, name));
  } catch {
    return [];
  }
}

/** Names that only ever hold secrets: the embedded server's password files, the scan's own fixtures. */
const SECRET_NAMES = /^(pg-password-|\.keyops-initdb-|keyops-scan-)/;

/**
 * What the suite left in its temporary directory that holds a secret: anything by a secret's
 * name, and any file holding a recorded key (base64 or hex). Each as "path (why)".
 */
export function findTempLeftovers(tempDir: string, keysDir: string): string[] {
  const keys = readLines(keysDir).map((line) => {
    const [, base64 = "", hex = ""] = line.split(" ");
    return { base64, hex: hex.toLowerCase() };
  });
  const found: string[] = [];
  const walk = (dir: string) => {
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch {
      return;
    }
    for (const name of names) {
      const file = path.join(dir, name);
      const st = lstatSync(file, { throwIfNoEntry: false });
      if (!st) continue;
      if (SECRET_NAMES.test(name)) found.push(`${file} (left behind)`);
      if (st.isDirectory()) walk(file);
      else if (st.isFile() && st.size < 1_000_000) {
        const text = readFileSync(file, "latin1");
        const lower = text.toLowerCase();
        if (
          keys.some(
            (key) => (key.base64 && text.includes(key.base64)) || (key.hex && lower.includes(key.hex)),
          )
        )
          found.push(`${file} (holds a key, mode ${(st.mode & 0o777).toString(8)})`);
      }
    }
  };
  walk(tempDir);
  return found;
}
