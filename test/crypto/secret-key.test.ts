import { createHash, randomBytes } from "node:crypto";
import { inspect } from "node:util";
import { describe, expect, it } from "vitest";
import { KeyFormatError } from "../../src/crypto/errors.js";
import { SecretKey } from "../../src/crypto/secret-key.js";
import { newTestKey } from "../support/database.js";
import { thrown } from "../support/thrown.js";

const LABEL = "KEYOPS_MASTER_KEY";
const GUIDE_EXAMPLE = "k7Jm9XpL4zR2vN8qYwE5uT3hS6gF1aD0bC4xM7oP2nA=";

const refusal = (text: string) => thrown(() => SecretKey.fromBase64(text, LABEL), KeyFormatError);

describe("SecretKey.fromBase64", () => {
  it("accepts a 32-byte standard base64 key, ignoring surrounding whitespace", () => {
    const bytes = randomBytes(32);
    const key = SecretKey.fromBase64(`  ${bytes.toString("base64")}\n`, LABEL);
    expect(key.exposeBytes().equals(bytes)).toBe(true);
    expect(key.exposeBase64()).toBe(bytes.toString("base64"));
  });

  it("refuses text that is not base64, naming the label but not the value", () => {
    const text = `${randomBytes(32).toString("base64").slice(0, 40)}!!!=`;
    const error = refusal(text);
    expect(error.message).toBe("KEYOPS_MASTER_KEY is not valid base64 (expected base64 of 32 random bytes)");
    expect(error.name).toBe("KeyFormatError");
  });

  it("refuses the base64url alphabet, missing padding and non-canonical trailing bits", () => {
    const bytes = Buffer.alloc(32, 0xfb); // encodes with '+' and '/'
    const standard = bytes.toString("base64");
    expect(refusal(bytes.toString("base64url")).message).toBe(
      "KEYOPS_MASTER_KEY is not valid base64 (expected base64 of 32 random bytes)",
    );
    expect(refusal(standard.replace(/=$/, "")).message).toBe(
      "KEYOPS_MASTER_KEY is not valid base64 (expected base64 of 32 random bytes)",
    );
    // 'B' instead of 'A' before the padding sets bits that do not belong to any byte.
    const nonCanonical = `${"A".repeat(42)}B=`;
    expect(Buffer.from(nonCanonical, "base64")).toHaveLength(32);
    expect(refusal(nonCanonical).message).toBe(
      "KEYOPS_MASTER_KEY is not valid base64 (expected base64 of 32 random bytes)",
    );
  });

  it("refuses empty text", () => {
    expect(refusal("   ").message).toBe("KEYOPS_MASTER_KEY is empty");
  });

  it("refuses keys of the wrong length with the decoded length", () => {
    expect(refusal(randomBytes(16).toString("base64")).message).toBe(
      "KEYOPS_MASTER_KEY must decode to 32 bytes, got 16",
    );
    expect(refusal(randomBytes(33).toString("base64")).message).toBe(
      "KEYOPS_MASTER_KEY must decode to 32 bytes, got 33",
    );
  });

  it("refuses the example key printed in the key management guide", () => {
    const error = refusal(GUIDE_EXAMPLE);
    expect(error.message).toBe(
      "KEYOPS_MASTER_KEY is the example key printed in the key management guide; generate a new one",
    );
    expect(refusal(` ${GUIDE_EXAMPLE} `).message).toContain("example key");
  });

  it("never puts the offending value in the message", () => {
    const text = randomBytes(16).toString("base64");
    expect(refusal(text).message).not.toContain(text);
    expect(refusal(GUIDE_EXAMPLE).message).not.toContain(GUIDE_EXAMPLE);
  });
});

describe("SecretKey", () => {
  it("generates distinct 32-byte keys", () => {
    const a = SecretKey.generate();
    const b = SecretKey.generate();
    expect(a.exposeBytes()).toHaveLength(32);
    expect(a.equals(b)).toBe(false);
  });

  it("fromBytes copies its input and requires 32 bytes", () => {
    const bytes = randomBytes(32);
    const key = SecretKey.fromBytes(bytes);
    const original = Buffer.from(bytes);
    bytes.fill(0);
    expect(key.exposeBytes().equals(original)).toBe(true);
    expect(() => SecretKey.fromBytes(randomBytes(31))).toThrow(
      new KeyFormatError("a key must be 32 bytes, got 31"),
    );
  });

  it("fingerprint is the first 8 hex characters of SHA-256 of the key bytes", () => {
    const bytes = Buffer.alloc(32, 7);
    const expected = createHash("sha256").update(bytes).digest("hex").slice(0, 8);
    expect(SecretKey.fromBytes(bytes).fingerprint).toBe(expected);
    expect(expected).toMatch(/^[0-9a-f]{8}$/);
  });

  it("equals compares key bytes", () => {
    const bytes = randomBytes(32);
    expect(SecretKey.fromBytes(bytes).equals(SecretKey.fromBase64(bytes.toString("base64"), LABEL))).toBe(
      true,
    );
    expect(SecretKey.fromBytes(bytes).equals(SecretKey.generate())).toBe(false);
  });

  it("prints, serializes and inspects as its fingerprint only", () => {
    const key = SecretKey.generate();
    const base64 = key.exposeBase64();
    const hex = key.exposeBytes().toString("hex");
    const expected = `SecretKey(${key.fingerprint})`;
    const renderings = [
      String(key),
      `${key}`,
      JSON.stringify({ key }),
      inspect(key),
      inspect({ nested: { key } }, { depth: 5, showHidden: true }),
    ];
    expect(renderings[0]).toBe(expected);
    expect(renderings[2]).toBe(`{"key":"${expected}"}`);
    expect(renderings[3]).toBe(expected);
    for (const text of renderings) {
      expect(text).toContain(expected);
      expect(text).not.toContain(base64);
      expect(text).not.toContain(hex);
    }
    expect(Object.keys(key)).toEqual([]);
  });
});

describe("a hex key", () => {
  it("is refused with a hint that base64 is expected, never the value", () => {
    const hex = newTestKey().exposeBytes().toString("hex");
    let message = "";
    try {
      SecretKey.fromBase64(hex, "ENCRYPTION_KEY");
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toMatch(/^ENCRYPTION_KEY looks like hex; a key is base64 of 32 random bytes/);
    expect(message).not.toContain(hex);
  });
});

describe("SecretKey.fromBase64 refuses keys that are visibly not random (issue 9 #7)", () => {
  const b64 = (bytes: Buffer) => bytes.toString("base64");
  const pattern = (unit: number[]) =>
    Buffer.from(Array.from({ length: 32 }, (_, i) => unit[i % unit.length] as number));
  // Fifteen values, each once in the first 15 bytes, then in no repeating order.
  const PALETTE = [0x90, 0x13, 0xf1, 0x02, 0xaa, 0x5c, 0xe7, 0x81, 0x3b, 0xc4, 0x07, 0xfe, 0x66, 0xb9, 0x0d];
  const cases: [string, Buffer, string][] = [
    ["all zero", Buffer.alloc(32, 0), "it is one byte repeated"],
    ["one byte repeated", Buffer.alloc(32, 0x41 + 0x80), "it is one byte repeated"],
    ["two bytes alternating", pattern([0xde, 0xad]), "it repeats a 2-byte pattern"],
    [
      "a 16-byte block twice",
      Buffer.concat([randomBytes(16)].flatMap((half) => [half, half])),
      "it repeats a 16-byte pattern",
    ],
    [
      "counting up",
      Buffer.from(Array.from({ length: 32 }, (_, i) => i)),
      "its bytes count up or down in equal steps",
    ],
    [
      "counting down by 3",
      Buffer.from(Array.from({ length: 32 }, (_, i) => (250 - 3 * i + 256) % 256)),
      "its bytes count up or down in equal steps",
    ],
    [
      "a passphrase",
      Buffer.from("correct horse battery staple!!!!"),
      "it is printable text, not random bytes",
    ],
    [
      "fifteen byte values",
      Buffer.from(Array.from({ length: 32 }, (_, i) => PALETTE[i < 15 ? i : (i * i + i + 1) % 15] as number)),
      "it has only 15 distinct byte values",
    ],
  ];

  it.each(cases)("refuses %s, naming why but never the key", (_name, bytes, why) => {
    const text = b64(bytes);
    const error = refusal(text);
    expect(error.message).toBe(
      `KEYOPS_MASTER_KEY is not a random key (${why}); generate one with: node -e "console.log(require('crypto').randomBytes(32).toString('base64'))"`,
    );
    expect(error.message).not.toContain(text.slice(0, 8));
    expect(error.message).not.toContain(bytes.toString("hex").slice(0, 8));
  });

  it("accepts a thousand freshly generated keys", () => {
    for (let i = 0; i < 1000; i++) {
      const bytes = randomBytes(32);
      expect(SecretKey.fromBase64(b64(bytes), LABEL).exposeBytes().equals(bytes)).toBe(true);
    }
  });
});
