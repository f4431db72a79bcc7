import path from "node:path";
import { IANAZone } from "luxon";
import { z } from "zod";
import { SecretKey } from "./crypto/secret-key.js";
import { ENVIRONMENTS, type Environment } from "./environments.js";
import { LOG_FORMATS, type LogFormat, type LogLevel } from "./logger.js";
import { readTargetsFile, type TargetSetting } from "./targets-config.js";

export interface Config {
  /** Connection string of the KeyOps database; undefined means the embedded PostgreSQL. */
  databaseUrl: string | undefined;
  /** Where the embedded PostgreSQL and a generated master key live. */
  dataDir: string;
  embeddedPostgresPort: number;
  /** Undefined only with the embedded default, which then generates one into dataDir. */
  masterKey: SecretKey | undefined;
  /** The guide's ENCRYPTION_KEY per environment, adopted as version 1 on first start. */
  legacyKeys: Partial<Record<Environment, SecretKey>>;
  /**
   * Where each environment's encrypted credentials live (KEYOPS_TARGET_DATABASE_URL_<ENV>);
   * an environment without one keeps them in the KeyOps database itself.
   */
  targetDatabaseUrls: Partial<Record<Environment, string>>;
  /** KEYOPS_TARGETS_FILE: each environment's targets; an environment not listed has the guide's table. */
  targets: Partial<Record<Environment, TargetSetting[]>>;
  defaultEnvironment: Environment;
  logLevel: LogLevel;
  /** KEYOPS_LOG_FORMAT: text lines (default) or one JSON object per line. */
  logFormat: LogFormat;
  /** The application's instances (keyops/client): live when they reported this recently. */
  clientLiveWithinMs: number;
  /** How long activation waits for every live instance to hold a new version. */
  handoverTimeoutMs: number;
  /** KEYOPS_MAX_ROWS_PER_SECOND: the rotation's rate limit when a run is not given one; none when unset. */
  maxRowsPerSecond: number | undefined;
  /** KEYOPS_AUDIT_HEAD_FILE: the append-only file the audit chain's head is published to. */
  auditHeadFile: string;
  /** KEYOPS_AUDIT_PUBLISH_SECONDS: how often the bot publishes the head; 0 only at workflows' ends. */
  auditPublishMs: number;
  /** KEYOPS_TIME_ZONE: the team's IANA time zone, where calendar quarters begin (default UTC). */
  timeZone: string;
  /** KEYOPS_RETIRED_KEY_RETENTION_DAYS: a retired version keeps its wrapped key this long (default 365). */
  retiredKeyRetentionDays: number;
  /**
   * KEYOPS_RESTORE_DATABASE_URL_<ENV>: a restored copy of the environment's application database
   * that /key-restore's backup check reads (the URL stays in configuration, never in Slack).
   */
  restoreDatabaseUrls: Partial<Record<Environment, string>>;
}

export class ConfigError extends Error {
  override name = "ConfigError";
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
  }
}

const schema = z.object({
  DATABASE_URL: z
    .string()
    .trim()
    .regex(/^postgres(ql)?:\/\//, "must be a postgresql:// connection string")
    .optional(),
  KEYOPS_DATA_DIR: z.string().trim().min(1).default(".data"),
  KEYOPS_AUDIT_HEAD_FILE: z.string().trim().min(1).optional(),
  KEYOPS_AUDIT_PUBLISH_SECONDS: z.coerce.number().int().min(0).max(86_400).default(300),
  KEYOPS_EMBEDDED_PG_PORT: z.coerce.number().int().min(1024).max(65535).default(54329),
  KEYOPS_ENVIRONMENT: z.enum(ENVIRONMENTS).default("development"),
  KEYOPS_LOG_LEVEL: z.enum(["debug", "info", "warn", "error", "silent"]).default("info"),
  KEYOPS_LOG_FORMAT: z.enum(LOG_FORMATS).default("text"),
  KEYOPS_CLIENT_LIVE_SECONDS: z.coerce.number().min(1).max(86_400).default(30),
  KEYOPS_HANDOVER_TIMEOUT_SECONDS: z.coerce
    .number()
    .min(0)
    .max(7 * 86_400)
    .default(900),
  KEYOPS_MAX_ROWS_PER_SECOND: z.coerce.number().int().min(1).max(10_000_000).optional(),
  KEYOPS_TIME_ZONE: z
    .string()
    .trim()
    .default("UTC")
    .refine((zone) => IANAZone.isValidZone(zone), "must be an IANA time zone, e.g. Europe/Berlin or UTC"),
  KEYOPS_RETIRED_KEY_RETENTION_DAYS: z.coerce.number().int().min(1).max(36_500).default(365),
});

const legacyKeyVariable = (environment: Environment) => `ENCRYPTION_KEY_${environment.toUpperCase()}`;

/** Reads and validates every setting once; a ConfigError names each problem and never a value. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const problems: string[] = [];
  const blankToUndefined = Object.fromEntries(
    Object.entries(env).map(([name, value]) => [name, value?.trim() === "" ? undefined : value]),
  );
  const parsed = schema.safeParse(blankToUndefined);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) problems.push(`${issue.path.join(".")}: ${issue.message}`);
  }

  const readKey = (name: string): SecretKey | undefined => {
    const value = blankToUndefined[name];
    if (value === undefined) return undefined;
    try {
      return SecretKey.fromBase64(value, name);
    } catch (error) {
      problems.push((error as Error).message);
      return undefined;
    }
  };

  const masterKey = readKey("KEYOPS_MASTER_KEY");
  const defaultEnvironment = parsed.data?.KEYOPS_ENVIRONMENT ?? "development";
  const legacyKeys: Partial<Record<Environment, SecretKey>> = {};
  const legacyNames: Partial<Record<Environment, string>> = {};
  for (const environment of ENVIRONMENTS) {
    const name = legacyKeyVariable(environment);
    const key = readKey(name);
    if (key) {
      legacyKeys[environment] = key;
      legacyNames[environment] = name;
    }
  }
  const plainLegacy = readKey("ENCRYPTION_KEY");
  if (plainLegacy) {
    const existing = legacyKeys[defaultEnvironment];
    if (existing && !existing.equals(plainLegacy)) {
      problems.push(
        `ENCRYPTION_KEY and ${legacyKeyVariable(defaultEnvironment)} both set for ${defaultEnvironment} but differ`,
      );
    }
    legacyKeys[defaultEnvironment] = plainLegacy;
    legacyNames[defaultEnvironment] ??= "ENCRYPTION_KEY";
  }

  const named = Object.entries(legacyKeys) as [Environment, SecretKey][];
  for (let i = 0; i < named.length; i++) {
    for (let j = i + 1; j < named.length; j++) {
      const [envA, keyA] = named[i] as [Environment, SecretKey];
      const [envB, keyB] = named[j] as [Environment, SecretKey];
      if (keyA.equals(keyB)) {
        problems.push(
          `${legacyNames[envA]} and ${legacyNames[envB]} are the same key: use a separate key per environment`,
        );
      }
    }
    const [environment, key] = named[i] as [Environment, SecretKey];
    if (masterKey?.equals(key)) {
      problems.push(`KEYOPS_MASTER_KEY must not be the same key as ${legacyNames[environment]}`);
    }
  }

  const targetDatabaseUrls: Partial<Record<Environment, string>> = {};
  for (const environment of ENVIRONMENTS) {
    const name = `KEYOPS_TARGET_DATABASE_URL_${environment.toUpperCase()}`;
    const value = blankToUndefined[name]?.trim();
    if (value === undefined) continue;
    if (!/^postgres(ql)?:\/\//.test(value))
      problems.push(`${name}: must be a postgresql:// connection string`);
    else targetDatabaseUrls[environment] = value;
  }

  const restoreDatabaseUrls: Partial<Record<Environment, string>> = {};
  for (const environment of ENVIRONMENTS) {
    const name = `KEYOPS_RESTORE_DATABASE_URL_${environment.toUpperCase()}`;
    const value = blankToUndefined[name]?.trim();
    if (value === undefined) continue;
    if (!/^postgres(ql)?:\/\//.test(value))
      problems.push(`${name}: must be a postgresql:// connection string`);
    else restoreDatabaseUrls[environment] = value;
  }

  const targetsFile = blankToUndefined.KEYOPS_TARGETS_FILE?.trim();
  const targets = targetsFile ? readTargetsFile(path.resolve(targetsFile), problems) : {};

  const databaseUrl = parsed.data?.DATABASE_URL;
  if (databaseUrl && !masterKey) {
    problems.push(
      "KEYOPS_MASTER_KEY is required when DATABASE_URL is set (base64 of 32 random bytes: " +
        `node -e "console.log(require('crypto').randomBytes(32).toString('base64'))")`,
    );
  }

  if (problems.length > 0 || !parsed.data) throw new ConfigError(problems);
  return {
    databaseUrl,
    dataDir: path.resolve(parsed.data.KEYOPS_DATA_DIR),
    embeddedPostgresPort: parsed.data.KEYOPS_EMBEDDED_PG_PORT,
    masterKey,
    legacyKeys,
    targetDatabaseUrls,
    targets,
    defaultEnvironment,
    logLevel: parsed.data.KEYOPS_LOG_LEVEL,
    logFormat: parsed.data.KEYOPS_LOG_FORMAT,
    clientLiveWithinMs: parsed.data.KEYOPS_CLIENT_LIVE_SECONDS * 1000,
    handoverTimeoutMs: parsed.data.KEYOPS_HANDOVER_TIMEOUT_SECONDS * 1000,
    maxRowsPerSecond: parsed.data.KEYOPS_MAX_ROWS_PER_SECOND,
    auditHeadFile: path.resolve(
      parsed.data.KEYOPS_AUDIT_HEAD_FILE ?? path.join(parsed.data.KEYOPS_DATA_DIR, "audit-heads.jsonl"),
    ),
    auditPublishMs: parsed.data.KEYOPS_AUDIT_PUBLISH_SECONDS * 1000,
    timeZone: parsed.data.KEYOPS_TIME_ZONE,
    retiredKeyRetentionDays: parsed.data.KEYOPS_RETIRED_KEY_RETENTION_DAYS,
    restoreDatabaseUrls,
  };
}
