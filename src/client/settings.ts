import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import { SecretKey } from "../crypto/secret-key.js";
import { ENVIRONMENTS, type Environment } from "../environments.js";
import type { MasterKeySetting } from "./key-sources.js";
import type { KeySourceKind } from "./report.js";

export interface OpenCredentialsOptions {
  /** development, staging or production; default `KEYOPS_ENVIRONMENT`. */
  environment?: string;
  /** Default: `keyring` when `KEYOPS_DATABASE_URL` is set, `env` otherwise. */
  source?: KeySourceKind;
  /** Where settings are read from; default `process.env`. */
  env?: Record<string, string | undefined>;
  /** The service's name in KeyOps's lists and Slack messages; default `KEYOPS_SERVICE_NAME` or "app". */
  service?: string;
  /** Default `KEYOPS_INSTANCE_ID`, else `<hostname>:<pid>:<random>`. */
  instanceId?: string;
  /** Default on (`KEYOPS_REPORTING=off` turns it off). Env clients also need `KEYOPS_URL` and `KEYOPS_REPORT_TOKEN`. */
  reporting?: boolean;
  /** Default `KEYOPS_REPORT_INTERVAL_SECONDS` or 5 s. */
  reportIntervalMs?: number;
  /** Keyring clients: how often keys are read again; default `KEYOPS_KEYRING_REFRESH_SECONDS` or 5 s. */
  refreshIntervalMs?: number;
  /** Where warnings go (a report that failed, keys that could not be reloaded); default console.warn. */
  onWarning?: (message: string) => void;
}

export class ClientConfigError extends Error {
  override name = "ClientConfigError";
}

export interface ClientSettings {
  environment: Environment;
  source: KeySourceKind;
  env: Record<string, string | undefined>;
  service: string;
  instanceId: string;
  reportIntervalMs: number;
  refreshIntervalMs: number;
  /** Env clients: where and how to report; undefined when reporting is off. */
  http: { url: string; token: string } | undefined;
  /** Keyring clients. */
  keyring: { databaseUrl: string; master: MasterKeySetting } | undefined;
  reporting: boolean;
  onWarning: (message: string) => void;
}

/** Reads and checks every client setting once. Throws ClientConfigError naming the setting, never a value. */
export function readClientSettings(options: OpenCredentialsOptions): ClientSettings {
  const env = options.env ?? process.env;
  const get = (name: string) => {
    const value = env[name];
    return value === undefined || value.trim() === "" ? undefined : value.trim();
  };
  const environmentText = options.environment ?? get("KEYOPS_ENVIRONMENT");
  if (!environmentText) {
    throw new ClientConfigError(
      "the environment is required: openCredentials({ environment }) or KEYOPS_ENVIRONMENT",
    );
  }
  const environment = environmentText.trim().toLowerCase();
  if (!(ENVIRONMENTS as readonly string[]).includes(environment)) {
    throw new ClientConfigError(
      `unknown environment "${environmentText}" (expected ${ENVIRONMENTS.join(", ")})`,
    );
  }
  const databaseUrl = get("KEYOPS_DATABASE_URL");
  const source = options.source ?? (databaseUrl ? "keyring" : "env");
  if (source !== "env" && source !== "keyring") throw new ClientConfigError("source must be env or keyring");

  const reportingSetting = get("KEYOPS_REPORTING");
  if (reportingSetting !== undefined && !["on", "off"].includes(reportingSetting)) {
    throw new ClientConfigError("KEYOPS_REPORTING must be on or off");
  }
  const reporting = options.reporting ?? reportingSetting !== "off";

  let keyring: ClientSettings["keyring"];
  if (source === "keyring") {
    if (!databaseUrl) throw new ClientConfigError("the keyring source needs KEYOPS_DATABASE_URL");
    if (!/^postgres(ql)?:\/\//.test(databaseUrl)) {
      throw new ClientConfigError("KEYOPS_DATABASE_URL must be a postgresql:// connection string");
    }
    const specific = `KEYOPS_MASTER_KEY_${environment.toUpperCase()}`;
    const name = get(specific) ? specific : "KEYOPS_MASTER_KEY";
    const value = get(name);
    let masterKey: SecretKey | undefined;
    let problem: string | undefined;
    try {
      masterKey = value === undefined ? undefined : SecretKey.fromBase64(value, name);
    } catch (error) {
      problem = (error as Error).message;
    }
    const variable = value === undefined ? specific : name;
    keyring = { databaseUrl, master: { key: masterKey, variable, ...(problem ? { problem } : {}) } };
  }

  let http: ClientSettings["http"];
  const url = get("KEYOPS_URL");
  const token = get("KEYOPS_REPORT_TOKEN");
  if (source === "env" && reporting && (url || token)) {
    if (!url || !token)
      throw new ClientConfigError("reporting needs both KEYOPS_URL and KEYOPS_REPORT_TOKEN");
    if (!/^https?:\/\//.test(url)) throw new ClientConfigError("KEYOPS_URL must be an http(s):// address");
    http = { url, token };
  }

  const instanceId = options.instanceId ?? get("KEYOPS_INSTANCE_ID") ?? defaultInstanceId();
  if (!/^[A-Za-z0-9._:@-]{1,128}$/.test(instanceId)) {
    throw new ClientConfigError("the instance id may hold only letters, digits and . _ : @ - (at most 128)");
  }
  const service = options.service ?? get("KEYOPS_SERVICE_NAME") ?? "app";
  if (service.length > 64) throw new ClientConfigError("the service name must be at most 64 characters");

  return {
    environment: environment as Environment,
    source,
    env,
    service,
    instanceId,
    reportIntervalMs:
      options.reportIntervalMs ??
      seconds(get("KEYOPS_REPORT_INTERVAL_SECONDS"), "KEYOPS_REPORT_INTERVAL_SECONDS", 5),
    refreshIntervalMs:
      options.refreshIntervalMs ??
      seconds(get("KEYOPS_KEYRING_REFRESH_SECONDS"), "KEYOPS_KEYRING_REFRESH_SECONDS", 5),
    http,
    keyring,
    reporting: source === "keyring" ? reporting : http !== undefined,
    onWarning: options.onWarning ?? ((message) => console.warn(`keyops/client: ${message}`)),
  };
}

function seconds(value: string | undefined, name: string, fallback: number): number {
  if (value === undefined) return fallback * 1000;
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0 || n > 3600)
    throw new ClientConfigError(`${name} must be a number of seconds above 0, at most 3600`);
  return n * 1000;
}

function defaultInstanceId(): string {
  const host =
    hostname()
      .replace(/[^A-Za-z0-9._-]/g, "-")
      .slice(0, 64) || "host";
  return `${host}:${process.pid}:${randomBytes(3).toString("hex")}`;
}
