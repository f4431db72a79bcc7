import { chmodSync, mkdtempSync, rmSync, statSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { AuditHeadPublisher, readPublishedHeads } from "../../src/audit/audit-heads.js";
import { appendAuditEvents, readChainHead } from "../../src/workflows/audit-log.js";
import { eventually } from "../support/bot.js";
import { useTestDatabase } from "../support/database.js";
import { testLogger } from "../support/engine.js";

// The publisher behind the bot's timer and workflow-end hook (issue 9 #14), on a real database.

const t = useTestDatabase();
const dir = mkdtempSync(path.join(os.tmpdir(), "keyops-heads-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const append = (count = 1) =>
  t.db.prisma.$transaction((tx) =>
    appendAuditEvents(
      tx,
      Array.from({ length: count }, () => ({ actor: "keyops", action: "deadline.reminder" as const })),
    ),
  );

describe("AuditHeadPublisher", () => {
  it("publishes on its timer only when the head moved, appending to a 0600 file it keeps 0600", async () => {
    const file = path.join(dir, "heads.jsonl");
    const heads = new AuditHeadPublisher(t.db.prisma, file, testLogger);
    const seen: number[] = [];
    heads.addSink(async (head) => {
      seen.push(head.sequence);
    });
    expect(await heads.publish("empty")).toBeUndefined(); // nothing to anchor yet
    await append();
    const stop = heads.every(50);
    try {
      await eventually(
        "the first head on the timer",
        async () => (await readPublishedHeads(file)).length === 1,
      );
      await append(2);
      await eventually(
        "the moved head on the timer",
        async () => (await readPublishedHeads(file)).length === 2,
      );
    } finally {
      stop();
    }
    const published = await readPublishedHeads(file);
    expect(published.map((h) => [h.sequence, h.reason])).toEqual([
      [1, "interval"],
      [3, "interval"],
    ]);
    expect(published[1]).toMatchObject(await readChainHead(t.db.prisma));
    expect(seen).toEqual([1, 3]);
    expect((statSync(file).mode & 0o777).toString(8)).toBe("600");

    chmodSync(file, 0o644); // loosened by someone: tightened again on the next append
    await append();
    expect(await heads.publish("workflow #1 resolved")).toMatchObject({ sequence: 4 });
    expect((statSync(file).mode & 0o777).toString(8)).toBe("600");
    expect(await heads.publish("again")).toBeUndefined();
  });
});
