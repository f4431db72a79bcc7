import { createHash } from "node:crypto";
import { FAILED_IDS_REPORTED, type VerifyReport } from "./verify.js";

/** One target's part of an environment's verification. */
export interface TargetVerifyReport extends VerifyReport {
  /** The target's name (e.g. "PlatformIntegration.credentials"). */
  target: string;
}

/**
 * The environment's digest over its targets: with one target, that target's digest (so figures
 * stay comparable with single-target runs); with several, SHA-256 over `name\ndigest\n` by name.
 */
export function combinedDigest(parts: { target: string; digest: string }[]): string {
  if (parts.length === 1) return (parts[0] as { digest: string }).digest;
  const hash = createHash("sha256");
  for (const part of [...parts].sort((a, b) => (a.target < b.target ? -1 : 1))) {
    hash.update(`${part.target}\n${part.digest}\n`);
  }
  return hash.digest("hex");
}

/** Adds per-version row counts ("1": 10, ...). */
export function sumCounts(counts: Record<string, number>[]): Record<string, number> {
  const total: Record<string, number> = {};
  for (const c of counts) for (const [label, n] of Object.entries(c)) total[label] = (total[label] ?? 0) + n;
  return total;
}

/** An environment's verification as one report (rows, failures and counts summed), with each target's inside. */
export function combineVerifyReports(
  environment: string,
  activeVersion: number | null,
  targets: TargetVerifyReport[],
): VerifyReport & { targets: TargetVerifyReport[] } {
  const failedRowIds = targets
    .flatMap((t) => (targets.length === 1 ? t.failedRowIds : t.failedRowIds.map((id) => `${t.target}:${id}`)))
    .slice(0, FAILED_IDS_REPORTED);
  return {
    environment,
    rows: targets.reduce((sum, t) => sum + t.rows, 0),
    perVersion: sumCounts(targets.map((t) => t.perVersion)),
    activeVersion,
    notOnActive: targets.reduce((sum, t) => sum + t.notOnActive, 0),
    failed: targets.reduce((sum, t) => sum + t.failed, 0),
    failedPerVersion: sumCounts(targets.map((t) => t.failedPerVersion)),
    failedRowIds,
    plaintextDigest: combinedDigest(targets.map((t) => ({ target: t.target, digest: t.plaintextDigest }))),
    targets,
  };
}
