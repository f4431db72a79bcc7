import { createHmac, randomUUID } from "node:crypto";
import type pg from "pg";
import { quoteIdent, type ResolvedTarget } from "./target.js";

/**
 * Row prints: the proof that a rotation changed no secret, row by row, while the application
 * writes. When a run starts, its first verify records for each row the first 16 bytes of
 * HMAC-SHA256(id, "\n", plaintext) under a key derived from the master key (KeyStore.rowPrintKey).
 * Later, every row whose print differs must have been written by the application since the run
 * started (its writtenAtColumn says so); any other difference is a secret that changed without
 * the application writing it, and verify says which rows.
 * Keyed, because a credential may be guessable (a short password): a plain hash in the KeyOps
 * database would let whoever reads it test guesses offline; without the master key a print says
 * nothing about its plaintext.
 *
 * Prints travel as pages, one per verify batch, in the byte order of id that verify reads in:
 * recording writes each page as it comes, comparing merges the pages with the rows read now.
 * Neither holds more than a page or two, whatever the table's size.
 */
export const PRINT_BYTES = 16;

export function rowPrint(key: Buffer, id: string, plaintext: Uint8Array): Buffer {
  return createHmac("sha256", key)
    .update(id)
    .update("\n")
    .update(plaintext)
    .digest()
    .subarray(0, PRINT_BYTES);
}

/** One verify batch's rows that decrypt, in byte order of id, with their prints (PRINT_BYTES each). */
export interface PrintedRows {
  ids: string[];
  prints: Uint8Array;
}

/** Where verify sends each batch's prints (it awaits the one before sending the next). */
export interface PrintSink {
  add(rows: PrintedRows): Promise<void>;
  /** Verify's walk starts over (another order): forget what was sent. */
  restart(): Promise<void>;
}

/** A page: per row, the id's utf8 length (uint16), the id, its print. */
function encodePage({ ids, prints }: PrintedRows): Buffer {
  const encoded = ids.map((id) => Buffer.from(id, "utf8"));
  const page = Buffer.alloc(encoded.reduce((sum, id) => sum + 2 + id.length + PRINT_BYTES, 0));
  let offset = 0;
  encoded.forEach((id, i) => {
    offset = page.writeUInt16BE(id.length, offset);
    offset += id.copy(page, offset);
    page.set(prints.subarray(i * PRINT_BYTES, (i + 1) * PRINT_BYTES), offset);
    offset += PRINT_BYTES;
  });
  return page;
}

interface PageRow {
  id: Buffer;
  print: Buffer;
}

function decodePage(page: Buffer): PageRow[] {
  const rows: PageRow[] = [];
  for (let offset = 0; offset < page.length; ) {
    const length = page.readUInt16BE(offset);
    offset += 2;
    const id = page.subarray(offset, offset + length);
    offset += length;
    rows.push({ id, print: page.subarray(offset, offset + PRINT_BYTES) });
    offset += PRINT_BYTES;
  }
  return rows;
}

/** A new print set's name: the prints of one verify, later attached to the run it started. */
export const newPrintSet = (): string => randomUUID();

/** Writes a verify's prints as pages of `printSet` in the KeyOps database. */
export class PrintRecorder implements PrintSink {
  private page = 0;
  constructor(
    private readonly pool: pg.Pool,
    readonly printSet: string,
  ) {}

  async add(rows: PrintedRows): Promise<void> {
    if (rows.ids.length === 0) return;
    await this.pool.query(
      `INSERT INTO "RotationPrintPage" ("printSet", "page", "rows", "prints") VALUES ($1, $2, $3, $4)`,
      [this.printSet, this.page++, rows.ids.length, encodePage(rows)],
    );
  }

  async restart(): Promise<void> {
    await discardPrintSet(this.pool, this.printSet);
    this.page = 0;
  }
}

export async function discardPrintSet(pool: pg.Pool, printSet: string): Promise<void> {
  await pool.query(`DELETE FROM "RotationPrintPage" WHERE "printSet" = $1`, [printSet]);
}

/**
 * Print sets no run names (a verify-before whose run never started: refused, or its process
 * died), older than a day: a rotation starting now cannot be using them.
 */
export async function discardOrphanPrintSets(pool: pg.Pool): Promise<void> {
  await pool.query(
    `DELETE FROM "RotationPrintPage" p
      WHERE p."createdAt" < now() - interval '1 day'
        AND NOT EXISTS (SELECT 1 FROM "RotationRun" r WHERE r."printSet" = p."printSet")`,
  );
}

export interface PrintComparison {
  /** Rows whose secret differs from the run's start (or that were added or removed). */
  changed: number;
  /** Of those, the ones the application wrote since the run started (writtenAtColumn). */
  byApplication: number;
  /** The rest: secrets that changed without the application writing them. */
  unexplained: number;
  unexplainedIds: string[];
}

const IDS_REPORTED = 20;
/** Changed rows are asked about (written by the application?) this many at a time. */
const CHANGED_CHUNK = 5000;

/**
 * Compares the rows verify reads now with the prints of a run's start: a merge of two sequences
 * in byte order of id (the pages, read one ahead; the batches as verify sends them). Rows that
 * differ, appeared or went away are checked against the application's writes in chunks.
 */
export class PrintComparer implements PrintSink {
  private pages!: AsyncIterator<PageRow[]>;
  private before: PageRow[] = [];
  private at = 0;
  private pending: string[] = [];
  private result!: PrintComparison;

  constructor(
    private readonly runs: pg.Pool,
    private readonly targetPool: pg.Pool,
    private readonly target: ResolvedTarget,
    private readonly printSet: string,
    private readonly since: Date,
  ) {
    this.reset();
  }

  private reset(): void {
    this.pages = readPages(this.runs, this.printSet);
    this.before = [];
    this.at = 0;
    this.pending = [];
    this.result = { changed: 0, byApplication: 0, unexplained: 0, unexplainedIds: [] };
  }

  async restart(): Promise<void> {
    await this.pages.return?.();
    this.reset();
  }

  async add({ ids, prints }: PrintedRows): Promise<void> {
    for (const [i, id] of ids.entries()) {
      const key = Buffer.from(id, "utf8");
      const print = prints.subarray(i * PRINT_BYTES, (i + 1) * PRINT_BYTES);
      for (;;) {
        const was = await this.peek();
        const order = was ? Buffer.compare(was.id, key) : 1;
        if (order < 0) {
          this.changed(was?.id.toString("utf8") as string); // gone since the start (or no longer decrypts)
          this.at++;
          continue;
        }
        if (order === 0) {
          if (!(was as PageRow).print.equals(print)) this.changed(id);
          this.at++;
        } else {
          this.changed(id); // not there at the start
        }
        break;
      }
      if (this.pending.length >= CHANGED_CHUNK) await this.checkPending();
    }
  }

  /** The comparison, once verify has sent every batch. */
  async finish(): Promise<PrintComparison> {
    for (let was = await this.peek(); was; was = await this.peek()) {
      this.changed(was.id.toString("utf8"));
      this.at++;
      if (this.pending.length >= CHANGED_CHUNK) await this.checkPending();
    }
    await this.checkPending();
    return this.result;
  }

  private changed(id: string): void {
    this.result.changed++;
    this.pending.push(id);
  }

  private async peek(): Promise<PageRow | undefined> {
    while (this.at >= this.before.length) {
      const next = await this.pages.next();
      if (next.done) return undefined;
      this.before = next.value;
      this.at = 0;
    }
    return this.before[this.at];
  }

  private async checkPending(): Promise<void> {
    if (this.pending.length === 0) return;
    const ids = this.pending;
    this.pending = [];
    const written = await writtenSince(this.targetPool, this.target, ids, this.since);
    for (const id of ids) {
      if (written.has(id)) {
        this.result.byApplication++;
        continue;
      }
      this.result.unexplained++;
      if (this.result.unexplainedIds.length < IDS_REPORTED) this.result.unexplainedIds.push(id);
    }
  }
}

/** The set's pages in order, the next one read while the one before is merged. */
async function* readPages(pool: pg.Pool, printSet: string): AsyncGenerator<PageRow[]> {
  const read = (page: number) =>
    pool.query<{ prints: Buffer }>(
      `SELECT "prints" FROM "RotationPrintPage" WHERE "printSet" = $1 AND "page" = $2`,
      [printSet, page],
    );
  let next = read(0);
  for (let page = 0; ; page++) {
    const { rows } = await next;
    const found = rows[0];
    if (!found) return;
    next = read(page + 1);
    next.catch(() => undefined); // awaited on the next turn; this only avoids an early unhandled rejection
    yield decodePage(found.prints);
  }
}

/** Which of `ids` the application wrote after `since` (deleted rows count as its writes). */
async function writtenSince(
  pool: pg.Pool,
  target: ResolvedTarget,
  ids: string[],
  since: Date,
): Promise<Set<string>> {
  if (ids.length === 0 || !target.writtenAtColumn) return new Set();
  // The column is timestamp without time zone holding UTC (as Prisma writes it).
  const { rows } = await pool.query<{ id: string }>(
    `SELECT r.id FROM unnest($1::text[]) AS r(id)
       LEFT JOIN ${target.sqlTable} AS t ON t.${target.sqlId} = r.id::${target.idType}
      WHERE t.${target.sqlId} IS NULL
         OR t.${quoteIdent(target.writtenAtColumn)} > ($2::timestamptz AT TIME ZONE 'UTC')`,
    [ids, since.toISOString()],
  );
  return new Set(rows.map((r) => r.id));
}
