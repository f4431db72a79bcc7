import type { Progress } from "../engine/progress.js";

/** A progress event of the engine, or of other long CLI work under its own phase name. */
export type ProgressLine = Omit<Progress, "phase"> & { phase: string };

const PHASES: Record<string, string> = {
  "verify-before": "verify (before)",
  reencrypt: "re-encrypt",
  "verify-after": "verify (after)",
  verify: "verify",
};

export function formatDuration(seconds: number): string {
  if (seconds < 60) return `${Math.round(seconds)}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes}m${String(Math.round(seconds % 60)).padStart(2, "0")}s`;
  return `${Math.floor(minutes / 60)}h${String(minutes % 60).padStart(2, "0")}m`;
}

/** One line: phase, bar, done/total, rate and ETA. Pure, so it is tested as text. */
export function renderProgressLine(progress: ProgressLine, width = 30): string {
  const fraction = progress.total > 0 ? Math.min(1, progress.done / progress.total) : 1;
  const filled = Math.round(fraction * width);
  const bar = `${"█".repeat(filled)}${"░".repeat(width - filled)}`;
  const eta = progress.etaSeconds === null ? "" : `, ETA ${formatDuration(progress.etaSeconds)}`;
  const rate = progress.rate.toLocaleString("en-US");
  const counts = `${progress.done.toLocaleString("en-US")}/${progress.total.toLocaleString("en-US")}`;
  const note = progress.note ? ` · ${progress.note}` : "";
  return `${(PHASES[progress.phase] ?? progress.phase).padEnd(15)} ${bar} ${String(Math.floor(fraction * 100)).padStart(3)}% ${counts} rows, ${rate} rows/s${eta}${note}`;
}

/** Redraws the progress line on a terminal at most every `intervalMs`; silent elsewhere. */
export function createProgressBar(stream: NodeJS.WriteStream, intervalMs = 100) {
  let lastDraw = 0;
  let lastPhase: string | undefined;
  let drawn = false;
  const enabled = stream.isTTY === true;
  return {
    update(progress: ProgressLine) {
      if (!enabled) return;
      const now = performance.now();
      const phaseChanged = lastPhase !== undefined && lastPhase !== progress.phase;
      if (phaseChanged) stream.write("\n");
      if (!phaseChanged && now - lastDraw < intervalMs && progress.done < progress.total) return;
      lastDraw = now;
      lastPhase = progress.phase;
      drawn = true;
      stream.write(`\r${renderProgressLine(progress)}\x1b[K`);
    },
    finish() {
      if (enabled && drawn) stream.write("\n");
      drawn = false;
    },
  };
}
