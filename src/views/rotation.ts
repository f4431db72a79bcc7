import type { RotationFigures, RotationProgress } from "../workflows/types.js";
import { escapeText, humanDuration, thousands } from "./format.js";

const BAR_CELLS = 10;

const PHASE_LABELS: Record<string, string> = {
  "verify-before": "checking every row decrypts",
  handover: "hand-over",
  reencrypt: "re-encrypting",
  switchover: "switch-over",
  "verify-after": "verifying",
  verify: "verifying",
};

/** `▓▓▓▓▓░░░░░ 52% · production re-encrypting · 104,000 / 200,000 rows · 41,200 rows/s · ETA 3 s` */
export function progressLine(p: RotationProgress): string {
  const phase = PHASE_LABELS[p.phase] ?? escapeText(p.phase);
  // A waiting phase counts application instances, not rows: `⏳ production hand-over · api: 2 of 3 instances can read v4`.
  if (p.note !== undefined) {
    const advice = p.advice ? ` · ${escapeText(p.advice)}` : "";
    return `⏳ ${p.environment} ${phase} · ${escapeText(p.note)}${advice}`;
  }
  const eta = p.etaSeconds === null ? "" : ` · ETA ${humanDuration(p.etaSeconds * 1000)}`;
  return (
    `${progressBar(p.done, p.total)} · ${p.environment} ${phase} · ` +
    `${thousands(p.done)} / ${thousands(p.total)} rows · ${thousands(p.rowsPerSecond)} rows/s${eta}`
  );
}

/** `▓▓▓▓▓░░░░░ 52%` (in code style, so the cells line up). */
export function progressBar(done: number, total: number): string {
  const share = total > 0 ? Math.min(1, Math.max(0, done / total)) : 0;
  const filled = Math.round(share * BAR_CELLS);
  return `\`${"▓".repeat(filled)}${"░".repeat(BAR_CELLS - filled)}\` ${Math.floor(share * 100)}%`;
}

/** One environment's rotation as figures: `production · 200,000 rows · 200,000 re-encrypted · …`. */
export function figuresLine(r: RotationFigures): string {
  return [
    r.environment,
    `${thousands(r.rows)} rows`,
    `${thousands(r.reencrypted)} re-encrypted`,
    `${thousands(r.failed)} failed`,
    `${thousands(r.rowsPerSecond)} rows/s`,
    r.digestUnchanged || !r.applicationWrites
      ? `digest unchanged ${r.digestUnchanged ? "✓" : "✗"}`
      : `digest changed only by ${thousands(r.applicationWrites)} application writes`,
    `to v${r.toVersion} (${escapeText(r.toFingerprint)})`,
  ].join(" · ");
}

/** The closing summary's sentence for one environment's rotation. */
export function rotationSentence(r: RotationFigures): string {
  return (
    `Rotation ${r.environment}: ${thousands(r.reencrypted)} of ${thousands(r.rows)} rows to v${r.toVersion} ` +
    `(${escapeText(r.toFingerprint)}) in ${humanDuration(r.durationMs)}, ${thousands(r.rowsPerSecond)} rows/s, ` +
    `${thousands(r.failed)} failed, digest ${r.digestUnchanged ? "unchanged ✓" : r.applicationWrites ? `changed only by ${thousands(r.applicationWrites)} application writes` : "CHANGED ✗"}`
  );
}
