import { readdirSync, readFileSync } from "node:fs";
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
