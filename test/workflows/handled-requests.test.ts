import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestBot, type TestBot } from "../support/bot.js";

let app: TestBot;

beforeAll(async () => {
  app = await startTestBot({ rows: 5 });
});

afterAll(async () => {
  await app?.stop();
});

describe("handled request keys", () => {
  it("are forgotten after the retention period, oldest first in short statements; recent ones still deduplicate", async () => {
    const pool = app.database.db.pool;
    await pool.query(`TRUNCATE "HandledRequest"`);
    // 12,000 keys 40 days old (more than one statement's worth), 3 from yesterday.
    await pool.query(
      `INSERT INTO "HandledRequest" ("key", "at")
       SELECT 'event:old-' || g, (now() AT TIME ZONE 'UTC') - interval '40 days' FROM generate_series(1, 12000) AS g`,
    );
    await pool.query(
      `INSERT INTO "HandledRequest" ("key", "at")
       SELECT 'event:recent-' || g, (now() AT TIME ZONE 'UTC') - interval '1 day' FROM generate_series(1, 3) AS g`,
    );
    expect(await app.bot.service.forgetHandledRequests(30)).toBe(12_000);
    const { rows } = await pool.query<{ key: string }>(`SELECT "key" FROM "HandledRequest" ORDER BY "key"`);
    expect(rows.map((r) => r.key)).toEqual(["event:recent-1", "event:recent-2", "event:recent-3"]);
    // A retry of a recent request is still told apart; a forgotten one could be claimed again.
    expect(await app.bot.service.claimRequest("event:recent-1")).toBe(false);
    expect(await app.bot.service.claimRequest("event:old-1")).toBe(true);
    // Again: nothing is left past the period.
    expect(await app.bot.service.forgetHandledRequests(30)).toBe(0);
  });
});
