import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { SecretKey } from "../../src/crypto/secret-key.js";
import { countRecordedKeys, findLeaks } from "../support/secret-scan.js";

// The suite's global teardown runs findLeaks over everything printed; here it is shown to find
// a key in each encoding, so a leak cannot pass unnoticed.
function fixture(output: string) {
  const dir = mkdtempSync(path.join(os.tmpdir(), "keyops-scan-"));
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
