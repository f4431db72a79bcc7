import os from "node:os";
import { Worker } from "node:worker_threads";
import type { Keyring } from "../crypto/keyring.js";
import { type ReencryptedBatch, type StoredRow, toBatch } from "./reencrypt.js";
import type { Target } from "./target.js";

/** What a worker needs to build the same keyring: raw key bytes travel only over the in-process channel. */
export interface WorkerKeyring {
  environment: string;
  target: Target;
  versions: { version: number; state: string; legacy: boolean; key: Uint8Array }[];
}

export type BatchTransform = (rows: StoredRow[]) => Promise<ReencryptedBatch>;

/** How many crypto threads a rotation uses: all cores but the one the event loop and I/O need. */
export function defaultWorkerCount(): number {
  return Math.max(1, Math.min(4, os.availableParallelism() - 1));
}

/**
 * Re-encryption spread over worker threads, so AES runs beside the database I/O of the main
 * thread instead of between it. Each worker holds the same keyring and runs `reencryptRows`.
 */
export class ReencryptWorkers {
  private readonly pending = new Map<
    number,
    { resolve(ciphertexts: string[]): void; reject(error: Error): void }
  >();
  private nextId = 0;
  private turn = 0;
  private failure: Error | undefined;

  private constructor(private readonly workers: Worker[]) {
    for (const worker of workers) {
      worker.on("message", (message: { id: number; ciphertexts?: string[]; error?: string }) => {
        const waiter = this.pending.get(message.id);
        this.pending.delete(message.id);
        if (message.ciphertexts) waiter?.resolve(message.ciphertexts);
        else waiter?.reject(new Error(`re-encryption worker failed: ${message.error}`));
      });
      worker.on("error", (error) => this.fail(error));
      worker.on("exit", (code) => {
        if (code !== 0) this.fail(new Error(`re-encryption worker exited with code ${code}`));
      });
    }
  }

  static start(keyring: Keyring, target: Target, count = defaultWorkerCount()): ReencryptWorkers {
    const workerData: WorkerKeyring = {
      environment: keyring.environment,
      target,
      versions: keyring.versions.map((v) => ({
        version: v.version,
        state: v.state,
        legacy: v.legacy,
        key: new Uint8Array(v.key.exposeBytes()),
      })),
    };
    const entry = new URL("./reencrypt-worker.mjs", import.meta.url);
    return new ReencryptWorkers(Array.from({ length: count }, () => new Worker(entry, { workerData })));
  }

  readonly transform: BatchTransform = (rows) => {
    if (this.failure) return Promise.reject(this.failure);
    const id = this.nextId++;
    const worker = this.workers[this.turn++ % this.workers.length] as Worker;
    const ids = rows.map((row) => row.id);
    const ciphertexts = rows.map((row) => row.ciphertext);
    return new Promise<string[]>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      worker.postMessage({ id, ids, ciphertexts });
    }).then((reencrypted) => toBatch(rows, reencrypted));
  };

  async close(): Promise<void> {
    await Promise.all(this.workers.map((worker) => worker.terminate()));
  }

  private fail(error: Error): void {
    this.failure ??= error;
    for (const waiter of this.pending.values()) waiter.reject(error);
    this.pending.clear();
  }
}
