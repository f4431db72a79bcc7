import type { TargetVerifyReport } from "./combined-reports.js";
import type { KeyVersionInfo } from "./key-store.js";
import type { VerifyReport } from "./verify.js";

/** What KeyOps holds of a version a backup's rows need. */
export type HeldState =
  | "active"
  | "decrypt-only"
  | "pending"
  | "compromised"
  | "retired-within-retention"
  | "retired-retention-ended"
  | "destroyed"
  | "unknown";

export interface NeededVersion {
  /** "3"; "legacy" (the unversioned format, no legacy version held); "malformed" (names none, or NULL). */
  label: string;
  version: number | null;
  /** Rows of the copy under it, and how many of them did not decrypt. */
  rows: number;
  failed: number;
  state: HeldState;
  /** KeyOps still holds its key (wrapped), so the backup check can read its rows. */
  held: boolean;
  /** The live keyring decrypts it: restored rows under it are readable by the application too. */
  liveDecrypts: boolean;
  /** It was ever marked compromised: rows under it should be rotated once restored. */
  compromised: boolean;
  fingerprint: string | null;
  /** A retired version's retention end (yyyy-mm-dd): it may be destroyed from then on. */
  retainedUntil: string | null;
}

/**
 * A restored copy checked: every row of every target read from the copy and decrypted with every
 * version KeyOps still holds (retired ones included), per version what it needs and holds.
 */
export interface BackupCheckReport extends VerifyReport {
  targets: TargetVerifyReport[];
  /** Configured targets whose table the copy does not have (not checked). */
  missingTargets: string[];
  versions: NeededVersion[];
  /** Rows under a version the live keyring does not decrypt (retired, destroyed, unknown). */
  rowsLiveCannotRead: number;
}

/** Each version the copy's rows name, with what KeyOps holds of it. */
export function neededVersions(
  report: Pick<VerifyReport, "perVersion" | "failedPerVersion">,
  versions: KeyVersionInfo[],
  retentionEndsAt: (v: KeyVersionInfo) => Date | undefined,
  now: Date,
): NeededVersion[] {
  const labels = new Set([...Object.keys(report.perVersion), ...Object.keys(report.failedPerVersion)]);
  const needed = [...labels].map((label): NeededVersion => {
    const decrypted = report.perVersion[label] ?? 0;
    const failed = report.failedPerVersion[label] ?? 0;
    const number = /^\d+$/.test(label) ? Number(label) : null;
    const info = number === null ? undefined : versions.find((v) => v.version === number);
    const base = { label, version: number, rows: decrypted + failed, failed };
    if (!info) {
      return {
        ...base,
        state: "unknown",
        held: false,
        liveDecrypts: false,
        compromised: false,
        fingerprint: null,
        retainedUntil: null,
      };
    }
    const ends = retentionEndsAt(info);
    const state: HeldState =
      info.state === "RETIRED"
        ? ends && now < ends
          ? "retired-within-retention"
          : "retired-retention-ended"
        : (info.state.toLowerCase().replace("_", "-") as HeldState);
    return {
      ...base,
      state,
      held: info.state !== "DESTROYED",
      liveDecrypts: ["ACTIVE", "DECRYPT_ONLY", "PENDING", "COMPROMISED"].includes(info.state),
      compromised: info.state === "COMPROMISED" || info.compromisedAt !== null,
      fingerprint: info.fingerprint,
      retainedUntil: ends ? ends.toISOString().slice(0, 10) : null,
    };
  });
  return needed.sort(
    (a, b) => (a.version ?? Number.MAX_SAFE_INTEGER) - (b.version ?? Number.MAX_SAFE_INTEGER),
  );
}

/** "v1 retired-within-retention (held until 2027-12-02), 40 rows" and the like. */
export function describeNeededVersion(v: NeededVersion): string {
  const name = v.version === null ? v.label : `v${v.version}`;
  const what =
    v.state === "retired-within-retention"
      ? `retired, held until ${v.retainedUntil}`
      : v.state === "retired-retention-ended"
        ? `retired, retention ended ${v.retainedUntil} (still held, not destroyed)`
        : v.state === "destroyed"
          ? "destroyed: its key was erased"
          : v.state === "unknown"
            ? "unknown to KeyOps"
            : v.state;
  const fingerprint = v.fingerprint ? `, fingerprint ${v.fingerprint}` : "";
  const failed = v.failed > 0 ? `, ${v.failed} do not decrypt` : "";
  const compromised = v.compromised && v.state !== "compromised" ? ", was compromised" : "";
  return `${name} (${what}${fingerprint}${compromised}): ${v.rows} ${v.rows === 1 ? "row" : "rows"}${failed}`;
}
