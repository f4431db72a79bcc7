import { mkdtempSync, rmSync, statSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import type pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import { appendAuditEvents, GENESIS_HASH, hashEvent } from "../../src/workflows/audit-log.js";
import { type CliResult, runKeyops } from "../support/cli.js";
import { useTestDatabase } from "../support/database.js";

// Issue 9 #14 and #15 through the real CLI: the chain is keyed (HMAC under a key derived from the
// master key, which the database never holds), its head is published to an append-only file, and
// `keyops audit verify` finds a removed tail, a chain rewritten without the key and a database
// rolled back and written again; `keyops audit export` writes jsonl or OCSF API Activity lines.

const t = useTestDatabase();
const dir = mkdtempSync(path.join(os.tmpdir(), "keyops-audit-"));
const headFile = path.join(dir, "heads", "audit-heads.jsonl");
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const keyops = (args: string[]) =>
  runKeyops(args, {
    DATABASE_URL: t.url,
    KEYOPS_MASTER_KEY: t.masterKey.exposeBase64(),
    KEYOPS_AUDIT_HEAD_FILE: headFile,
    KEYOPS_LOG_LEVEL: "error",
  });

async function append(count: number, workflowId = "wf-audit") {
  await t.db.prisma.$transaction((tx) =>
    appendAuditEvents(
      tx,
      Array.from({ length: count }, (_, i) => ({
        workflowId,
        actor: i % 2 === 0 ? "U0ALICE" : "cli:ops@host-1",
        action: i === 0 ? ("workflow.started" as const) : ("step.done" as const),
        stepKey: `step-${i}`,
        detail: { n: i, reason: `because ${i}` },
      })),
    ),
  );
}

type Row = Record<string, unknown> & { sequence: number };

/** Runs `work` as the table owner with the append-only trigger switched off (the attacker). */
async function asTableOwner<T>(work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await t.db.pool.connect();
  try {
    await client.query(`ALTER TABLE "AuditEvent" DISABLE TRIGGER USER`);
    return await work(client);
  } finally {
    await client.query(`ALTER TABLE "AuditEvent" ENABLE TRIGGER USER`);
    client.release();
  }
}

async function snapshot(): Promise<Row[]> {
  return (await t.db.pool.query<Row>(`SELECT * FROM "AuditEvent" ORDER BY "sequence"`)).rows;
}

/** Puts the saved rows back exactly (the attacker's edits undone). */
async function restore(rows: Row[]): Promise<void> {
  await asTableOwner(async (client) => {
    await client.query(`DELETE FROM "AuditEvent"`);
    for (const r of rows) {
      await client.query(
        `INSERT INTO "AuditEvent" ("sequence","workflowId","at","actor","action","stepKey","detail","prevHash","hash","keyed")
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10)`,
        [
          r.sequence,
          r.workflowId,
          r.at,
          r.actor,
          r.action,
          r.stepKey,
          JSON.stringify(r.detail),
          r.prevHash,
          r.hash,
          r.keyed,
        ],
      );
    }
  });
}

/** Rewrites every event from `from` on with plain SHA-256 (what someone without the key can compute). */
async function rewriteWithoutKey(client: pg.PoolClient, rows: Row[], from: number, keyed: boolean) {
  let prev = from === 1 ? GENESIS_HASH : (rows[from - 2]?.hash as string);
  for (const r of rows.filter((row) => row.sequence >= from)) {
    const fields = {
      sequence: r.sequence,
      workflowId: r.workflowId as string | null,
      at: r.at as Date,
      actor: r.actor as string,
      action: r.action as string,
      stepKey: r.stepKey as string | null,
      detail: r.sequence === from ? { ...(r.detail as object), reason: "edited" } : r.detail,
    };
    const hash = hashEvent(prev, fields);
    await client.query(
      `UPDATE "AuditEvent" SET "detail" = $2, "prevHash" = $3, "hash" = $4, "keyed" = $5 WHERE "sequence" = $1`,
      [r.sequence, JSON.stringify(fields.detail), prev, hash, keyed],
    );
    prev = hash;
  }
}

function verdictOf(result: CliResult): Record<string, unknown> {
  expect(result.stderr).toBe("");
  return JSON.parse(result.stdout) as Record<string, unknown>;
}

describe("keyops audit verify: a keyed chain and its published head", () => {
  it("an existing unkeyed chain stays verifiable: the keyed events chain onto it", async () => {
    // Three events as the version before the key wrote them: plain SHA-256, keyed false.
    let prev = GENESIS_HASH;
    for (let sequence = 1; sequence <= 3; sequence++) {
      const fields = {
        sequence,
        workflowId: "wf-old",
        at: new Date(Date.UTC(2026, 10, 1, 9, sequence)),
        actor: "U0OLD",
        action: "step.done",
        stepKey: null,
        detail: { n: sequence },
      };
      const hash = hashEvent(prev, fields);
      await t.db.pool.query(
        `INSERT INTO "AuditEvent" ("sequence","workflowId","at","actor","action","stepKey","detail","prevHash","hash")
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9)`,
        [
          sequence,
          fields.workflowId,
          fields.at,
          fields.actor,
          fields.action,
          null,
          JSON.stringify(fields.detail),
          prev,
          hash,
        ],
      );
      prev = hash;
    }
    await append(2);
    const ok = await keyops(["audit", "verify", "--json"]);
    expect(ok.code).toBe(0);
    expect(verdictOf(ok)).toMatchObject({ ok: true, events: 5, keyedFrom: 4, tailMissing: false });

    // Rewriting an old event now needs the key: the first keyed event's HMAC covers its prevHash.
    const saved = await snapshot();
    await asTableOwner(async (client) => {
      await rewriteWithoutKey(client, saved.slice(0, 3), 2, false);
      await client.query(
        `UPDATE "AuditEvent" SET "prevHash" = (SELECT "hash" FROM "AuditEvent" WHERE "sequence" = 3) WHERE "sequence" = 4`,
      );
    });
    const broken = await keyops(["audit", "verify", "--json"]);
    expect(broken.code).toBe(1);
    expect(verdictOf(broken)).toMatchObject({ ok: false, brokenAt: 4, problem: "content altered" });
    await restore(saved);
  });

  it("publishes the head to a 0600 append-only file, and verifies against it (exit 0)", async () => {
    await append(3); // 8 events
    const published = await keyops(["audit", "publish", "--json"]);
    expect(published.code).toBe(0);
    expect(verdictOf(published)).toMatchObject({
      published: { sequence: 8, reason: "keyops audit publish" },
      file: headFile,
    });
    expect((statSync(headFile).mode & 0o777).toString(8)).toBe("600");
    const again = await keyops(["audit", "publish"]);
    expect(again.stdout).toBe(`nothing new since the last published head in ${headFile}\n`);

    const text = await keyops(["audit", "verify"]);
    expect({ code: text.code, stderr: text.stderr }).toEqual({ code: 0, stderr: "" });
    expect(text.stdout).toMatch(
      /^audit chain ok: 8 events \(keyed from #4\), checked against the head published at \S+ \(event #8\)\n$/,
    );
  });

  it("a removed tail (as the table owner, trigger off): exit 1, naming the first missing event", async () => {
    const saved = await snapshot();
    await asTableOwner((client) => client.query(`DELETE FROM "AuditEvent" WHERE "sequence" > 5`));
    const json = await keyops(["audit", "verify", "--json"]);
    expect(json.code).toBe(1);
    expect(verdictOf(json)).toMatchObject({
      ok: false,
      events: 5,
      brokenAt: 6,
      tailMissing: true,
      publishedHead: { sequence: 8 },
    });
    const text = await keyops(["audit", "verify"]);
    expect(text.code).toBe(1);
    expect(text.stdout).toMatch(
      /^audit chain BROKEN at event #6: tail missing: the log ends at event #5, but event #8 was published at \S+ \(events removed, or the database rolled back\)\n$/,
    );
    await restore(saved);
    expect((await keyops(["audit", "verify"])).code).toBe(0);
  });

  it("a chain rewritten from the start without the key: consistent in itself, not the published head", async () => {
    const saved = await snapshot();
    await asTableOwner((client) => rewriteWithoutKey(client, saved, 1, false));
    const rewritten = await keyops(["audit", "verify", "--json"]);
    expect(rewritten.code).toBe(1);
    expect(verdictOf(rewritten)).toMatchObject({
      ok: false,
      brokenAt: 8,
      tailMissing: false,
      keyedFrom: null,
    });
    expect(String(verdictOf(rewritten).problem)).toMatch(
      /^event #8 is not the one published at \S+ \(the chain was rewritten/,
    );
    // Rewritten with SHA-256 but still marked keyed: the first edited event fails its HMAC.
    await restore(saved);
    await asTableOwner((client) => rewriteWithoutKey(client, saved, 6, true));
    expect(verdictOf(await keyops(["audit", "verify", "--json"]))).toMatchObject({
      ok: false,
      brokenAt: 6,
      problem: "content altered",
    });
    // Marked unkeyed after keyed ones: refused as a downgrade.
    await restore(saved);
    await asTableOwner((client) => rewriteWithoutKey(client, saved, 6, false));
    expect(verdictOf(await keyops(["audit", "verify", "--json"]))).toMatchObject({
      ok: false,
      brokenAt: 6,
      problem: "unkeyed event after the chain was keyed",
    });
    await restore(saved);
  });

  it("a database rolled back and written again: a valid chain, but not the published one", async () => {
    const saved = await snapshot();
    await asTableOwner((client) => client.query(`DELETE FROM "AuditEvent" WHERE "sequence" > 6`)); // the backup
    await append(3, "wf-after-restore"); // the restored database keeps working: 9 events, all valid
    const result = await keyops(["audit", "verify", "--json"]);
    expect(result.code).toBe(1);
    expect(verdictOf(result)).toMatchObject({ ok: false, events: 9, brokenAt: 8, tailMissing: false });
    expect(String(verdictOf(result).problem)).toContain("rolled back and written again");
    await restore(saved);
  });
});

describe("keyops audit export", () => {
  it("jsonl: every stored event, oldest first, as verify recomputes it", async () => {
    const result = await keyops(["audit", "export", "--format", "jsonl"]);
    expect({ code: result.code, stderr: result.stderr }).toEqual({ code: 0, stderr: "" });
    const lines = result.stdout
      .trimEnd()
      .split("\n")
      .map((line) => JSON.parse(line));
    const rows = await snapshot();
    expect(lines.map((l) => [l.sequence, l.hash, l.keyed])).toEqual(
      rows.map((r) => [r.sequence, r.hash, r.keyed]),
    );
  });

  it("ocsf: one API Activity event per line with the class's required attributes; --since filters", async () => {
    const result = await keyops(["audit", "export", "--format", "ocsf"]);
    expect(result.code).toBe(0);
    const events = result.stdout
      .trimEnd()
      .split("\n")
      .map((line) => JSON.parse(line));
    expect(events).toHaveLength(8);
    for (const e of events) {
      expect(e).toMatchObject({
        class_uid: 6003,
        class_name: "API Activity",
        category_uid: 6,
        severity_id: 1,
      });
      expect(e.type_uid).toBe(6003 * 100 + e.activity_id);
      expect([1, 2, 3, 4]).toContain(e.activity_id);
      expect(typeof e.time).toBe("number");
      expect(e.metadata).toMatchObject({ version: "1.6.0", product: { name: "KeyOps" } });
      expect(e.api.operation).toBe(e.message);
      expect(e.actor.user).toBeDefined();
      expect(e.src_endpoint).toBeDefined();
    }
    const started = events.find((e) => e.api.operation === "workflow.started");
    expect(started).toMatchObject({ activity_id: 1, type_uid: 600301, actor: { user: { uid: "U0ALICE" } } });
    const cli = events.find((e) => e.actor.user.name === "ops");
    expect(cli.src_endpoint).toEqual({ hostname: "host-1" });

    const rows = await snapshot();
    const since = new Date(((rows[4] as Row).at as Date).getTime()).toISOString();
    const later = await keyops(["audit", "export", "--format", "ocsf", "--since", since]);
    const expected = rows.filter((r) => (r.at as Date).getTime() >= Date.parse(since)).length;
    expect(later.stdout.trimEnd().split("\n")).toHaveLength(expected);
    expect((await keyops(["audit", "export", "--format", "jsonl", "--since", "2999-01-01"])).stdout).toBe("");
  });

  it("bad arguments: one line, exit 2", async () => {
    for (const [args, message] of [
      [["audit", "export"], "--format must be jsonl or ocsf"],
      [["audit", "export", "--format", "xml"], "--format must be jsonl or ocsf"],
      [
        ["audit", "export", "--format", "jsonl", "--since", "yesterday"],
        "--since must be an ISO-8601 date or time, e.g. 2026-12-01 or 2026-12-01T09:00:00Z",
      ],
    ] as const) {
      const result = await keyops([...args]);
      expect({ code: result.code, stdout: result.stdout, stderr: result.stderr }).toEqual({
        code: 2,
        stdout: "",
        stderr: `keyops: ${message}\n`,
      });
    }
  });
});
