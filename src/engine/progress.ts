import { setTimeout as sleep } from "node:timers/promises";

export interface Progress {
  /** handover: waiting until every live instance can read the new version; switchover: until all write it. */
  phase: "verify-before" | "handover" | "reencrypt" | "switchover" | "verify-after" | "verify";
  /** Rows, or for handover and switchover the instances that are ready. */
  done: number;
  total: number;
  /** Rows per second since the phase started. */
  rate: number;
  /** Seconds left at the current rate; null until there is a rate. */
  etaSeconds: number | null;
  /** What a waiting phase waits for, e.g. "api: 2 of 3 instances can read v4". */
  note?: string;
  /** What the operator can do about it, e.g. which variable to add. */
  advice?: string;
}

export type ProgressListener = (progress: Progress) => void;

/** Counts rows of one phase and turns them into progress events. */
export class ProgressMeter {
  private done = 0;
  /** Shown with every event until changed (e.g. what the adaptive rate limit is doing). */
  private standingNote: string | undefined;
  private readonly startedAt = performance.now();

  constructor(
    private readonly phase: Progress["phase"],
    private total: number,
    private readonly listener?: ProgressListener,
  ) {}

  add(rows: number): void {
    this.done += rows;
    if (this.done > this.total) this.total = this.done;
    this.listener?.(this.snapshot());
  }

  /** A progress event saying what the phase waits for (e.g. "waiting on 2 locked rows"). */
  notify(note: string): void {
    this.listener?.({ ...this.snapshot(), note });
  }

  /** A note every later event carries, until replaced (undefined: none). */
  setNote(note: string | undefined): void {
    this.standingNote = note;
  }

  snapshot(): Progress {
    const seconds = (performance.now() - this.startedAt) / 1000;
    const rate = seconds > 0 ? this.done / seconds : 0;
    const left = Math.max(0, this.total - this.done);
    return {
      phase: this.phase,
      done: this.done,
      total: this.total,
      rate: Math.round(rate),
      etaSeconds: rate > 0 ? Math.round(left / rate) : null,
      ...(this.standingNote ? { note: this.standingNote } : {}),
    };
  }
}

/** Paces a rotation's batches: `take` before writing a batch, `observe` once it is written. */
export interface Pacer {
  take(rows: number, signal?: AbortSignal): Promise<void>;
  observe(rows: number, writeMs: number): void;
}

/** Keeps a loop at or under `rowsPerSecond` so a rotation does not starve production traffic. */
export class RateLimiter implements Pacer {
  private rows = 0;
  private readonly startedAt = performance.now();

  constructor(private readonly rowsPerSecond: number | undefined) {}

  async take(rows: number, signal?: AbortSignal): Promise<void> {
    if (!this.rowsPerSecond) return;
    this.rows += rows;
    const dueMs = (this.rows / this.rowsPerSecond) * 1000;
    const waitMs = dueMs - (performance.now() - this.startedAt);
    if (waitMs > 0) await sleep(waitMs, undefined, { signal });
  }

  observe(): void {}
}

/**
 * `--max-rows-per-second auto`: full speed while the database keeps up, backing off when it slows.
 * The signal is the rotation's own batches: the time per row of each write, against the best the
 * run has seen. When the recent average (EWMA) is over 1.5x the best, the next batch waits for
 * `ratio - 1` times the last write's time (up to 4x), so the rotation's share of the database
 * falls as the application's load rises; the progress line says so.
 */
export class AdaptivePacer implements Pacer {
  private best = Number.POSITIVE_INFINITY;
  private recent: number | undefined;
  private pauseMs = 0;

  constructor(private readonly meter: { setNote(note: string | undefined): void }) {}

  observe(rows: number, writeMs: number): void {
    if (rows < 1) return;
    const perRow = writeMs / rows;
    this.best = Math.min(this.best, perRow);
    this.recent = this.recent === undefined ? perRow : 0.7 * this.recent + 0.3 * perRow;
    const ratio = this.recent / this.best;
    if (ratio > 1.5) {
      const factor = Math.min(4, ratio - 1);
      this.pauseMs = writeMs * factor;
      this.meter.setNote(
        `auto: backing off (the database is ${ratio.toFixed(1)}x slower than at its best; ` +
          `rotating at ${Math.round(100 / (1 + factor))}% speed)`,
      );
    } else {
      this.pauseMs = 0;
      this.meter.setNote(undefined);
    }
  }

  async take(_rows: number, signal?: AbortSignal): Promise<void> {
    if (this.pauseMs > 0) await sleep(this.pauseMs, undefined, { signal });
  }
}
