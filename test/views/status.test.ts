import { describe, expect, it } from "vitest";
import { renderAccessList } from "../../src/views/access.js";
import { renderHelp } from "../../src/views/help.js";
import { renderHome, renderStatus } from "../../src/views/status.js";
import { done, keyring, long, NOW, snapshot, visibleText, withStep } from "./fixtures.js";

describe("/keyops help", () => {
  it("gives one line of usage per command", () => {
    const text = visibleText(renderHelp());
    for (const usage of [
      "`/key-compromised` [environment] [what happened]",
      "`/key-rotate` [environment] [reason]",
      "`/offboard` @person [last day as yyyy-mm-dd]",
      "`/keyops status`",
      "`/keyops help`",
      "`/keyops access",
    ]) {
      expect(text).toContain(usage);
    }
  });
});

describe("/keyops status and the App Home", () => {
  it("lists open workflows with what they wait for", () => {
    const rotation = withStep(
      done(snapshot("key-rotate", { number: 3 }), "generate-key"),
      "approval",
      "AWAITING_APPROVAL",
    );
    const offboarding = snapshot("offboard", {
      number: 4,
      inputs: { environments: ["production"], subjectUserId: "U0LEAVER" },
    });
    const late = { ...offboarding, deadlineAt: new Date(NOW.getTime() - 1) };
    const text = visibleText(renderStatus({ workflows: [rotation, late], keyrings: [] }, NOW));
    expect(text).toContain("*Open workflows (2):*");
    expect(text).toContain("• *#3* Production key rotation — 🟠 open · 7 open steps · ⏳ awaiting approval");
    expect(text).toContain("• *#4* Offboarding <@U0LEAVER> — 🟠 open · 5 open steps · ⚠️ *overdue*");
  });

  it("says so when nothing is open", () => {
    expect(visibleText(renderStatus({ workflows: [], keyrings: [] }, NOW))).toContain(
      "*Open workflows:* none",
    );
  });

  it("shows each environment's versions by fingerprint, rows, a running run and the schedule", () => {
    const production = {
      ...keyring("production", 3, 1_500),
      rowsUnderUnknownVersions: 2,
      runningRun: { id: 9, rowsDone: 50, rowsTotal: 200, startedAt: NOW },
    };
    const schedules = [
      { environment: "production", lastRotatedAt: NOW, nextDueAt: new Date(NOW.getTime() - 1) },
    ];
    const text = visibleText(renderStatus({ workflows: [], keyrings: [production], schedules }, NOW));
    expect(text).toContain("*production* — active: v3 · PlatformIntegration.credentials");
    expect(text).toContain("• v3 active `fp000003` · 1,500 rows");
    expect(text).toContain("• v2 decrypt-only `fp000002` · 1,500 rows");
    expect(text).toContain("• v1 (legacy) decrypt-only `fp000001` · 1,500 rows");
    expect(text).toContain("⚠️ 2 rows under unknown versions");
    expect(text).toContain("🔄 run 9: `▓▓▓░░░░░░░` 25% · 50 / 200 rows");
    expect(text).toContain("⚠️ *overdue*");
  });

  it("cuts long lists and says how many more there are", () => {
    const workflows = Array.from({ length: 200 }, (_, i) =>
      snapshot("key-rotate", { number: i + 1, title: long(255, "T") }),
    );
    const keyrings = [keyring("production", 50)];
    const message = renderStatus({ workflows, keyrings }, NOW);
    const messageText = visibleText(message);
    expect(message.length).toBeLessThanOrEqual(50);
    const shownInMessage = (messageText.match(/• \*#\d+\*/g) ?? []).length;
    expect(shownInMessage).toBeGreaterThan(10);
    expect(messageText).toContain(`…and ${200 - shownInMessage} more`);
    expect(messageText).toContain("• v50 active");
    expect(messageText).toContain("…and 40 older versions");

    const home = renderHome({ workflows, keyrings }, NOW);
    expect(home.type).toBe("home");
    expect(home.blocks.length).toBeLessThanOrEqual(100);
    const homeText = visibleText(home.blocks);
    const shownAtHome = (homeText.match(/• \*#\d+\*/g) ?? []).length;
    expect(shownAtHome).toBeGreaterThan(shownInMessage);
    expect(homeText).toContain(`…and ${200 - shownAtHome} more`);
  });
});

describe("/keyops access list", () => {
  it("lists grants, and counts what does not fit", () => {
    const grant = {
      slackUserId: "U0BOB",
      environment: "production" as const,
      grantedBy: "U0ALICE",
      grantedAt: NOW,
    };
    expect(renderAccessList([])).toBe("The roster is empty: nobody has recorded key access.");
    expect(renderAccessList([grant])).toBe(
      `*Key access roster*\n• *production*: <@U0BOB> (granted by <@U0ALICE> <!date^${NOW.getTime() / 1000}^{date_short}|2026-11-28T12:00:00.000Z>)`,
    );
    const many = renderAccessList(Array.from({ length: 100 }, () => grant));
    expect(many.length).toBeLessThanOrEqual(3000);
    expect(many).toMatch(/…and \d+ more$/);
  });
});

describe("/keyops status: the workflows the bot starts by itself", () => {
  it("the latest maintenance (open, overdue) and the next start; none yet says how to start one", () => {
    const maintenance = snapshot("quarterly-maintenance", {
      number: 7,
      inputs: { environments: ["production"], period: "2027-Q1" },
    });
    const late = { ...maintenance, deadlineAt: new Date(NOW.getTime() - 8 * 86_400_000) };
    const nextStartAt = new Date("2027-03-31T22:00:00Z");
    const text = visibleText(
      renderStatus(
        {
          workflows: [],
          keyrings: [],
          scheduled: [
            { name: "Quarterly maintenance", command: "/key-maintenance", latest: late, nextStartAt },
          ],
        },
        NOW,
      ),
    );
    expect(text).toContain(
      "*Quarterly maintenance:* #7 Key maintenance 2027-Q1 (Production) — 🟠 open · 5 open steps · ⚠️ *overdue* · next starts by itself <!date^1806530400^{date_short}|2027-03-31T22:00:00.000Z>",
    );
    const none = visibleText(
      renderStatus(
        {
          workflows: [],
          keyrings: [],
          scheduled: [{ name: "Quarterly maintenance", command: "/key-maintenance" }],
        },
        NOW,
      ),
    );
    expect(none).toContain("*Quarterly maintenance:* none yet (`/key-maintenance` starts one)");
  });
});
