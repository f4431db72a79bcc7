// keyops/client: what an application that stores encrypted credentials imports. It depends on
// KeyOps's crypto and on pg (keyring source only); nothing of Slack, PagerDuty, Prisma or pg-boss.
import pg from "pg";
import { Credentials } from "./credentials.js";
import { EnvKeySource, KeyringKeySource, type KeySource } from "./key-sources.js";
import { DatabaseReportTransport, HttpReportTransport, type ReportTransport } from "./report-transport.js";
import { type OpenCredentialsOptions, readClientSettings } from "./settings.js";

export {
  AuthenticationFailedError,
  CiphertextFormatError as MalformedCiphertextError,
  CryptoError as CredentialsError,
  DecryptError,
  type DecryptFailureReason,
  NoActiveKeyError,
  UnknownKeyVersionError,
} from "../crypto/errors.js";
export type { EncryptionHealth } from "../crypto/keyring.js";
export type { Credentials, CredentialsStatus } from "./credentials.js";
export { KeySourceError } from "./key-sources.js";
export type { ClientReport, KeySourceKind, ReportAnswer } from "./report.js";
export { ClientConfigError, type OpenCredentialsOptions } from "./settings.js";

const REPORT_TIMEOUT_MS = 5000;

/**
 * Opens the environment's keys (env: `ENCRYPTION_KEY`, `ENCRYPTION_KEY_V<n>`; keyring:
 * `KEYOPS_DATABASE_URL` and the master key) and starts reporting to KeyOps. Throws
 * ClientConfigError for a malformed setting and KeySourceError when the keyring cannot be read;
 * a missing or mismatched key does not throw: the instance reports it and its health check fails.
 */
export async function openCredentials(options: OpenCredentialsOptions = {}): Promise<Credentials> {
  const settings = readClientSettings(options);
  let source: KeySource;
  let transport: ReportTransport | undefined;
  if (settings.keyring) {
    const pool = new pg.Pool({
      connectionString: settings.keyring.databaseUrl,
      max: 2,
      application_name: "keyops-client",
    });
    const lost = (error: Error) => settings.onWarning(`keyring connection lost: ${error.message}`);
    // Idle clients report through the pool, checked-out ones through themselves: neither may end the application.
    pool.on("error", lost);
    pool.on("connect", (client) => client.on("error", () => undefined));
    source = new KeyringKeySource(pool, settings.environment, settings.keyring.master);
    if (settings.reporting) transport = new DatabaseReportTransport(pool);
  } else {
    source = new EnvKeySource(settings.env);
    if (settings.http)
      transport = new HttpReportTransport(settings.http.url, settings.http.token, REPORT_TIMEOUT_MS);
  }
  const credentials = new Credentials({
    environment: settings.environment,
    service: settings.service,
    instanceId: settings.instanceId,
    source,
    transport,
    reportIntervalMs: settings.reportIntervalMs,
    refreshIntervalMs: source.kind === "keyring" ? settings.refreshIntervalMs : 0,
    onWarning: settings.onWarning,
  });
  try {
    await credentials.start();
  } catch (error) {
    await source.close();
    throw error;
  }
  return credentials;
}
