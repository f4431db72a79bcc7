import pg from "pg";
import { describeConnectionUrl, parseConnectionUrl, withoutPassword } from "../../db/connection-url.js";
import { classifyFault, guardPool } from "../../db/faults.js";
import { type BackupCheckReport, describeNeededVersion } from "../../engine/backup-check.js";
import { FAILED_IDS_REPORTED } from "../../engine/verify.js";
import { UserError } from "../../errors.js";
import { silentLogger } from "../../logger.js";
import { type Command, print, progressOf } from "../command.js";

/** Row ids of unreadable rows named in the human output (all of them, up to 100, in --json). */
const IDS_SHOWN = 10;

/** A database fault of the restored copy (not of KeyOps' own database): exit 75, one line. */
class CopyUnreachableError extends UserError {
  override name = "CopyUnreachableError";
  constructor(message: string) {
    super(message, 75);
  }
}

export function renderBackupCheck(report: BackupCheckReport, copy: string): string {
  const unreadable = report.versions.filter((v) => v.failed > 0);
  const head =
    report.failed === 0
      ? "all decrypt"
      : `${report.failed} CANNOT be read (${unreadable.map((v) => `${v.version === null ? v.label : `v${v.version}`}: ${v.failed}`).join(", ")})`;
  const lines = [
    `${report.environment} backup check of ${copy}: ${report.rows} rows, ${head}`,
    "  versions the copy's rows need:",
    ...(report.versions.length === 0
      ? ["    none (no rows)"]
      : report.versions.map((v) => `    ${describeNeededVersion(v)}`)),
    `  plaintext digest: ${report.plaintextDigest}`,
  ];
  if (report.failed > 0) {
    const ids = report.failedRowIds.slice(0, IDS_SHOWN);
    const more = report.failed > ids.length ? ` and ${report.failed - ids.length} more` : "";
    lines.push(`  first rows that cannot be read: ${ids.join(", ")}${more}`);
  }
  const notLive = report.versions.filter((v) => v.held && !v.liveDecrypts);
  if (notLive.length > 0) {
    lines.push(
      `  ${notLive.reduce((sum, v) => sum + v.rows, 0)} rows are under ${notLive.map((v) => `v${v.version}`).join(", ")}, ` +
        "which KeyOps holds for this check but the live keyring does not decrypt: once restored, the application cannot read them",
    );
  }
  const compromised = report.versions.filter((v) => v.compromised && v.rows > 0);
  if (compromised.length > 0) {
    lines.push(
      `  ${compromised.map((v) => `v${v.version}`).join(", ")} ${compromised.length === 1 ? "was" : "were"} compromised: ` +
        `rotate after restoring (keyops rotate --env ${report.environment})`,
    );
  }
  if (report.missingTargets.length > 0) {
    lines.push(`  not in the copy (not checked): ${report.missingTargets.join(", ")}`);
  }
  if (report.targets.length > 1) {
    for (const t of report.targets) {
      lines.push(`  ${t.target}: ${t.rows} rows, ${t.failed} cannot be read, digest ${t.plaintextDigest}`);
    }
  }
  return lines.join("\n");
}

/**
 * `keyops backup check`: a restored copy of the application's database (its tables, the
 * configured targets) read from --database-url and decrypted with every version KeyOps still
 * holds; KeyOps' own database and keyring stay the live ones. The URL's password is never shown.
 */
export const backupCheck: Command = {
  path: ["backup", "check"],
  usage: "keyops backup check --database-url URL [--env E] [--json]",
  summary:
    "read a restored backup's rows: versions they need, whether KeyOps holds each, every row decrypts (exit 1 if not)",
  options: { "database-url": { type: "string" } },
  async run(context) {
    const url = parseConnectionUrl(context.values["database-url"] as string | undefined, "--database-url");
    const shown = describeConnectionUrl(url);
    const pool = guardPool(
      new pg.Pool({
        connectionString: url.toString(),
        max: 3,
        connectionTimeoutMillis: 10_000,
        application_name: "keyops backup check",
      }),
      silentLogger,
      "restored copy",
    );
    try {
      try {
        await pool.query("SELECT 1");
      } catch (error) {
        const fault = classifyFault(error);
        const detail = withoutPassword(
          fault?.detail ?? oneLine((error as Error).message ?? String(error)),
          url,
        );
        throw new CopyUnreachableError(
          `cannot reach the restored copy at ${shown} (${detail}); check the URL and that it is up`,
        );
      }
      const { engine } = await context.runtime();
      const bar = progressOf(context);
      let report: BackupCheckReport;
      try {
        report = await engine.checkBackup(context.environment, pool, bar.update);
      } finally {
        bar.finish();
      }
      print(
        context,
        { ...report, copy: shown, failedRowIdsLimit: FAILED_IDS_REPORTED },
        renderBackupCheck(report, shown),
      );
      return report.failed === 0 ? 0 : 1;
    } catch (error) {
      // Whatever the copy's server said, the password is not repeated.
      if (error instanceof Error) error.message = withoutPassword(error.message, url);
      throw error;
    } finally {
      await pool.end().catch(() => undefined);
    }
  },
};

function oneLine(text: string): string {
  const first = text.split("\n").find((l) => l.trim() !== "") ?? "";
  return first.length > 200 ? `${first.slice(0, 197)}...` : first;
}
