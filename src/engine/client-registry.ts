import type pg from "pg";
import type { DecryptFailureReason } from "../crypto/errors.js";
import type { Environment } from "../environments.js";

/** One instance of the application, as it last reported. */
export interface ClientInstanceInfo {
  instanceId: string;
  environment: Environment;
  service: string;
  source: "env" | "keyring";
  hostname: string;
  versions: { version: number; fingerprint: string }[];
  encryptsVersion: number | null;
  problems: string[];
  startedAt: Date;
  lastSeenAt: Date;
  stoppedAt: Date | null;
  /** Reported within the live window and not stopped: the gate waits for it. */
  live: boolean;
  /** Decryption failures it reported in the last hour. */
  failuresLastHour: number;
}

export interface FailureTotal {
  reason: DecryptFailureReason;
  version: number | null;
  count: number;
}

export interface ClientRegistrySettings {
  /** An instance that reported within this long is live (default 30 s: six missed 5-second reports). */
  liveWithinMs: number;
}

export const DEFAULT_CLIENT_LIVE_WITHIN_MS = 30_000;

/**
 * What the application's instances reported (keyops/client): the hand-over gate, `keyops
 * clients`, the status views and the alerts read it. Liveness is judged by the database's clock,
 * which also stamped the reports.
 */
export class ClientRegistry {
  constructor(
    private readonly pool: pg.Pool,
    readonly settings: ClientRegistrySettings = { liveWithinMs: DEFAULT_CLIENT_LIVE_WITHIN_MS },
  ) {}

  /** Instances seen in the last day (live first), or only the live ones. */
  async list(environment?: Environment, options: { liveOnly?: boolean } = {}): Promise<ClientInstanceInfo[]> {
    const { rows } = await this.pool.query<ClientInstanceRow>(
      `SELECT c."instanceId", c."environment", c."service", c."source", c."hostname", c."versions",
              c."encryptsVersion", c."problems",
              -- timestamp columns hold UTC (as Prisma writes them); pg would read them as local time
              c."startedAt" AT TIME ZONE 'UTC' AS "startedAt", c."lastSeenAt" AT TIME ZONE 'UTC' AS "lastSeenAt",
              c."stoppedAt" AT TIME ZONE 'UTC' AS "stoppedAt",
              c."stoppedAt" IS NULL AND c."lastSeenAt" > ${nowUtc} - make_interval(secs => $2) AS live,
              COALESCE((SELECT sum(f."count") FROM "ClientFailure" f
                         WHERE f."instanceId" = c."instanceId" AND f."at" > ${nowUtc} - interval '1 hour'), 0)::int
                AS "failuresLastHour"
         FROM "ClientInstance" c
        WHERE ($1::text IS NULL OR c."environment" = $1)
          AND c."lastSeenAt" > ${nowUtc} - interval '1 day'
        ORDER BY c."environment", c."service", c."instanceId"`,
      [environment ?? null, this.settings.liveWithinMs / 1000],
    );
    const instances = rows.map(toInfo);
    return options.liveOnly ? instances.filter((i) => i.live) : instances;
  }

  live(environment: Environment): Promise<ClientInstanceInfo[]> {
    return this.list(environment, { liveOnly: true });
  }

  /** Failures the instances of an environment reported since `sinceMs` ago, by reason and version. */
  async failures(environment: Environment, sinceMs: number): Promise<FailureTotal[]> {
    const { rows } = await this.pool.query<{
      reason: DecryptFailureReason;
      version: number | null;
      count: number;
    }>(
      `SELECT "reason", "version", sum("count")::int AS count FROM "ClientFailure"
        WHERE "environment" = $1 AND "at" > ${nowUtc} - make_interval(secs => $2)
        GROUP BY 1, 2 ORDER BY 3 DESC`,
      [environment, sinceMs / 1000],
    );
    return rows;
  }
}

/** The versions an instance holds under another key than KeyOps's (a mismatched key), e.g. [2]. */
export function mismatchedVersions(
  instance: Pick<ClientInstanceInfo, "versions">,
  known: ReadonlyMap<number, string>,
): number[] {
  return instance.versions
    .filter((v) => known.has(v.version) && known.get(v.version) !== v.fingerprint)
    .map((v) => v.version);
}

const nowUtc = `(now() AT TIME ZONE 'UTC')`;

interface ClientInstanceRow {
  instanceId: string;
  environment: string;
  service: string;
  source: string;
  hostname: string;
  versions: { version: number; fingerprint: string }[];
  encryptsVersion: number | null;
  problems: string[] | null;
  startedAt: Date;
  lastSeenAt: Date;
  stoppedAt: Date | null;
  live: boolean;
  failuresLastHour: number;
}

function toInfo(row: ClientInstanceRow): ClientInstanceInfo {
  return {
    instanceId: row.instanceId,
    environment: row.environment as Environment,
    service: row.service,
    source: row.source === "keyring" ? "keyring" : "env",
    hostname: row.hostname,
    versions: row.versions,
    encryptsVersion: row.encryptsVersion,
    problems: row.problems ?? [],
    startedAt: row.startedAt,
    lastSeenAt: row.lastSeenAt,
    stoppedAt: row.stoppedAt,
    live: row.live,
    failuresLastHour: row.failuresLastHour,
  };
}
