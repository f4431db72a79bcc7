import path from "node:path";
import { describe, expect, it } from "vitest";
import { loadBotConfig } from "../../src/bot-config.js";
import { type Config, ConfigError, loadConfig } from "../../src/config.js";
import type { SecretKey } from "../../src/crypto/secret-key.js";
import { newTestKey } from "../support/database.js";
import { thrown } from "../support/thrown.js";

// loadConfig with explicit environment objects: nothing here reads the process's own environment.

const GUIDE_EXAMPLE_KEY = "k7Jm9XpL4zR2vN8qYwE5uT3hS6gF1aD0bC4xM7oP2nA=";
const MASTER_REQUIRED =
  /^KEYOPS_MASTER_KEY is required when DATABASE_URL is set \(base64 of 32 random bytes: /;

/** The ConfigError loadConfig throws for `env` (fails the test when it accepts it). */
function configError(env: NodeJS.ProcessEnv): ConfigError {
  let config: Config | undefined;
  try {
    config = loadConfig(env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error(
    `expected a ConfigError, got a config for ${config.databaseUrl ?? "the embedded database"}`,
  );
}

function expectNoKeyIn(error: ConfigError, keys: (SecretKey | string)[]): void {
  const text = `${error.message}\n${error.problems.join("\n")}\n${String(error)}`;
  for (const key of keys) {
    if (typeof key === "string") {
      expect(text).not.toContain(key);
    } else {
      expect(text).not.toContain(key.exposeBase64());
      expect(text.toLowerCase()).not.toContain(key.exposeBytes().toString("hex"));
    }
  }
}

describe("loadConfig defaults", () => {
  it("with nothing set: the embedded database under ./.data, development, no keys", () => {
    const config = loadConfig({});
    expect(config).toEqual({
      databaseUrl: undefined,
      dataDir: path.resolve(".data"),
      embeddedPostgresPort: 54329,
      masterKey: undefined,
      legacyKeys: {},
      targetDatabaseUrls: {},
      targets: {},
      defaultEnvironment: "development",
      logLevel: "info",
      logFormat: "text",
      clientLiveWithinMs: 30_000,
      handoverTimeoutMs: 900_000,
      auditHeadFile: path.resolve(".data", "audit-heads.jsonl"),
      auditPublishMs: 300_000,
      timeZone: "UTC",
      retiredKeyRetentionDays: 365,
      restoreDatabaseUrls: {},
    });
    expect(path.isAbsolute(config.dataDir)).toBe(true);
    expect(path.basename(config.dataDir)).toBe(".data");
  });

  it("KEYOPS_RETIRED_KEY_RETENTION_DAYS and KEYOPS_RESTORE_DATABASE_URL_<ENV> are validated, never echoed", () => {
    expect(loadConfig({ KEYOPS_RETIRED_KEY_RETENTION_DAYS: "30" }).retiredKeyRetentionDays).toBe(30);
    expect(
      loadConfig({ KEYOPS_RESTORE_DATABASE_URL_PRODUCTION: "postgresql://u:pw@db/restored" })
        .restoreDatabaseUrls,
    ).toEqual({ production: "postgresql://u:pw@db/restored" });
    for (const bad of ["0", "-1", "1.5", "a year"]) {
      expect(() => loadConfig({ KEYOPS_RETIRED_KEY_RETENTION_DAYS: bad })).toThrow(
        /KEYOPS_RETIRED_KEY_RETENTION_DAYS/,
      );
    }
    let message = "";
    try {
      loadConfig({ KEYOPS_RESTORE_DATABASE_URL_STAGING: "mysql://u:hunter2@db/x" });
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toMatch(
      /KEYOPS_RESTORE_DATABASE_URL_STAGING: must be a postgresql:\/\/ connection string/,
    );
    expect(message).not.toContain("hunter2");
  });

  it("KEYOPS_AUDIT_HEAD_FILE is resolved (default: in the data dir); KEYOPS_AUDIT_PUBLISH_SECONDS is validated", () => {
    expect(loadConfig({ KEYOPS_DATA_DIR: "/srv/keyops" }).auditHeadFile).toBe(
      "/srv/keyops/audit-heads.jsonl",
    );
    expect(loadConfig({ KEYOPS_AUDIT_HEAD_FILE: "heads.jsonl" }).auditHeadFile).toBe(
      path.resolve("heads.jsonl"),
    );
    expect(loadConfig({ KEYOPS_AUDIT_PUBLISH_SECONDS: "0" }).auditPublishMs).toBe(0);
    expect(() => loadConfig({ KEYOPS_AUDIT_PUBLISH_SECONDS: "-1" })).toThrow(/KEYOPS_AUDIT_PUBLISH_SECONDS/);
  });

  it("KEYOPS_TIME_ZONE is an IANA zone, validated once (default UTC)", () => {
    expect(loadConfig({ KEYOPS_TIME_ZONE: "Europe/Berlin" }).timeZone).toBe("Europe/Berlin");
    expect(() => loadConfig({ KEYOPS_TIME_ZONE: "Mars/Olympus" })).toThrow(
      /KEYOPS_TIME_ZONE: must be an IANA time zone/,
    );
  });

  it("resolves a relative KEYOPS_DATA_DIR to an absolute path and keeps an absolute one", () => {
    expect(loadConfig({ KEYOPS_DATA_DIR: "var/keyops" }).dataDir).toBe(
      path.join(process.cwd(), "var", "keyops"),
    );
    expect(loadConfig({ KEYOPS_DATA_DIR: "/srv/keyops/data" }).dataDir).toBe("/srv/keyops/data");
  });

  it("reads DATABASE_URL (postgres:// or postgresql://) with its master key", () => {
    const master = newTestKey();
    for (const url of ["postgresql://keyops@db.internal:5432/keyops", "postgres://keyops@db/keyops"]) {
      const config = loadConfig({ DATABASE_URL: url, KEYOPS_MASTER_KEY: master.exposeBase64() });
      expect(config.databaseUrl).toBe(url);
      expect(config.masterKey?.equals(master)).toBe(true);
      expect(config.masterKey?.fingerprint).toBe(master.fingerprint);
    }
  });

  it("adopts ENCRYPTION_KEY for KEYOPS_ENVIRONMENT and ENCRYPTION_KEY_<ENV> per environment", () => {
    const [plain, staging] = [newTestKey(), newTestKey()];
    const config = loadConfig({
      KEYOPS_ENVIRONMENT: "production",
      ENCRYPTION_KEY: plain.exposeBase64(),
      ENCRYPTION_KEY_STAGING: staging.exposeBase64(),
      KEYOPS_LOG_LEVEL: "debug",
      KEYOPS_EMBEDDED_PG_PORT: "55432",
    });
    expect(Object.keys(config.legacyKeys).sort()).toEqual(["production", "staging"]);
    expect(config.legacyKeys.production?.equals(plain)).toBe(true);
    expect(config.legacyKeys.staging?.equals(staging)).toBe(true);
    expect(config.defaultEnvironment).toBe("production");
    expect(config.logLevel).toBe("debug");
    expect(config.embeddedPostgresPort).toBe(55432);
  });

  it("treats blank values as unset", () => {
    const config = loadConfig({
      DATABASE_URL: "  ",
      KEYOPS_MASTER_KEY: "",
      ENCRYPTION_KEY: " ",
      ENCRYPTION_KEY_PRODUCTION: "\t",
      KEYOPS_DATA_DIR: "",
      KEYOPS_EMBEDDED_PG_PORT: "",
      KEYOPS_ENVIRONMENT: " ",
      KEYOPS_LOG_LEVEL: "",
      KEYOPS_TARGET_DATABASE_URL_STAGING: "   ",
    });
    expect(config).toEqual(loadConfig({}));
    // A blank master key with a DATABASE_URL is the same as none.
    expect(
      configError({ DATABASE_URL: "postgresql://localhost/keyops", KEYOPS_MASTER_KEY: "  " }).problems,
    ).toEqual([expect.stringMatching(MASTER_REQUIRED)]);
  });
});

describe("loadConfig refuses", () => {
  it("DATABASE_URL without KEYOPS_MASTER_KEY, naming the variable", () => {
    const error = configError({ DATABASE_URL: "postgresql://keyops:pw@localhost/keyops" });
    expect(error.name).toBe("ConfigError");
    expect(error.problems).toEqual([expect.stringMatching(MASTER_REQUIRED)]);
    expect(error.message).toContain("KEYOPS_MASTER_KEY is required when DATABASE_URL is set");
    expect(error.message).not.toContain(":pw@");
  });

  it("a DATABASE_URL that is not a PostgreSQL connection string", () => {
    const master = newTestKey().exposeBase64();
    for (const url of ["mysql://root@localhost/keyops", "localhost:5432/keyops", "postgresq://x"]) {
      expect(configError({ DATABASE_URL: url, KEYOPS_MASTER_KEY: master }).problems).toEqual([
        "DATABASE_URL: must be a postgresql:// connection string",
      ]);
    }
  });

  it("the same legacy key for two environments", () => {
    const shared = newTestKey();
    const error = configError({
      ENCRYPTION_KEY_STAGING: shared.exposeBase64(),
      ENCRYPTION_KEY_PRODUCTION: shared.exposeBase64(),
    });
    expect(error.problems).toEqual([
      "ENCRYPTION_KEY_STAGING and ENCRYPTION_KEY_PRODUCTION are the same key: use a separate key per environment",
    ]);
    expectNoKeyIn(error, [shared]);
    // ENCRYPTION_KEY (development by default) reused for staging is the same mistake.
    const plain = configError({
      ENCRYPTION_KEY: shared.exposeBase64(),
      ENCRYPTION_KEY_STAGING: shared.exposeBase64(),
    });
    expect(plain.problems).toHaveLength(1);
    expect(plain.problems[0]).toMatch(/ENCRYPTION_KEY_STAGING and ENCRYPTION_KEY are the same key/);
  });

  it("ENCRYPTION_KEY and ENCRYPTION_KEY_<ENV> that differ for the same environment", () => {
    const [a, b] = [newTestKey(), newTestKey()];
    const error = configError({
      ENCRYPTION_KEY: a.exposeBase64(),
      ENCRYPTION_KEY_DEVELOPMENT: b.exposeBase64(),
    });
    expect(error.problems).toEqual([
      "ENCRYPTION_KEY and ENCRYPTION_KEY_DEVELOPMENT both set for development but differ",
    ]);
    expectNoKeyIn(error, [a, b]);
    // The same key under both names is fine.
    const same = loadConfig({
      ENCRYPTION_KEY: a.exposeBase64(),
      ENCRYPTION_KEY_DEVELOPMENT: a.exposeBase64(),
    });
    expect(same.legacyKeys.development?.equals(a)).toBe(true);
  });

  it("a master key equal to a legacy key", () => {
    const key = newTestKey();
    for (const name of ["ENCRYPTION_KEY", "ENCRYPTION_KEY_DEVELOPMENT", "ENCRYPTION_KEY_PRODUCTION"]) {
      const error = configError({
        DATABASE_URL: "postgresql://localhost/keyops",
        KEYOPS_MASTER_KEY: key.exposeBase64(),
        ENCRYPTION_KEY_STAGING: newTestKey().exposeBase64(),
        [name]: key.exposeBase64(),
      });
      expect(error.problems).toEqual([`KEYOPS_MASTER_KEY must not be the same key as ${name}`]);
      expectNoKeyIn(error, [key]);
    }
  });

  it("the example key printed in the guide, under any variable, naming the variable only", () => {
    for (const name of ["KEYOPS_MASTER_KEY", "ENCRYPTION_KEY", "ENCRYPTION_KEY_STAGING"]) {
      const error = configError({ [name]: GUIDE_EXAMPLE_KEY });
      expect(error.problems).toEqual([
        `${name} is the example key printed in the key management guide; generate a new one`,
      ]);
      expectNoKeyIn(error, [GUIDE_EXAMPLE_KEY, Buffer.from(GUIDE_EXAMPLE_KEY, "base64").toString("hex")]);
    }
  });

  it("malformed keys, naming the variable and never the value", () => {
    const real = newTestKey().exposeBase64();
    const truncated = real.slice(0, 40);
    const notBase64 = real.replace(/^./, "!");
    const short = Buffer.from("sixteen byte key").toString("base64");
    const error = configError({
      KEYOPS_MASTER_KEY: notBase64,
      ENCRYPTION_KEY: short,
      ENCRYPTION_KEY_PRODUCTION: truncated,
    });
    expect(error.problems).toEqual([
      "KEYOPS_MASTER_KEY is not valid base64 (expected base64 of 32 random bytes)",
      "ENCRYPTION_KEY_PRODUCTION must decode to 32 bytes, got 30",
      "ENCRYPTION_KEY must decode to 32 bytes, got 16",
    ]);
    expectNoKeyIn(error, [real.slice(1, 40), short, truncated]);
  });

  it("every problem at once, never a value", () => {
    const [a, b] = [newTestKey(), newTestKey()];
    const error = configError({
      DATABASE_URL: "mysql://db/keyops",
      KEYOPS_MASTER_KEY: a.exposeBase64(),
      ENCRYPTION_KEY_STAGING: b.exposeBase64(),
      ENCRYPTION_KEY_PRODUCTION: b.exposeBase64(),
      ENCRYPTION_KEY_DEVELOPMENT: a.exposeBase64(),
      KEYOPS_ENVIRONMENT: "prod",
      KEYOPS_EMBEDDED_PG_PORT: "80",
      KEYOPS_LOG_LEVEL: "loud",
      KEYOPS_TARGET_DATABASE_URL_STAGING: "redis://cache",
    });
    expect(error.problems).toHaveLength(7);
    expect(error.problems.map((p) => p.split(/[: ]/)[0])).toEqual([
      "DATABASE_URL",
      "KEYOPS_EMBEDDED_PG_PORT",
      "KEYOPS_ENVIRONMENT",
      "KEYOPS_LOG_LEVEL",
      "KEYOPS_MASTER_KEY",
      "ENCRYPTION_KEY_STAGING",
      "KEYOPS_TARGET_DATABASE_URL_STAGING",
    ]);
    expect(error.message.split("\n")).toHaveLength(8);
    expectNoKeyIn(error, [a, b, "loud", "redis://cache", "mysql://db"]);
  });
});

describe("loadConfig target databases", () => {
  it("reads one per environment and refuses one that is not PostgreSQL", () => {
    const config = loadConfig({
      KEYOPS_TARGET_DATABASE_URL_PRODUCTION: "postgresql://api@db.internal/calibr",
    });
    expect(config.targetDatabaseUrls).toEqual({ production: "postgresql://api@db.internal/calibr" });
    expect(configError({ KEYOPS_TARGET_DATABASE_URL_STAGING: "redis://cache" }).problems).toEqual([
      "KEYOPS_TARGET_DATABASE_URL_STAGING: must be a postgresql:// connection string",
    ]);
  });
});

describe("loadBotConfig: the alert channel and KEYOPS_ALLOWED_CHANNELS", () => {
  const base = {
    SLACK_BOT_TOKEN: "xoxb-test",
    SLACK_SIGNING_SECRET: "0123456789abcdef",
    KEYOPS_APPROVERS: "U0APPROVER",
    KEYOPS_ALERT_CHANNEL: "C0ALERTS",
  };

  it("refuses an allow-list that leaves out the alert channel, whose buttons it would refuse", () => {
    const error = thrown(
      () => loadBotConfig({ ...base, KEYOPS_ALLOWED_CHANNELS: "C0SECURITY" }),
      ConfigError,
    );
    expect(error.problems).toEqual([
      "KEYOPS_ALLOWED_CHANNELS must include KEYOPS_ALERT_CHANNEL (C0ALERTS): the buttons KeyOps posts there would be refused",
    ]);
  });

  it("accepts it listed, or no allow-list at all", () => {
    expect(
      loadBotConfig({ ...base, KEYOPS_ALLOWED_CHANNELS: "C0SECURITY,C0ALERTS" }).allowedChannels,
    ).toEqual(["C0SECURITY", "C0ALERTS"]);
    expect(loadBotConfig(base).allowedChannels).toEqual([]);
  });
});
