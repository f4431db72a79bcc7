import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import {
  discardOrphanPrintSets,
  newPrintSet,
  PRINT_BYTES,
  PrintComparer,
  type PrintedRows,
  PrintRecorder,
  rowPrint,
} from "../../src/engine/row-prints.js";
import { PLATFORM_CREDENTIALS, resolveTarget } from "../../src/engine/target.js";
import { useTestDatabase } from "../support/database.js";

const t = useTestDatabase();
const key = randomBytes(32);

/** Rows as verify sends them: in byte order of id, cut into batches of `size`. */
function batches(rows: [string, string][], size: number): PrintedRows[] {
  const sorted = [...rows].sort(([a], [b]) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  const out: PrintedRows[] = [];
  for (let i = 0; i < sorted.length; i += size) {
    const chunk = sorted.slice(i, i + size);
    const prints = new Uint8Array(chunk.length * PRINT_BYTES);
    chunk.forEach(([id, secret], n) => {
      prints.set(rowPrint(key, id, Buffer.from(secret)), n * PRINT_BYTES);
    });
    out.push({ ids: chunk.map(([id]) => id), prints });
  }
  return out;
}

async function record(rows: [string, string][], size: number): Promise<string> {
  const recorder = new PrintRecorder(t.db.pool, newPrintSet());
  for (const batch of batches(rows, size)) await recorder.add(batch);
  return recorder.printSet;
}

async function writtenByApplication(ids: string[]) {
  await t.db.pool.query(`TRUNCATE "PlatformIntegration"`);
  await t.db.pool.query(
    `INSERT INTO "PlatformIntegration" (id, platform, "displayName", credentials, "updatedAt")
     SELECT id, 'SHOPIFY', 'test', 'x', now() FROM unnest($1::text[]) AS id`,
    [ids],
  );
}

describe("row prints as pages", () => {
  it("merges the pages with the rows read now: changed, added and removed rows, across page boundaries", async () => {
    const start: [string, string][] = Array.from({ length: 2500 }, (_, i) => [`row-${i}`, `secret ${i}`]);
    start.push(["é-unicode", "s"], ["B", "upper before lower in byte order"]);
    const since = new Date(Date.now() - 1000);
    const printSet = await record(start, 700);
    const pages = await t.db.pool.query(
      `SELECT count(*)::int AS n FROM "RotationPrintPage" WHERE "printSet" = $1`,
      [printSet],
    );
    expect(pages.rows[0].n).toBe(4);

    const now = new Map(start);
    now.set("row-10", "changed by the application");
    now.set("row-2000", "changed without a write");
    now.delete("row-1500"); // deleted: counts as the application's write
    now.set("row-new", "added by the application");
    // The application wrote row-10 and row-new (and deleted row-1500); nothing wrote row-2000.
    await writtenByApplication([...now.keys()]);
    await t.db.pool.query(
      `UPDATE "PlatformIntegration" SET "updatedAt" = now() - interval '1 hour' WHERE id <> ALL($1)`,
      [["row-10", "row-new"]],
    );

    const target = await resolveTarget(t.db.pool, PLATFORM_CREDENTIALS);
    const comparer = new PrintComparer(t.db.pool, t.db.pool, target, printSet, since);
    for (const batch of batches([...now], 333)) await comparer.add(batch);
    expect(await comparer.finish()).toEqual({
      changed: 4,
      byApplication: 3,
      unexplained: 1,
      unexplainedIds: ["row-2000"],
    });
  });

  it("nothing changed: no row is asked about; a restart forgets what was sent", async () => {
    const rows: [string, string][] = Array.from({ length: 50 }, (_, i) => [String(i), `s${i}`]);
    const printSet = await record(rows, 7);
    const target = await resolveTarget(t.db.pool, PLATFORM_CREDENTIALS);
    const comparer = new PrintComparer(t.db.pool, t.db.pool, target, printSet, new Date());
    const sent = batches(rows, 10);
    await comparer.add(sent[0] as PrintedRows);
    await comparer.restart();
    for (const batch of sent) await comparer.add(batch);
    expect(await comparer.finish()).toEqual({
      changed: 0,
      byApplication: 0,
      unexplained: 0,
      unexplainedIds: [],
    });
  });

  it("a recorder that restarts writes its pages anew; orphan sets older than a day are swept", async () => {
    const recorder = new PrintRecorder(t.db.pool, newPrintSet());
    const rows = batches(
      Array.from({ length: 20 }, (_, i): [string, string] => [`r${i}`, "s"]),
      5,
    );
    for (const batch of rows) await recorder.add(batch);
    await recorder.restart();
    await recorder.add(rows[0] as PrintedRows);
    const count = async (set: string) =>
      (
        await t.db.pool.query(`SELECT count(*)::int AS n FROM "RotationPrintPage" WHERE "printSet" = $1`, [
          set,
        ])
      ).rows[0].n;
    expect(await count(recorder.printSet)).toBe(1);

    await t.db.pool.query(
      `UPDATE "RotationPrintPage" SET "createdAt" = now() - interval '2 days' WHERE "printSet" = $1`,
      [recorder.printSet],
    );
    const fresh = await record([["a", "s"]], 5);
    await discardOrphanPrintSets(t.db.pool);
    expect(await count(recorder.printSet)).toBe(0);
    expect(await count(fresh)).toBe(1);
  });
});
