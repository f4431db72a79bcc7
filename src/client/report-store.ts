import type pg from "pg";
import type { ClientReport, ReportAnswer } from "./report.js";

/** A pg Pool or Client: anything that runs a query. */
export interface Queryable {
  query<R extends pg.QueryResultRow>(text: string, values?: unknown[]): Promise<pg.QueryResult<R>>;
}

/**
 * Stores one report in the KeyOps database (the instance's row, and its failure counts) and
 * answers with the environment's active version and fingerprints. The one way reports are
 * written: keyring clients call it on their own connection, the HTTP route for env clients.
 * Times are the database's (in UTC, as Prisma stores them), so clocks of instances do not matter.
 */
export async function recordClientReport(db: Queryable, report: ClientReport): Promise<ReportAnswer> {
  await db.query(
    `WITH instance AS (
       INSERT INTO "ClientInstance" ("instanceId", "environment", "service", "source", "hostname", "pid",
                                     "versions", "encryptsVersion", "problems", "startedAt", "lastSeenAt", "stoppedAt")
       VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8, $9::text[], $10, (now() AT TIME ZONE 'UTC'), CASE WHEN $11 THEN (now() AT TIME ZONE 'UTC') END)
       ON CONFLICT ("instanceId") DO UPDATE SET
         "environment" = EXCLUDED."environment", "service" = EXCLUDED."service", "source" = EXCLUDED."source",
         "hostname" = EXCLUDED."hostname", "pid" = EXCLUDED."pid", "versions" = EXCLUDED."versions",
         "encryptsVersion" = EXCLUDED."encryptsVersion", "problems" = EXCLUDED."problems",
         "startedAt" = EXCLUDED."startedAt", "lastSeenAt" = EXCLUDED."lastSeenAt",
         -- a report overtaken by the goodbye does not bring a stopped instance back; a restart does
         "stoppedAt" = CASE WHEN "ClientInstance"."startedAt" = EXCLUDED."startedAt"
                            THEN COALESCE("ClientInstance"."stoppedAt", EXCLUDED."stoppedAt")
                            ELSE EXCLUDED."stoppedAt" END
       RETURNING "instanceId"
     )
     INSERT INTO "ClientFailure" ("instanceId", "environment", "at", "reason", "version", "count")
     SELECT (SELECT "instanceId" FROM instance), $2, (now() AT TIME ZONE 'UTC'), f.reason, f.version, f.count
       FROM jsonb_to_recordset($12::jsonb) AS f(reason text, version int, count int)`,
    [
      report.instanceId,
      report.environment,
      report.service,
      report.source,
      report.hostname,
      report.pid,
      JSON.stringify(report.versions),
      report.encryptsVersion,
      report.problems,
      report.startedAt,
      report.stopping,
      JSON.stringify(report.failures),
    ],
  );
  const { rows } = await db.query<{ version: number; fingerprint: string; state: string }>(
    `SELECT "version", "fingerprint", "state"::text AS state FROM "KeyVersion"
      WHERE "environment" = $1 AND "state"::text NOT IN ('RETIRED', 'LOST', 'DESTROYED') ORDER BY "version"`,
    [report.environment],
  );
  return {
    activeVersion: rows.find((row) => row.state === "ACTIVE")?.version ?? null,
    versions: rows.map((row) => ({ version: row.version, fingerprint: row.fingerprint })),
  };
}
