import path from "node:path";
import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../../src/config.js";
import { newTestKey } from "../support/database.js";

function problems(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  return [];
}

describe("configuration", () => {
  it("defaults to the embedded database under ./.data and the development environment", () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      databaseUrl: undefined,
      dataDir: path.resolve(".data"),
      embeddedPostgresPort: 54329,
      masterKey: undefined,
      legacyKeys: {},
      defaultEnvironment: "development",
      logLevel: "info",
    });
  });

  it("adopts ENCRYPTION_KEY for KEYOPS_ENVIRONMENT and per-environment keys by name", () => {
    const [plain, staging] = [newTestKey(), newTestKey()];
    const config = loadConfig({
      ENCRYPTION_KEY: plain.exposeBase64(),
      KEYOPS_ENVIRONMENT: "production",
      ENCRYPTION_KEY_STAGING: ` ${staging.exposeBase64()} `,
      KEYOPS_DATA_DIR: "",
    });
    expect(config.legacyKeys.production?.equals(plain)).toBe(true);
    expect(config.legacyKeys.staging?.equals(staging)).toBe(true);
    expect(config.dataDir).toBe(path.resolve(".data")); // blank is unset
  });

  it("names every problem and never a value", () => {
    const [a, b] = [newTestKey(), newTestKey()];
    const found = problems({
      DATABASE_URL: "mysql://db/keyops",
      KEYOPS_MASTER_KEY: a.exposeBase64(),
      ENCRYPTION_KEY_STAGING: b.exposeBase64(),
      ENCRYPTION_KEY_PRODUCTION: b.exposeBase64(),
      ENCRYPTION_KEY_DEVELOPMENT: a.exposeBase64(),
      KEYOPS_ENVIRONMENT: "prod",
    });
    expect(found).toEqual([
      "DATABASE_URL: must be a postgresql:// connection string",
      'KEYOPS_ENVIRONMENT: Invalid option: expected one of "development"|"staging"|"production"',
      "KEYOPS_MASTER_KEY must not be the same key as ENCRYPTION_KEY_DEVELOPMENT",
      "ENCRYPTION_KEY_STAGING and ENCRYPTION_KEY_PRODUCTION are the same key: use a separate key per environment",
    ]);
    const text = found.join("\n");
    for (const key of [a, b]) expect(text).not.toContain(key.exposeBase64());
  });

  it("requires a master key with DATABASE_URL and refuses malformed or example keys", () => {
    expect(problems({ DATABASE_URL: "postgresql://localhost/keyops" })).toEqual([
      expect.stringMatching(/^KEYOPS_MASTER_KEY is required when DATABASE_URL is set/),
    ]);
    expect(problems({ KEYOPS_MASTER_KEY: "not base64!" })).toEqual([
      expect.stringMatching(/^KEYOPS_MASTER_KEY .*base64/),
    ]);
    expect(problems({ ENCRYPTION_KEY: "k7Jm9XpL4zR2vN8qYwE5uT3hS6gF1aD0bC4xM7oP2nA=" })).toEqual([
      expect.stringMatching(/^ENCRYPTION_KEY is the example key printed in the key management guide/),
    ]);
    expect(problems({ KEYOPS_EMBEDDED_PG_PORT: "80" })[0]).toMatch(/^KEYOPS_EMBEDDED_PG_PORT:/);
  });

  it("reads a target database per environment", () => {
    const config = loadConfig({
      KEYOPS_TARGET_DATABASE_URL_PRODUCTION: "postgresql://api@db.internal/calibr",
    });
    expect(config.targetDatabaseUrls).toEqual({ production: "postgresql://api@db.internal/calibr" });
    expect(problems({ KEYOPS_TARGET_DATABASE_URL_STAGING: "redis://cache" })).toEqual([
      "KEYOPS_TARGET_DATABASE_URL_STAGING: must be a postgresql:// connection string",
    ]);
  });
});
