import { createCipheriv, randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { formatCiphertext, parseCiphertext } from "../../src/crypto/ciphertext.js";
import {
  CiphertextFormatError,
  CryptoError,
  DecryptError,
  NoActiveKeyError,
} from "../../src/crypto/errors.js";
import { Keyring, type KeyringVersion } from "../../src/crypto/keyring.js";
import { SecretKey } from "../../src/crypto/secret-key.js";
import { thrown } from "../support/thrown.js";

const legacyBytes = randomBytes(32);
const k1 = SecretKey.fromBytes(legacyBytes);
const k2 = SecretKey.generate();
const k3 = SecretKey.generate();
const k4 = SecretKey.generate();

function versions(): KeyringVersion[] {
  return [
    { version: 1, state: "DECRYPT_ONLY", legacy: true, key: k1 },
    { version: 2, state: "RETIRED", legacy: false, key: k2 },
    { version: 3, state: "ACTIVE", legacy: false, key: k3 },
    { version: 4, state: "PENDING", legacy: false, key: k4 },
  ];
}

const ring = new Keyring("production", versions());

// What the guide's encryptCredentials writes: 16-byte IV, hex, iv:authTag:ciphertext.
function guideEncrypt(keyBytes: Buffer, data: unknown): string {
  const iv = randomBytes(16);
  const cipher = createCipheriv("aes-256-gcm", keyBytes, iv);
  let encrypted = cipher.update(JSON.stringify(data), "utf8", "hex");
  encrypted += cipher.final("hex");
  return `${iv.toString("hex")}:${cipher.getAuthTag().toString("hex")}:${encrypted}`;
}

const decryptError = (run: () => unknown) => thrown(run, DecryptError);

describe("Keyring", () => {
  it("describes its versions", () => {
    expect(ring.environment).toBe("production");
    expect(ring.activeVersion).toBe(3);
    expect(ring.legacyVersion).toBe(1);
    expect(ring.versions.map((v) => [v.version, v.state])).toEqual([
      [1, "DECRYPT_ONLY"],
      [2, "RETIRED"],
      [3, "ACTIVE"],
      [4, "PENDING"],
    ]);
  });

  it("is not changed by later edits to the caller's array or objects", () => {
    const given = versions();
    const own = new Keyring("staging", given);
    (given[2] as KeyringVersion).state = "RETIRED";
    given.push({ version: 9, state: "ACTIVE", legacy: false, key: k4 });
    expect(own.activeVersion).toBe(3);
    expect(own.versions).toHaveLength(4);
    expect(Object.isFrozen(own.versions)).toBe(true);
  });

  it("decrypts with every state but RETIRED", () => {
    expect([1, 2, 3, 4, 5].map((v) => ring.canDecrypt(v))).toEqual([true, false, true, true, false]);
    expect(ring.keyFor(3)?.equals(k3)).toBe(true);
    expect(ring.keyFor(2)).toBeUndefined();
    expect(ring.keyFor(5)).toBeUndefined();
    const compromised = new Keyring("production", [
      { version: 7, state: "COMPROMISED", legacy: false, key: k2 },
    ]);
    expect(compromised.canDecrypt(7)).toBe(true);
  });

  it("encrypts with the active version in the written format", () => {
    const ciphertext = ring.encrypt("shpat_secret");
    expect(ciphertext).toMatch(/^v3:[0-9a-f]{24}:[0-9a-f]{32}:[0-9a-f]{24}$/);
    expect(ring.decryptToString(ciphertext)).toBe("shpat_secret");
    expect(ring.versionOf(ciphertext)).toBe(3);
    // Really under k3: a keyring holding only k3 as version 3 decrypts it.
    const only3 = new Keyring("production", [{ version: 3, state: "DECRYPT_ONLY", legacy: false, key: k3 }]);
    expect(only3.decryptToString(ciphertext)).toBe("shpat_secret");
  });

  it("decrypts older versions with their own key", () => {
    const older = new Keyring("production", [{ version: 4, state: "ACTIVE", legacy: false, key: k4 }]);
    const v4 = older.encrypt(Buffer.from([1, 2, 3]));
    expect(ring.decrypt(v4).equals(Buffer.from([1, 2, 3]))).toBe(true);
  });

  it("refuses versions that are retired or unknown, naming the version", () => {
    const v2 = new Keyring("production", [{ version: 2, state: "ACTIVE", legacy: false, key: k2 }]).encrypt(
      "x",
    );
    expect(decryptError(() => ring.decrypt(v2)).message).toBe(
      "version 2 of production is retired and no longer decrypts",
    );
    const v8 = new Keyring("production", [{ version: 8, state: "ACTIVE", legacy: false, key: k2 }]).encrypt(
      "x",
    );
    expect(decryptError(() => ring.decrypt(v8)).message).toBe(
      "version 8 is not in the keyring of production",
    );
  });

  it("reports a wrong key or tampering without the ciphertext", () => {
    const forged = new Keyring("production", [
      { version: 3, state: "ACTIVE", legacy: false, key: k4 },
    ]).encrypt("x");
    const error = decryptError(() => ring.decrypt(forged));
    expect(error.message).toBe("ciphertext does not decrypt under version 3 of production");
    expect(error.message).not.toContain(forged.slice(3, 27));

    const parts = parseCiphertext(ring.encrypt("payload"));
    const data = Buffer.from(parts.data);
    data[0] = (data[0] as number) ^ 0x80;
    const tampered = formatCiphertext(3, { ...parts, data });
    expect(decryptError(() => ring.decrypt(tampered)).message).toBe(
      "ciphertext does not decrypt under version 3 of production",
    );
  });

  it("binds the associated data", () => {
    const ciphertext = ring.encrypt("token", "PlatformIntegration:42:credentials");
    expect(ring.decryptToString(ciphertext, "PlatformIntegration:42:credentials")).toBe("token");
    expect(() => ring.decrypt(ciphertext, "PlatformIntegration:43:credentials")).toThrow(DecryptError);
    expect(() => ring.decrypt(ciphertext)).toThrow(DecryptError);
  });

  it("decrypts the guide's legacy ciphertext with the legacy version", () => {
    const legacy = guideEncrypt(legacyBytes, { accessToken: "shpat_abc", shop: "x.myshopify.com" });
    expect(ring.versionOf(legacy)).toBe(1);
    expect(JSON.parse(ring.decryptToString(legacy))).toEqual({
      accessToken: "shpat_abc",
      shop: "x.myshopify.com",
    });
  });

  it("refuses legacy ciphertext without a legacy version, or under the wrong legacy key", () => {
    const legacy = guideEncrypt(legacyBytes, { a: 1 });
    const noLegacy = new Keyring("staging", [{ version: 1, state: "ACTIVE", legacy: false, key: k1 }]);
    expect(noLegacy.versionOf(legacy)).toBeNull();
    expect(decryptError(() => noLegacy.decrypt(legacy)).message).toBe(
      "legacy ciphertext, but staging has no legacy key version",
    );
    const wrongLegacy = new Keyring("staging", [
      { version: 5, state: "DECRYPT_ONLY", legacy: true, key: k2 },
    ]);
    expect(decryptError(() => wrongLegacy.decrypt(legacy)).message).toBe(
      "ciphertext does not decrypt under version 5 of staging",
    );
  });

  it("reports malformed ciphertext as a format error and versionOf as null", () => {
    expect(() => ring.decrypt("not-ciphertext")).toThrow(CiphertextFormatError);
    expect(ring.versionOf("not-ciphertext")).toBeNull();
    expect(ring.versionOf("v3:zz:zz:zz")).toBeNull();
  });

  it("throws NoActiveKeyError when nothing is active", () => {
    const none = new Keyring("staging", [{ version: 1, state: "DECRYPT_ONLY", legacy: false, key: k1 }]);
    expect(none.activeVersion).toBeNull();
    expect(() => none.encrypt("x")).toThrow(new NoActiveKeyError("no active key version for staging"));
    expect(() => new Keyring("staging", []).encrypt("x")).toThrow(NoActiveKeyError);
  });

  it("validates its versions", () => {
    const two = versions();
    (two[3] as KeyringVersion).state = "ACTIVE";
    expect(() => new Keyring("production", two)).toThrow(
      new CryptoError("keyring for production has 2 ACTIVE versions (3, 4); at most one is allowed"),
    );
    const twoLegacy = versions();
    (twoLegacy[1] as KeyringVersion).legacy = true;
    expect(() => new Keyring("production", twoLegacy)).toThrow(/2 legacy versions \(1, 2\)/);
    const duplicate = [...versions(), { version: 3, state: "PENDING" as const, legacy: false, key: k4 }];
    expect(() => new Keyring("production", duplicate)).toThrow(/version 3 is listed twice/);
    expect(
      () => new Keyring("production", [{ version: 0, state: "ACTIVE", legacy: false, key: k1 }]),
    ).toThrow(CryptoError);
  });

  describe("healthCheckEncryption", () => {
    it("is healthy with an active key", () => {
      expect(ring.healthCheckEncryption()).toEqual({ status: "healthy" });
    });

    it("reports the error message when there is no active key", () => {
      const none = new Keyring("staging", [{ version: 1, state: "RETIRED", legacy: false, key: k1 }]);
      expect(none.healthCheckEncryption()).toEqual({
        status: "unhealthy",
        error: "no active key version for staging",
      });
    });
  });
});
