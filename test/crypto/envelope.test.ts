import { describe, expect, it } from "vitest";
import { unwrapKey, wrapKey } from "../../src/crypto/envelope.js";
import { CryptoError, DecryptError, KeyFormatError } from "../../src/crypto/errors.js";
import { SecretKey } from "../../src/crypto/secret-key.js";

const master = SecretKey.generate();
const dataKey = SecretKey.generate();
const context = "keyops:data-key:production:3";

describe("wrapKey / unwrapKey", () => {
  it("wraps as iv:tag:wrapped hex and unwraps to the same key", () => {
    const wrapped = wrapKey(master, dataKey, context);
    expect(wrapped).toMatch(/^[0-9a-f]{24}:[0-9a-f]{32}:[0-9a-f]{64}$/);
    expect(wrapped).not.toContain(dataKey.exposeBytes().toString("hex"));
    const unwrapped = unwrapKey(master, wrapped, context);
    expect(unwrapped.equals(dataKey)).toBe(true);
    expect(unwrapped.fingerprint).toBe(dataKey.fingerprint);
  });

  it("wraps the same key differently every time", () => {
    expect(wrapKey(master, dataKey, context)).not.toBe(wrapKey(master, dataKey, context));
  });

  it("refuses a wrong master key with a hint", () => {
    const wrapped = wrapKey(master, dataKey, context);
    expect(() => unwrapKey(SecretKey.generate(), wrapped, context)).toThrow(
      new DecryptError(
        "the master key does not unwrap the data key for keyops:data-key:production:3 (wrong KEYOPS_MASTER_KEY?)",
      ),
    );
  });

  it("refuses a wrong context (another environment or version)", () => {
    const wrapped = wrapKey(master, dataKey, context);
    expect(() => unwrapKey(master, wrapped, "keyops:data-key:staging:3")).toThrow(DecryptError);
    expect(() => unwrapKey(master, wrapped, "keyops:data-key:production:4")).toThrow(DecryptError);
  });

  it("refuses malformed wrapped text without echoing it", () => {
    const wrapped = wrapKey(master, dataKey, context);
    for (const bad of [
      `v1:${wrapped}`,
      wrapped.slice(0, -1),
      "not a key",
      `${"ab".repeat(16)}:${wrapped.slice(25)}`,
    ]) {
      let caught: unknown;
      try {
        unwrapKey(master, bad, context);
      } catch (error) {
        caught = error;
      }
      expect(caught).toBeInstanceOf(KeyFormatError);
      expect((caught as Error).message).toBe(
        "wrapped data key for keyops:data-key:production:3 is malformed",
      );
    }
  });

  it("requires a context", () => {
    expect(() => wrapKey(master, dataKey, "")).toThrow(CryptoError);
  });
});
