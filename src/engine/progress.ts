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
    };
  }
}

/** Keeps a loop at or under `rowsPerSecond` so a rotation does not starve production traffic. */
export class RateLimiter {
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
}
