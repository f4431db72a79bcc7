import { createCipheriv } from "node:crypto";
import { describe, expect, it } from "vitest";
import { decrypt, encrypt } from "../../src/crypto/aes-gcm.js";
import { DecryptError } from "../../src/crypto/errors.js";
import { SecretKey } from "../../src/crypto/secret-key.js";

const key = SecretKey.fromBytes(Buffer.alloc(32, 1));

function flipFirstBit(buffer: Buffer): Buffer {
  const copy = Buffer.from(buffer);
  copy[0] = (copy[0] as number) ^ 1;
  return copy;
}

describe("encrypt / decrypt", () => {
  it("round-trips strings and buffers", () => {
    const sealed = encrypt(key, "shpat_0123456789");
    expect(sealed.iv).toHaveLength(12);
    expect(sealed.tag).toHaveLength(16);
    expect(sealed.data).toHaveLength("shpat_0123456789".length);
    expect(decrypt(key, sealed).toString("utf8")).toBe("shpat_0123456789");

    const bytes = Buffer.from([0, 1, 2, 255]);
    expect(decrypt(key, encrypt(key, bytes)).equals(bytes)).toBe(true);
    expect(decrypt(key, encrypt(key, "")).toString()).toBe("");
  });

  it("uses a fresh IV on every call", () => {
    const a = encrypt(key, "same");
    const b = encrypt(key, "same");
    expect(a.iv.equals(b.iv)).toBe(false);
    expect(a.data.equals(b.data)).toBe(false);
  });

  it("is standard AES-256-GCM (matches node:crypto directly)", () => {
    const sealed = encrypt(key, "hello", "ctx");
    const reference = createCipheriv("aes-256-gcm", Buffer.alloc(32, 1), sealed.iv);
    reference.setAAD(Buffer.from("ctx"));
    const data = Buffer.concat([reference.update("hello", "utf8"), reference.final()]);
    expect(data.equals(sealed.data)).toBe(true);
    expect(reference.getAuthTag().equals(sealed.tag)).toBe(true);
  });

  it("detects a wrong key", () => {
    const sealed = encrypt(key, "secret");
    expect(() => decrypt(SecretKey.generate(), sealed)).toThrow(DecryptError);
  });

  it.each(["iv", "tag", "data"] as const)("detects tampering with the %s", (field) => {
    const sealed = encrypt(key, "secret value");
    const tampered = { ...sealed, [field]: flipFirstBit(sealed[field]) };
    expect(() => decrypt(key, tampered)).toThrow(DecryptError);
    expect(decrypt(key, sealed).toString()).toBe("secret value");
  });

  it("rejects a truncated tag", () => {
    const sealed = encrypt(key, "secret");
    expect(() => decrypt(key, { ...sealed, tag: sealed.tag.subarray(0, 12) })).toThrow(DecryptError);
  });

  it("binds the associated data", () => {
    const sealed = encrypt(key, "secret", "A");
    expect(decrypt(key, sealed, "A").toString()).toBe("secret");
    expect(() => decrypt(key, sealed, "B")).toThrow(DecryptError);
    expect(() => decrypt(key, sealed)).toThrow(DecryptError);
    const noAad = encrypt(key, "secret");
    expect(() => decrypt(key, noAad, "A")).toThrow(DecryptError);
  });

  it("does not put plaintext or key material in the error", () => {
    const sealed = encrypt(key, "secret");
    try {
      decrypt(key, sealed, "other");
      expect.unreachable();
    } catch (error) {
      const message = (error as Error).message;
      expect(message).toBe(
        "ciphertext does not decrypt under this key (wrong key, wrong context or tampered)",
      );
      expect(message).not.toContain(sealed.data.toString("hex"));
    }
  });
});
