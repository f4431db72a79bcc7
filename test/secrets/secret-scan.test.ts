import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { SecretKey } from "../../src/crypto/secret-key.js";
import { countRecordedKeys, findLeaks, findTempLeftovers } from "../support/secret-scan.js";

// The suite's global teardown runs findLeaks over everything printed; here it is shown to find
// a key in each encoding, so a leak cannot pass unnoticed.
// Each fixture holds a throw-away key: every one is deleted when the file is done.
const fixtures: string[] = [];
afterAll(() => {
  for (const dir of fixtures) rmSync(dir, { recursive: true, force: true });
});

function fixture(output: string) {
  const dir = mkdtempSync(path.join(os.tmpdir(), "keyops-scan-"));
  fixtures.push(dir);
  const keys = path.join(dir, "keys");
  const outputs = path.join(dir, "output");
  const key = SecretKey.generate(); // never recorded by the suite: it exists only in this fixture
  const bytes = key.exposeBytes();
  for (const sub of [keys, outputs]) mkdirSync(sub, { recursive: true });
  writeFileSync(
    path.join(keys, "1.txt"),
    `${key.fingerprint} ${bytes.toString("base64")} ${bytes.toString("hex")}\n`,
  );
  writeFileSync(
    path.join(outputs, "1.log"),
    output
      .replace("{base64}", bytes.toString("base64"))
      .replace("{hex}", bytes.toString("hex"))
      .replace("{HEX}", bytes.toString("hex").toUpperCase()),
  );
  return { keys, outputs, key };
}

describe("secret scan", () => {
  it("finds a key printed in base64, hex or upper-case hex, and nothing in clean output", () => {
    for (const [output, encoding] of [
      ["token={base64}\n", "base64"],
      ["key: {hex}", "hex"],
      ["KEY {HEX}", "hex"],
    ] as const) {
      const { keys, outputs, key } = fixture(output);
      expect(findLeaks(keys, outputs)).toEqual([
        { fingerprint: key.fingerprint, encoding, file: path.join(outputs, "1.log") },
      ]);
    }
    const clean = fixture("only a fingerprint is printed");
    expect(findLeaks(clean.keys, clean.outputs)).toEqual([]);
    expect(countRecordedKeys(clean.keys)).toBe(1);
  });
});

describe("temp check (issue 9 #17): what the suite leaves in its temporary directory", () => {
  it("names password files, scan fixtures and any file holding a recorded key; nothing in a clean directory", () => {
    const { keys, key } = fixture("unused");
    const temp = mkdtempSync(path.join(os.tmpdir(), "keyops-temp-check-"));
    fixtures.push(temp);
    expect(findTempLeftovers(temp, keys)).toEqual([]);
    writeFileSync(path.join(temp, "notes.txt"), "a fingerprint only\n");
    expect(findTempLeftovers(temp, keys)).toEqual([]);
    mkdirSync(path.join(temp, "nested"));
    writeFileSync(path.join(temp, "nested", "env"), `KEY=${key.exposeBase64()}\n`, { mode: 0o644 });
    writeFileSync(path.join(temp, "pg-password-abc"), "pw\n");
    mkdirSync(path.join(temp, "keyops-scan-x"));
    expect(findTempLeftovers(temp, keys).sort()).toEqual(
      [
        `${path.join(temp, "keyops-scan-x")} (left behind)`,
        `${path.join(temp, "nested", "env")} (holds a key, mode 644)`,
        `${path.join(temp, "pg-password-abc")} (left behind)`,
      ].sort(),
    );
  });
});
