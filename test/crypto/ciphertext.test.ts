import { createCipheriv, randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import {
  ciphertextVersion,
  formatCiphertext,
  parseCiphertext,
  versionPrefix,
} from "../../src/crypto/ciphertext.js";
import { CiphertextFormatError } from "../../src/crypto/errors.js";
import { thrown } from "../support/thrown.js";

const IV = Buffer.from("000102030405060708090a0b", "hex");
const TAG = Buffer.from("f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff", "hex");
const DATA = Buffer.from("deadbeef", "hex");

const formatError = (text: string) => thrown(() => parseCiphertext(text), CiphertextFormatError);

describe("formatCiphertext / parseCiphertext", () => {
  it("formats the written format with lowercase hex", () => {
    expect(formatCiphertext(7, { iv: IV, tag: TAG, data: DATA })).toBe(
      "v7:000102030405060708090a0b:f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff:deadbeef",
    );
  });

  it("round-trips", () => {
    const data = randomBytes(100);
    const parts = parseCiphertext(formatCiphertext(12, { iv: IV, tag: TAG, data }));
    expect(parts.version).toBe(12);
    expect(parts.iv.equals(IV)).toBe(true);
    expect(parts.tag.equals(TAG)).toBe(true);
    expect(parts.data.equals(data)).toBe(true);
  });

  it("accepts uppercase hex and empty data", () => {
    const parts = parseCiphertext("v3:000102030405060708090A0B:F0F1F2F3F4F5F6F7F8F9FAFBFCFDFEFF:");
    expect(parts.version).toBe(3);
    expect(parts.iv.equals(IV)).toBe(true);
    expect(parts.tag.equals(TAG)).toBe(true);
    expect(parts.data).toHaveLength(0);
  });

  it("accepts the legacy format with a 12- or 16-byte IV", () => {
    const iv16 = Buffer.alloc(16, 0xab);
    const legacy16 = parseCiphertext(`${iv16.toString("hex")}:${TAG.toString("hex")}:deadbeef`);
    expect(legacy16.version).toBeNull();
    expect(legacy16.iv.equals(iv16)).toBe(true);
    expect(legacy16.data.equals(DATA)).toBe(true);
    expect(parseCiphertext(`${IV.toString("hex")}:${TAG.toString("hex")}:`).version).toBeNull();
  });

  it("parses a legacy ciphertext produced the way the guide's code does", () => {
    const key = randomBytes(32);
    const iv = randomBytes(16);
    const cipher = createCipheriv("aes-256-gcm", key, iv);
    let encrypted = cipher.update(JSON.stringify({ token: "shpat_x" }), "utf8", "hex");
    encrypted += cipher.final("hex");
    const text = `${iv.toString("hex")}:${cipher.getAuthTag().toString("hex")}:${encrypted}`;
    const parts = parseCiphertext(text);
    expect(parts.version).toBeNull();
    expect(parts.iv.equals(iv)).toBe(true);
    expect(parts.data.toString("hex")).toBe(encrypted);
  });

  const hex = (n: number, c = "a") => c.repeat(n * 2);
  const secretish = "cafebabe0123456789abcdef";
  const malformed: Array<[string, string, string]> = [
    ["too few fields", `${hex(12)}:${secretish}`, "not in a known format"],
    ["too many fields", `v1:${hex(12)}:${hex(16)}:${secretish}:00`, "not in a known format"],
    ["leading zero in version", `v01:${hex(12)}:${hex(16)}:${secretish}`, "malformed version prefix"],
    ["version zero", `v0:${hex(12)}:${hex(16)}:${secretish}`, "malformed version prefix"],
    ["uppercase V", `V1:${hex(12)}:${hex(16)}:${secretish}`, "malformed version prefix"],
    ["negative version", `v-1:${hex(12)}:${hex(16)}:${secretish}`, "malformed version prefix"],
    [
      "unsafe integer version",
      `v99999999999999999:${hex(12)}:${hex(16)}:${secretish}`,
      "from 1 to 2147483647",
    ],
    [
      "version above MAX_KEY_VERSION",
      `v2147483648:${hex(12)}:${hex(16)}:${secretish}`,
      "from 1 to 2147483647",
    ],
    ["16-byte IV in written format", `v1:${hex(16)}:${hex(16)}:${secretish}`, "IV must be 12 bytes, got 16"],
    ["8-byte legacy IV", `${hex(8)}:${hex(16)}:${secretish}`, "IV must be 12 or 16 bytes, got 8"],
    ["short tag", `v1:${hex(12)}:${hex(12)}:${secretish}`, "auth tag must be 16 bytes, got 12"],
    ["non-hex data", `v1:${hex(12)}:${hex(16)}:${secretish}zz`, "data is not valid hex"],
    ["odd-length data", `v1:${hex(12)}:${hex(16)}:${secretish}a`, "data is not valid hex"],
    ["non-hex IV", `v1:${hex(11)}gg:${hex(16)}:${secretish}`, "IV is not valid hex"],
    ["whitespace", ` v1:${hex(12)}:${hex(16)}:${secretish}`, "malformed version prefix"],
    ["empty", "", "not in a known format"],
  ];
  it.each(malformed)("rejects %s without echoing the input", (_name, text, expected) => {
    const error = formatError(text);
    expect(error.message).toContain(expected);
    expect(error.message).not.toContain(secretish);
    expect(error.message).not.toContain(hex(12));
  });

  it("refuses to format what it could not parse back", () => {
    expect(() => formatCiphertext(1, { iv: Buffer.alloc(16), tag: TAG, data: DATA })).toThrow(
      CiphertextFormatError,
    );
    expect(() => formatCiphertext(1, { iv: IV, tag: Buffer.alloc(8), data: DATA })).toThrow(
      CiphertextFormatError,
    );
    expect(() => formatCiphertext(0, { iv: IV, tag: TAG, data: DATA })).toThrow(CiphertextFormatError);
    expect(() => formatCiphertext(1.5, { iv: IV, tag: TAG, data: DATA })).toThrow(CiphertextFormatError);
  });
});

describe("versionPrefix", () => {
  it("is v<version>:", () => {
    expect(versionPrefix(7)).toBe("v7:");
    expect(versionPrefix(123)).toBe("v123:");
    expect(() => versionPrefix(0)).toThrow(CiphertextFormatError);
    expect(() => versionPrefix(-2)).toThrow(CiphertextFormatError);
  });

  it("does not match a longer version that starts with the same digits", () => {
    const v12 = formatCiphertext(12, { iv: IV, tag: TAG, data: DATA });
    expect(v12.startsWith(versionPrefix(1))).toBe(false);
    expect(v12.startsWith(versionPrefix(12))).toBe(true);
  });
});

describe("ciphertextVersion", () => {
  it("reads the version from the prefix", () => {
    expect(ciphertextVersion(formatCiphertext(42, { iv: IV, tag: TAG, data: DATA }))).toBe(42);
    expect(ciphertextVersion("v9:")).toBe(9);
  });

  it("returns null for legacy-shaped text with a 12- or 16-byte IV", () => {
    expect(ciphertextVersion(`${IV.toString("hex")}:${TAG.toString("hex")}:deadbeef`)).toBeNull();
    expect(ciphertextVersion(`${"AB".repeat(16)}:${TAG.toString("hex")}:`)).toBeNull();
  });

  it("returns undefined for anything else", () => {
    expect(ciphertextVersion("")).toBeUndefined();
    expect(ciphertextVersion("plain text token")).toBeUndefined();
    expect(ciphertextVersion("v0:aa:bb:cc")).toBeUndefined();
    expect(ciphertextVersion("v01:aa:bb:cc")).toBeUndefined();
    expect(ciphertextVersion("v7")).toBeUndefined();
    expect(ciphertextVersion(`${"a".repeat(20)}:${TAG.toString("hex")}:00`)).toBeUndefined();
    expect(ciphertextVersion(`v99999999999999999:${IV.toString("hex")}`)).toBeUndefined();
  });
});
