import { createHash } from "node:crypto";
import type pg from "pg";
import { ciphertextVersion } from "../crypto/ciphertext.js";
import type { Keyring } from "../crypto/keyring.js";
import { estimatedRows } from "./keyset-count.js";
import { type ProgressListener, ProgressMeter } from "./progress.js";
import { type DecryptedBatch, decryptCiphertexts } from "./reencrypt.js";
import type { BatchDecrypt } from "./reencrypt-workers.js";
import { PRINT_BYTES, type PrintSink } from "./row-prints.js";
import type { ResolvedTarget } from "./target.js";

export interface VerifyReport {
  environment: string;
  rows: number;
  /** Rows per key version that wrote them ("legacy" ciphertexts count under the legacy version). */
  perVersion: Record<string, number>;
  activeVersion: number | null;
  /** Rows that decrypt but are not yet under the active version. */
  notOnActive: number;
  failed: number;
  /**
   * Rows that do not decrypt, per the version their ciphertext names ("legacy" for the unversioned
   * format without a legacy version, "malformed" for a ciphertext that names none, or NULL).
   */
  failedPerVersion: Record<string, number>;
  /** The first ids of rows that do not decrypt (all of them up to the limit). */
  failedRowIds: string[];
  /**
   * Hex SHA-256 over the decryptable rows in ascending byte order of id of `id + "\n" + plaintext + "\n"`:
   * equal before and after a rotation when the rotation changed no secret.
   */
  plaintextDigest: string;
}

export const FAILED_IDS_REPORTED = 100;
const BATCH_SIZE = 2000;
/** Batches read and being decrypted ahead of the one being digested (bounds memory). */
const READ_AHEAD = 2;

type Row = { id: string; ciphertext: string | null };

/**
 * How verify walks the table in byte order of id: along the id's own index when that may be
 * byte order (a text or uuid id; the walk checks each id against the one before and gives up
 * when the collation orders otherwise), along an index on `(id::text COLLATE "C")` when there is
 * one, else by sorting the whole table in one statement (a cursor whose first FETCH sorts).
 * Index walks read keyset batches: every statement is short, whatever the table's size.
 */
type Walk = "id-index" | "byte-index" | "sort";

async function chooseWalk(client: pg.PoolClient, target: ResolvedTarget): Promise<Walk> {
  if (/^(text|character varying|character|uuid)\b/.test(target.idType)) return "id-index";
  const { rows: plan } = await client.query<{ "QUERY PLAN": unknown }>(
    `EXPLAIN (FORMAT JSON) SELECT 1 FROM ${target.sqlTable} AS t
      WHERE ${BYTE_KEY(target)} > '' ORDER BY ${BYTE_KEY(target)} LIMIT ${BATCH_SIZE}`,
  );
  const sorts = JSON.stringify(plan[0]?.["QUERY PLAN"] ?? "").includes('"Node Type":"Sort"');
  return sorts ? "sort" : "byte-index";
}

const BYTE_KEY = (target: ResolvedTarget) => `(t.${target.sqlId}::text COLLATE "C")`;

/** Sends the reads one after another on the snapshot's connection: each yields the next batch. */
async function batchReader(
  client: pg.PoolClient,
  target: ResolvedTarget,
  walk: Walk,
): Promise<() => Promise<Row[]>> {
  const columns = `t.${target.sqlId}::text AS id, t.${target.sqlCiphertext} AS ciphertext`;
  if (walk === "sort") {
    await client.query(
      `DECLARE keyops_verify NO SCROLL CURSOR FOR
         SELECT ${columns} FROM ${target.sqlTable} AS t ORDER BY ${BYTE_KEY(target)}`,
    );
    return async () => (await client.query<Row>(`FETCH ${BATCH_SIZE} FROM keyops_verify`)).rows;
  }
  const [key, after] =
    walk === "id-index"
      ? [`t.${target.sqlId}`, `$1::${target.idType}`]
      : [BYTE_KEY(target), `$1::text COLLATE "C"`];
  let last: string | null = null;
  return async () => {
    const { rows } = await client.query<Row>(
      `SELECT ${columns} FROM ${target.sqlTable} AS t
        WHERE ($1::text IS NULL OR ${key} > ${after})
        ORDER BY ${key} LIMIT ${BATCH_SIZE}`,
      [last],
    );
    last = rows.at(-1)?.id ?? last;
    return rows;
  };
}

/**
 * Decrypts every row in one consistent snapshot (REPEATABLE READ, batches in byte order of id)
 * and reports what each version holds, what fails, and the plaintext digest. Reading runs a few
 * batches ahead of the digest, and decryption goes to `decrypt` (the rotation's worker threads)
 * when given, so the database, the crypto and the digest work at the same time.
 */
export async function verifyTarget(
  pool: pg.Pool,
  keyring: Keyring,
  target: ResolvedTarget,
  onProgress?: ProgressListener,
  phase: "verify" | "verify-before" | "verify-after" = "verify",
  decrypt?: BatchDecrypt,
  /** Where the prints of the rows that decrypt go, batch by batch (src/engine/row-prints.ts). */
  prints?: { key: Buffer; sink: PrintSink },
): Promise<VerifyReport> {
  const client = await pool.connect();
  const crypto: BatchDecrypt =
    decrypt ??
    (async (ids, ciphertexts, withPrints) =>
      decryptCiphertexts(keyring, target, ids, ciphertexts, withPrints ? prints?.key : undefined));
  try {
    await client.query("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
    const total = await estimatedRows(client, target);
    const walk = await chooseWalk(client, target);
    const walkWith = async (how: Walk) =>
      digestRows(await batchReader(client, target, how), how === "id-index", keyring, crypto, {
        meter: new ProgressMeter(phase, total, onProgress),
        prints: prints?.sink,
      });
    // The id's collation turned out not to be byte order: the same snapshot, sorted.
    let report = await walkWith(walk);
    if (!report) {
      await prints?.sink.restart();
      report = await walkWith("sort");
    }
    await client.query("COMMIT");
    return report as VerifyReport;
  } catch (error) {
    await client.query("ROLLBACK").catch(() => undefined);
    throw error;
  } finally {
    client.release();
  }
}

/**
 * Digests the batches `read` yields, reading a few ahead while `decrypt` works on them. With
 * `checkOrder`, null as soon as an id does not follow the one before in byte order.
 */
async function digestRows(
  read: () => Promise<Row[]>,
  checkOrder: boolean,
  keyring: Keyring,
  decrypt: BatchDecrypt,
  { meter, prints }: { meter: ProgressMeter; prints?: PrintSink },
): Promise<VerifyReport | null> {
  type Decrypted = { rows: Row[]; decrypted: DecryptedBatch } | null;
  const queue: Promise<Decrypted>[] = [];
  let lastRead: Promise<unknown> = Promise.resolve();
  let exhausted = false;
  const enqueue = () => {
    const rows = lastRead.then(async () => {
      if (exhausted) return null;
      const batch = await read();
      if (batch.length < BATCH_SIZE) exhausted = true;
      return batch.length > 0 ? batch : null;
    });
    lastRead = rows.catch(() => null);
    const decrypted = rows.then(async (batch) =>
      batch
        ? {
            rows: batch,
            decrypted: await decrypt(
              batch.map((row) => row.id),
              batch.map((row) => row.ciphertext),
              prints !== undefined,
            ),
          }
        : null,
    );
    decrypted.catch(() => undefined); // awaited in order below; this only avoids an early unhandled rejection
    queue.push(decrypted);
  };
  try {
    for (let i = 0; i < READ_AHEAD; i++) enqueue();
    const digest = createHash("sha256");
    const perVersion: Record<string, number> = {};
    const failedRowIds: string[] = [];
    const failedPerVersion: Record<string, number> = {};
    let failed = 0;
    let rows = 0;
    let notOnActive = 0;
    let previous: Buffer | undefined;
    // The sink takes one batch at a time; the next batch is digested while it writes.
    let printed: Promise<void> = Promise.resolve();
    for (;;) {
      const next = await (queue.shift() as Promise<Decrypted>);
      if (!next) break;
      const { plaintexts, lengths } = next.decrypted;
      const printedIds: string[] = [];
      try {
        let offset = 0;
        for (const [i, row] of next.rows.entries()) {
          const id = Buffer.from(row.id);
          if (checkOrder && previous !== undefined && Buffer.compare(previous, id) >= 0) {
            await printed; // before the caller restarts the sink
            return null;
          }
          previous = id;
          rows++;
          const length = lengths[i] as number;
          if (length < 0) {
            failed++;
            if (failedRowIds.length < FAILED_IDS_REPORTED) failedRowIds.push(row.id);
            const named = row.ciphertext === null ? undefined : ciphertextVersion(row.ciphertext);
            const label =
              named === undefined ? "malformed" : String(named ?? keyring.legacyVersion ?? "legacy");
            failedPerVersion[label] = (failedPerVersion[label] ?? 0) + 1;
            continue;
          }
          // It decrypted, so the prefix names its version (or it is the legacy format).
          const version = ciphertextVersion(row.ciphertext ?? "") ?? keyring.legacyVersion;
          const label = String(version);
          perVersion[label] = (perVersion[label] ?? 0) + 1;
          if (version !== keyring.activeVersion) notOnActive++;
          digest.update(id);
          digest.update("\n");
          const plaintext = plaintexts.subarray(offset, offset + length);
          digest.update(plaintext);
          digest.update("\n");
          if (prints) printedIds.push(row.id);
          offset += length;
        }
      } finally {
        plaintexts.fill(0);
      }
      if (prints) {
        await printed;
        printed = prints.add({ ids: printedIds, prints: packPrints(next.decrypted, printedIds.length) });
        printed.catch(() => undefined); // awaited with the next batch or below
      }
      enqueue();
      meter.add(next.rows.length);
    }
    await printed;
    return {
      environment: keyring.environment,
      rows,
      perVersion,
      activeVersion: keyring.activeVersion,
      notOnActive,
      failed,
      failedPerVersion,
      failedRowIds,
      plaintextDigest: digest.digest("hex"),
    };
  } finally {
    // Reads still in flight end before the snapshot's transaction does (or the next walk starts).
    for (const pending of await Promise.allSettled(queue)) {
      if (pending.status === "fulfilled") pending.value?.decrypted.plaintexts.fill(0);
    }
  }
}

/** The prints of the rows that decrypted, in order, without the zeroed slots of those that did not. */
function packPrints({ lengths, prints }: DecryptedBatch, count: number): Uint8Array {
  if (!prints) throw new Error("the batch was decrypted without its prints");
  const packed = new Uint8Array(count * PRINT_BYTES);
  let n = 0;
  for (let i = 0; i < lengths.length; i++) {
    if ((lengths[i] as number) < 0) continue;
    packed.set(prints.subarray(i * PRINT_BYTES, (i + 1) * PRINT_BYTES), n * PRINT_BYTES);
    n++;
  }
  return packed;
}
