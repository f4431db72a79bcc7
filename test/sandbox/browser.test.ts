import { mkdirSync } from "node:fs";
import path from "node:path";
import pg from "pg";
import { type Browser, chromium, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type EmbeddedServer, startEmbeddedPostgres } from "../../src/db/embedded.js";
import { PERSONAS } from "../../src/sandbox/people.js";
import { DEMO_ROWS } from "../../src/sandbox/start.js";
import { testLogger } from "../support/engine.js";
import { chromiumPath, type SandboxProcess, SCREENSHOTS, startSandboxProcess } from "./sandbox-process.js";

// A new user's first minutes, in a real browser: `npm start` on a fresh data directory, the page,
// a /key-rotate by the requester, refused when they approve it themselves, approved by the
// approver, the rotation running to the end and the workflow resolved; then a drill incident from
// start to post-mortem, the live rows' ciphertexts and key states read from the sandbox's database.

let sandbox: SandboxProcess | undefined;
let browser: Browser | undefined;
let page: Page;
let shot = 0;
/** This test's share of the sandbox's embedded PostgreSQL (to read the live rows and key states). */
let database: EmbeddedServer | undefined;

async function query<T extends pg.QueryResultRow>(databaseName: string, sql: string): Promise<T[]> {
  database ??= await startEmbeddedPostgres({ dataDir: sandbox?.dataDir ?? "", port: 0, log: testLogger });
  const url = new URL(database.url);
  url.pathname = `/${databaseName}`;
  const client = new pg.Client({ connectionString: url.toString() });
  await client.connect();
  try {
    return (await client.query<T>(sql)).rows;
  } finally {
    await client.end();
  }
}

/** The live production rows' ciphertexts and key states, and what drills left behind. */
async function liveState() {
  const rows = await query<{ id: string; credentials: string }>(
    "keyops_production",
    `SELECT "id", "credentials" FROM "PlatformIntegration" ORDER BY "id"`,
  );
  const keys = await query<{ version: number; state: string; fingerprint: string }>(
    "postgres",
    `SELECT "version", "state"::text AS state, "fingerprint" FROM "KeyVersion" WHERE "environment" = 'production' ORDER BY "version"`,
  );
  const scratchSchemas = await query(
    "keyops_production",
    "SELECT 1 FROM pg_namespace WHERE nspname LIKE 'keyops\\_drill\\_%'",
  );
  const scratchKeyrings = await query(
    "postgres",
    `SELECT 1 FROM "KeyVersion" WHERE "environment" LIKE 'drill:%'`,
  );
  return { rows, keys, scratch: scratchSchemas.length + scratchKeyrings.length };
}

async function screenshot(name: string): Promise<void> {
  shot += 1;
  await page.screenshot({ path: path.join(SCREENSHOTS, `${String(shot).padStart(2, "0")}-${name}.png`) });
}

const channel = () => page.locator("#channel");
/** The workflow's message (the first top-level one from KeyOps that has a header). */
const workflow = () => page.locator("#channel > .sb-message", { has: page.locator(".bk-header") }).first();

async function actAs(persona: { id: string }): Promise<void> {
  await page.selectOption("#persona", persona.id);
  // The page reconnects and shows what this person sees.
  await expect.poll(() => page.inputValue("#persona")).toBe(persona.id);
}

beforeAll(async () => {
  mkdirSync(SCREENSHOTS, { recursive: true });
  sandbox = await startSandboxProcess();
  browser = await chromium.launch({
    executablePath: chromiumPath(),
    // As root (CI) Chromium runs only without its own sandbox.
    args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
  });
  page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  page.setDefaultTimeout(60_000);
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await database?.stop();
  const code = await sandbox?.stop();
  // Stopped by SIGTERM: npm reports the signal (null) or the bot's own clean exit (0).
  expect([0, null]).toContain(code);
}, 60_000);

describe("the sandbox in a browser", () => {
  it("npm start with nothing set prints exactly one line, the sandbox's loopback URL", () => {
    const own = (sandbox?.stdout() ?? "").split("\n").filter((line) => line && !line.startsWith(">"));
    expect(own).toEqual([`KeyOps sandbox: ${sandbox?.url}`]);
    expect(sandbox?.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
  });

  it("/key-rotate: refused for the requester's own approval, approved by the approver, rotated, resolved", async () => {
    await page.goto(sandbox?.url ?? "");
    await expect.poll(() => page.textContent("#sandbox-banner")).toContain("SANDBOX");
    await expect.poll(() => page.textContent(".sb-about")).toContain("Seeded now, on the first start");
    await screenshot("empty-channel");

    await actAs(PERSONAS.requester);
    await page.fill("#composer", "/key-rotate");
    await page.press("#composer", "Enter");
    await workflow().locator(".bk-header", { hasText: "Production key rotation" }).waitFor();
    // PagerDuty was paged: the panel shows the incident.
    await page.locator(".pd-incident", { hasText: "triggered" }).waitFor();
    await screenshot("workflow-started");

    await workflow().getByRole("button", { name: "Generate key" }).click();
    await workflow().getByRole("button", { name: "Approve" }).waitFor();

    // The two-person rule: the requester's own approval is refused, only to them.
    await workflow().getByRole("button", { name: "Approve" }).click();
    const refusal = channel().locator(".sb-ephemeral", { hasText: "two-person rule" });
    await refusal.waitFor();
    await screenshot("requester-refused");

    // Someone else does not see the requester's ephemeral reply.
    await actAs(PERSONAS.onCall);
    await expect.poll(() => refusal.count()).toBe(0);

    // Oscar acknowledges in PagerDuty: its signed webhook reaches the bot, the message says so.
    await page.locator(".pd-incident").getByRole("button", { name: "Acknowledge" }).click();
    await workflow()
      .getByText(/Acknowledged by Oscar/)
      .waitFor();
    await page.locator(".pd-incident", { hasText: "acknowledged" }).waitFor();

    await actAs(PERSONAS.approver);

    // Every progress line the message shows while the rotation runs.
    // (The page's own script, as a string: the test is compiled without the DOM's types.)
    await page.evaluate(`(() => {
      const seen = (window.progress = []);
      const list = document.querySelector("#channel");
      new MutationObserver(() => {
        for (const line of list.textContent.match(/[▓░]{10} \\d+%[^▓░]*?rows/g) ?? []) seen.push(line);
      }).observe(list, { childList: true, subtree: true });
    })()`);
    await workflow().getByRole("button", { name: "Approve" }).click();
    await workflow()
      .getByText(/✅ Re-encrypt/)
      .waitFor({ timeout: 120_000 });
    await workflow()
      .getByText(/✅ Verify/)
      .waitFor({ timeout: 120_000 });
    const progress = (await page.evaluate("window.progress")) as string[];
    expect(progress.length, "progress lines seen while rotating").toBeGreaterThan(0);
    // Each line as the page drew it: a share of the bar, and "done / total rows" never past the total.
    const rows = DEMO_ROWS.production;
    const figures = progress.map((line) => {
      const m = /(\d+)% · production (.+?) · ([\d,]+) \/ ([\d,]+) rows/.exec(line);
      expect(m, line).not.toBeNull();
      const [percent = "", phase = "", done = "", total = ""] = (m ?? []).slice(1);
      return {
        line,
        percent: Number(percent),
        phase,
        done: Number(done.replace(/,/g, "")),
        total: Number(total.replace(/,/g, "")),
      };
    });
    for (const f of figures) {
      expect(f.total, f.line).toBe(rows);
      expect(f.done, f.line).toBeLessThanOrEqual(f.total);
      expect(f.percent, f.line).toBe(Math.floor((100 * f.done) / f.total));
    }
    const reencrypting = figures.filter((f) => f.phase === "re-encrypting").map((f) => f.done);
    expect(reencrypting, "re-encrypting only moves forward").toEqual([...reencrypting].sort((a, b) => a - b));
    // The end, as the re-encrypt step shows it once done: every row re-encrypted, done = total, none failed.
    const reencrypt = workflow().locator(".bk-section", { hasText: /✅ Re-encrypt/ });
    const shown = ((await reencrypt.textContent()) ?? "").replace(/\s+/g, " ");
    const all = rows.toLocaleString("en-US");
    expect(shown).toContain(`production: ${rows} of ${rows} rows re-encrypted`);
    expect(shown).toContain(`production · ${all} rows · ${all} re-encrypted · 0 failed`);
    await screenshot("rotated");

    // The steps left for people: the backup, the stored key backup and the schedule.
    for (const step of ["Back up the database", "Store the key backup"]) {
      const actions = workflow().locator(".bk-actions", {
        has: page.locator(
          `[data-value$="|${step === "Back up the database" ? "backup-database" : "store-backup"}"]`,
        ),
      });
      await actions.getByRole("button", { name: "Done" }).first().click();
      await workflow()
        .getByText(new RegExp(`✅ ${step}`))
        .waitFor();
    }
    const record = workflow().getByRole("button", { name: "Record" });
    if (await record.count()) await record.click();
    await workflow()
      .getByText(/Resolved/)
      .first()
      .waitFor({ timeout: 60_000 });
    const text = (await workflow().textContent()) ?? "";
    expect(text).toContain(`${DEMO_ROWS.production.toLocaleString("en-US")} re-encrypted`);
    expect(text).toContain("Avery");
    await screenshot("resolved");
  }, 300_000);

  it("a drill incident from start to post-mortem: rotated on a scratch copy, the live rows byte-identical", async () => {
    const before = await liveState();
    expect(before.rows).toHaveLength(DEMO_ROWS.production);
    const drill = () =>
      page
        .locator("#channel > .sb-message", { has: page.locator(".bk-header", { hasText: "[DRILL]" }) })
        .first();

    await actAs(PERSONAS.requester);
    await page.fill("#composer", "/key-compromised drill production");
    await page.press("#composer", "Enter");
    await drill()
      .locator(".bk-header", { hasText: "[DRILL] Production encryption key compromised" })
      .waitFor();
    await screenshot("drill-started");
    await drill().getByRole("button", { name: "Generate key" }).click();
    await drill().getByRole("button", { name: "Approve" }).waitFor();

    await actAs(PERSONAS.approver);
    await drill().getByRole("button", { name: "Approve" }).click();
    await drill()
      .getByText(/✅ Run the key rotation/)
      .waitFor({ timeout: 120_000 });
    await drill()
      .getByText(/production \(drill copy\): [\d,]+ of [\d,]+ rows re-encrypted/)
      .first()
      .waitFor();
    await screenshot("drill-rotated");

    // The checklist's steps for people, one Done at a time, then the audit query and the post-mortem.
    for (;;) {
      const done = drill().getByRole("button", { name: "Done" });
      const left = await done.count();
      if (left === 0) break;
      await done.first().click();
      await expect.poll(() => done.count(), { timeout: 30_000 }).toBeLessThan(left);
    }
    await drill().getByRole("button", { name: "Run audit query" }).click();
    await drill()
      .getByText(/✅ Audit access/)
      .waitFor();
    await drill().getByRole("button", { name: "Write post-mortem" }).click();
    await drill()
      .getByText(/Resolved/)
      .first()
      .waitFor({ timeout: 60_000 });
    await screenshot("drill-resolved");

    const href = await page.locator("a.sb-file", { hasText: "Post-mortem" }).last().getAttribute("href");
    const postmortem = await (await fetch(new URL(href ?? "", sandbox?.url))).text();
    expect(postmortem).toContain("[DRILL] Production encryption key compromised");
    expect(postmortem).toContain("## Drill: response times");
    expect(postmortem).toMatch(/- To approval: \d/);
    expect(postmortem).toMatch(/- To rotation done: \d/);
    expect(postmortem).toMatch(/Rotating production\S{1,6}s live targets \([\d,]+ rows\) would take/);

    await expect.poll(async () => (await liveState()).scratch, { timeout: 30_000 }).toBe(0);
    const live = await liveState();
    expect(live.rows).toEqual(before.rows);
    expect(live.keys).toEqual(before.keys);
  }, 300_000);
});
