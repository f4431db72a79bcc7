import type { TargetVerifyReport } from "../../engine/combined-reports.js";
import type { RotationReport, TargetRotationReport } from "../../engine/engine.js";
import { reencryptedWords } from "../../engine/figures.js";
import { FAILED_IDS_REPORTED, type VerifyReport } from "../../engine/verify.js";
import { parsePositiveInteger } from "../args.js";
import { type Command, print, progressOf } from "../command.js";

function failedIdsLine(failed: number, ids: string[]): string {
  const more = failed > ids.length ? ` and ${failed - ids.length} more` : "";
  return `  rows that do not decrypt under any known version (left unchanged): ${ids.join(", ")}${more}`;
}

export function renderVerifyReport(report: VerifyReport & { targets?: TargetVerifyReport[] }): string {
  const versions = Object.entries(report.perVersion)
    .map(([version, rows]) => `v${version}: ${rows}`)
    .join(", ");
  const lines = [
    `${report.environment}: ${report.rows} rows, ${report.failed === 0 ? "all decrypt" : `${report.failed} FAIL to decrypt`}`,
    `  per version: ${versions || "none"} (active: ${report.activeVersion === null ? "none" : `v${report.activeVersion}`})`,
    `  plaintext digest: ${report.plaintextDigest}`,
  ];
  if (report.failed > 0) lines.push(failedIdsLine(report.failed, report.failedRowIds));
  if ((report.targets?.length ?? 0) > 1) {
    for (const t of report.targets ?? []) {
      lines.push(`  ${t.target}: ${t.rows} rows, ${t.failed} fail to decrypt, digest ${t.plaintextDigest}`);
    }
  }
  return lines.join("\n");
}

/** Unchanged; changed only by rows the application wrote (the row prints say so); or CHANGED, and why. */
function digestPhrase(r: TargetRotationReport): string {
  if (r.digestUnchanged) return "unchanged";
  if (r.changedWithoutApplicationWrite === 0)
    return (
      `changed only by ${r.applicationWrites ?? 0} rows the application wrote during the run ` +
      "(every other row holds the secret it held before, row by row)"
    );
  if (r.changedWithoutApplicationWrite)
    return `CHANGED: ${r.changedWithoutApplicationWrite} rows changed without an application write`;
  return "CHANGED (rows were written during the run, or some did not decrypt before)";
}

export function renderRotationReport(report: RotationReport): string {
  const lines = [
    `rotation run #${report.runId} of ${report.environment} ${report.status === "SUCCEEDED" ? "succeeded" : "FAILED: some rows were not rotated"}${report.resumed ? " (resumed)" : ""}`,
    `  now encrypting with v${report.toVersion} (${report.toFingerprint}); ${report.target}: ${report.rows} rows`,
    `  ${reencryptedWords(report.reencrypted, report.rows)} (${report.rowsPerSecond.toLocaleString("en-US")} rows/s); ` +
      `whole run with verification ${(report.durationMs / 1000).toFixed(1)}s` +
      (report.conflicts > 0 ? `, ${report.conflicts} concurrent writes kept (compare-and-swap)` : ""),
    `  plaintext digest ${digestPhrase(report)}: ${report.digestAfter}`,
  ];
  if (report.failed > 0) lines.push(failedIdsLine(report.failed, report.failedRowIds));
  if (report.targets.length > 1) {
    for (const t of report.targets) {
      lines.push(
        `  ${t.target} (run #${t.runId}): ${reencryptedWords(t.reencrypted, t.rows)}, ${t.failed} failed, ` +
          `digest ${digestPhrase(t)}`,
      );
    }
  }
  if (report.notOnActive > report.failed) {
    lines.push(
      `  ${report.notOnActive} rows are still under an older version (written by a client with an old key?)`,
    );
  }
  return lines.join("\n");
}

export const rotate: Command = {
  path: ["rotate"],
  usage: "keyops rotate [--env E] [--batch-size N] [--max-rows-per-second R|auto] [--no-generate] [--json]",
  summary: "new key version, activate, re-encrypt every row, verify (resumes an interrupted run)",
  options: {
    "batch-size": { type: "string" },
    "max-rows-per-second": { type: "string" },
    "no-generate": { type: "boolean" },
  },
  async run(context) {
    const batch = context.values["batch-size"];
    const rate = context.values["max-rows-per-second"];
    const batchSize =
      typeof batch === "string" ? parsePositiveInteger(batch, "--batch-size", 50_000) : undefined;
    const maxRowsPerSecond =
      rate === "auto"
        ? "auto"
        : typeof rate === "string"
          ? parsePositiveInteger(rate, "--max-rows-per-second")
          : undefined;
    const { engine } = await context.runtime();
    const bar = progressOf(context);
    try {
      const report = await engine.rotate(context.environment, {
        generate: context.values["no-generate"] !== true,
        batchSize,
        maxRowsPerSecond,
        requestedBy: `cli:${process.env.USER ?? "unknown"}`,
        onProgress: bar.update,
        signal: context.signal,
      });
      bar.finish();
      print(context, report, renderRotationReport(report));
      return report.status === "SUCCEEDED" ? 0 : 1;
    } finally {
      bar.finish();
    }
  },
};

export const verify: Command = {
  path: ["verify"],
  usage: "keyops verify [--env E] [--json]",
  summary: "decrypt every row; counts per version, failures, plaintext digest (exit 1 on any failure)",
  async run(context) {
    const bar = progressOf(context);
    const report = await (await context.runtime()).engine.verify(context.environment, bar.update);
    bar.finish();
    print(context, { ...report, failedRowIdsLimit: FAILED_IDS_REPORTED }, renderVerifyReport(report));
    return report.failed === 0 ? 0 : 1;
  },
};
