import os from "node:os";
import { Worker } from "node:worker_threads";
import type { Keyring } from "../crypto/keyring.js";
import { type DecryptedBatch, type ReencryptedBatch, type StoredRow, toBatch } from "./reencrypt.js";
import type { Target } from "./target.js";

/** What a worker needs to build the same keyring: raw key bytes travel only over the in-process channel. */
export interface WorkerKeyring {
  environment: string;
  versions: { version: number; state: string; legacy: boolean; key: Uint8Array }[];
}

export type WorkerRequest =
  | { op: "reencrypt"; id: number; target: Target; ids: string[]; ciphertexts: string[] }
  | {
      op: "decrypt";
      id: number;
      target: Target;
      ids: string[];
      ciphertexts: (string | null)[];
      prints: boolean;
    }
  | { op: "keyring"; keyring: WorkerKeyring };

type WorkerReply = { id: number; error?: string; ciphertexts?: string[] } & Partial<DecryptedBatch>;

export type BatchTransform = (rows: StoredRow[]) => Promise<ReencryptedBatch>;
/** Decryption of a batch, with each row's print when `prints` (row-prints.ts). */
export type BatchDecrypt = (
  ids: string[],
  ciphertexts: (string | null)[],
  prints: boolean,
) => Promise<DecryptedBatch>;

/** What a worker starts with: the keyring, and the row-print key (row-prints.ts). */
export interface WorkerData {
  keyring: WorkerKeyring;
  printKey: Uint8Array;
}

/** How many crypto threads a rotation uses: all cores but the one the event loop and I/O need. */
export function defaultWorkerCount(): number {
  return Math.max(1, Math.min(4, os.availableParallelism() - 1));
}

function workerKeyring(keyring: Keyring): WorkerKeyring {
  return {
    environment: keyring.environment,
    versions: keyring.versions.map((v) => ({
      version: v.version,
      state: v.state,
      legacy: v.legacy,
      key: new Uint8Array(v.key.exposeBytes()),
    })),
  };
}

/**
 * Crypto spread over worker threads, so AES runs beside the database I/O of the main thread
 * instead of between it: re-encryption (`reencryptRows`) and verification's decryption, for any
 * target of the environment (`for(target)`). Each worker holds the same keyring; `useKeyring`
 * replaces it (a rotation's keyring gains the new version between verify-before and re-encryption).
 */
export class ReencryptWorkers {
  private readonly pending = new Map<
    number,
    { resolve(reply: WorkerReply): void; reject(error: Error): void }
  >();
  private nextId = 0;
  private turn = 0;
  private failure: Error | undefined;

  private constructor(private readonly workers: Worker[]) {
    for (const worker of workers) {
      worker.on("message", (message: WorkerReply) => {
        const waiter = this.pending.get(message.id);
        this.pending.delete(message.id);
        if (message.error === undefined) waiter?.resolve(message);
        else waiter?.reject(new Error(`crypto worker failed: ${message.error}`));
      });
      worker.on("error", (error) => this.fail(error));
      worker.on("exit", (code) => {
        if (code !== 0) this.fail(new Error(`crypto worker exited with code ${code}`));
      });
    }
  }

  static start(keyring: Keyring, printKey: Buffer, count = defaultWorkerCount()): ReencryptWorkers {
    const entry = new URL("./reencrypt-worker.mjs", import.meta.url);
    return new ReencryptWorkers(
      Array.from(
        { length: count },
        () =>
          new Worker(entry, {
            workerData: {
              keyring: workerKeyring(keyring),
              printKey: new Uint8Array(printKey),
            } satisfies WorkerData,
          }),
      ),
    );
  }

  get size(): number {
    return this.workers.length;
  }

  /** Every later request uses `keyring` (messages to a worker are handled in order). */
  useKeyring(keyring: Keyring): void {
    for (const worker of this.workers) {
      worker.postMessage({ op: "keyring", keyring: workerKeyring(keyring) } satisfies WorkerRequest);
    }
  }

  /** The crypto of one target: re-encryption for the rotation, decryption for verify. */
  for(target: Target): { transform: BatchTransform; decrypt: BatchDecrypt } {
    return {
      transform: async (rows) => {
        const reply = await this.request({
          op: "reencrypt",
          id: this.nextId++,
          target,
          ids: rows.map((row) => row.id),
          ciphertexts: rows.map((row) => row.ciphertext),
        });
        return toBatch(rows, reply.ciphertexts ?? []);
      },
      decrypt: async (ids, ciphertexts, prints) => {
        const reply = await this.request({
          op: "decrypt",
          id: this.nextId++,
          target,
          ids,
          ciphertexts,
          prints,
        });
        return {
          plaintexts: reply.plaintexts as Uint8Array,
          lengths: reply.lengths as Int32Array,
          ...(reply.prints ? { prints: reply.prints } : {}),
        };
      },
    };
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((worker) => worker.terminate()));
  }

  private request(message: Exclude<WorkerRequest, { op: "keyring" }>): Promise<WorkerReply> {
    if (this.failure) return Promise.reject(this.failure);
    const worker = this.workers[this.turn++ % this.workers.length] as Worker;
    return new Promise<WorkerReply>((resolve, reject) => {
      this.pending.set(message.id, { resolve, reject });
      worker.postMessage(message);
    });
  }

  private fail(error: Error): void {
    this.failure ??= error;
    for (const waiter of this.pending.values()) waiter.reject(error);
    this.pending.clear();
  }
}
