import { MAX_KEY_VERSION } from "../crypto/ciphertext.js";
import type { DecryptFailureReason } from "../crypto/errors.js";
import { ENVIRONMENTS, type Environment } from "../environments.js";

export type KeySourceKind = "env" | "keyring";

/** A key version an instance holds, named by fingerprint only. */
export interface HeldVersionReport {
  version: number;
  fingerprint: string;
}

export interface FailureCount {
  reason: DecryptFailureReason;
  /** The version the ciphertext named (the legacy format counts as 1); null when unreadable. */
  version: number | null;
  count: number;
}

/** What a client instance tells KeyOps every few seconds. Never a key, plaintext or ciphertext. */
export interface ClientReport {
  instanceId: string;
  environment: Environment;
  service: string;
  source: KeySourceKind;
  hostname: string;
  pid: number;
  startedAt: string;
  versions: HeldVersionReport[];
  /** The version it encrypts with; null when it cannot encrypt. */
  encryptsVersion: number | null;
  /** Configuration problems (a missing or malformed key), by variable name. */
  problems: string[];
  /** Decryption failures since its previous report. */
  failures: FailureCount[];
  /** Sent once by close(): the instance is going away and no longer counts as live. */
  stopping: boolean;
}

/** KeyOps's answer: which version the environment encrypts with, and the fingerprints it knows. */
export interface ReportAnswer {
  activeVersion: number | null;
  versions: HeldVersionReport[];
}

export class ReportFormatError extends Error {
  override name = "ReportFormatError";
}

const REASONS: readonly DecryptFailureReason[] = ["malformed", "unknown-version", "authentication-failed"];
const INSTANCE_ID = /^[A-Za-z0-9._:@-]{1,128}$/;
const FINGERPRINT = /^[0-9a-f]{8}$/;
/** The ClientInstance column is a PostgreSQL integer. */
const MAX_PID = 2_147_483_647;

/** Checks a report received over HTTP field by field: anything unexpected is refused whole. */
export function parseClientReport(value: unknown): ClientReport {
  const o = object(value, "report");
  const environment = text(o.environment, "environment", 32);
  if (!(ENVIRONMENTS as readonly string[]).includes(environment)) {
    throw new ReportFormatError(`environment must be one of ${ENVIRONMENTS.join(", ")}`);
  }
  const instanceId = text(o.instanceId, "instanceId", 128);
  if (!INSTANCE_ID.test(instanceId))
    throw new ReportFormatError("instanceId has characters that are not allowed");
  const source = text(o.source, "source", 16);
  if (source !== "env" && source !== "keyring") throw new ReportFormatError("source must be env or keyring");
  const versions = list(o.versions, "versions", 1000).map((entry) => {
    const v = object(entry, "versions[]");
    const fingerprint = text(v.fingerprint, "fingerprint", 8);
    if (!FINGERPRINT.test(fingerprint)) throw new ReportFormatError("a fingerprint must be 8 hex characters");
    return { version: version(v.version, "versions[].version"), fingerprint };
  });
  const failures = list(o.failures, "failures", 100).map((entry) => {
    const f = object(entry, "failures[]");
    const reason = text(f.reason, "failures[].reason", 32) as DecryptFailureReason;
    if (!REASONS.includes(reason))
      throw new ReportFormatError(`failures[].reason must be one of ${REASONS.join(", ")}`);
    const count = integer(f.count, "failures[].count", 1, 1_000_000_000);
    return { reason, version: f.version === null ? null : version(f.version, "failures[].version"), count };
  });
  const startedAt = text(o.startedAt, "startedAt", 40);
  if (Number.isNaN(Date.parse(startedAt))) throw new ReportFormatError("startedAt must be an ISO date");
  if (typeof o.stopping !== "boolean") throw new ReportFormatError("stopping must be true or false");
  return {
    instanceId,
    environment: environment as Environment,
    service: text(o.service, "service", 64),
    source,
    hostname: text(o.hostname, "hostname", 255),
    pid: integer(o.pid, "pid", 0, MAX_PID),
    startedAt,
    versions,
    encryptsVersion: o.encryptsVersion === null ? null : version(o.encryptsVersion, "encryptsVersion"),
    problems: list(o.problems, "problems", 20).map((p) => text(p, "problems[]", 300)),
    failures,
    stopping: o.stopping,
  };
}

function object(value: unknown, what: string): Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new ReportFormatError(`${what} must be an object`);
  }
  return value as Record<string, unknown>;
}

function list(value: unknown, what: string, max: number): unknown[] {
  if (!Array.isArray(value)) throw new ReportFormatError(`${what} must be a list`);
  if (value.length > max) throw new ReportFormatError(`${what} has more than ${max} entries`);
  return value;
}

function text(value: unknown, what: string, max: number): string {
  if (typeof value !== "string" || value.length === 0)
    throw new ReportFormatError(`${what} must be a non-empty string`);
  if (value.length > max) throw new ReportFormatError(`${what} is longer than ${max} characters`);
  // NUL cannot be stored in PostgreSQL text; control characters have no place in these fields.
  // biome-ignore lint/suspicious/noControlCharactersInRegex: that is the point
  if (/[\u0000-\u001f\u007f]/.test(value)) throw new ReportFormatError(`${what} has control characters`);
  return value;
}

function integer(value: unknown, what: string, min: number, max: number): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) {
    throw new ReportFormatError(`${what} must be an integer from ${min} to ${max}`);
  }
  return value;
}

function version(value: unknown, what: string): number {
  return integer(value, what, 1, MAX_KEY_VERSION);
}
