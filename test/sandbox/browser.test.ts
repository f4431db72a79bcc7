import { mkdirSync } from "node:fs";
import path from "node:path";
import { type Browser, chromium, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PERSONAS } from "../../src/sandbox/people.js";
import { DEMO_ROWS } from "../../src/sandbox/start.js";
import { chromiumPath, type SandboxProcess, SCREENSHOTS, startSandboxProcess } from "./sandbox-process.js";

// A new user's first minutes, in a real browser: `npm start` on a fresh data directory, the page,
// a /key-rotate by the requester, refused when they approve it themselves, approved by the
// approver, the rotation running to the end and the workflow resolved.

let sandbox: SandboxProcess | undefined;
let browser: Browser | undefined;
let page: Page;
let shot = 0;

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
    expect(progress.length, "progress lines seen while re-encrypting").toBeGreaterThan(0);
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
});
