import { describe, expect, it } from "vitest";
import { renderPlainLine, renderThreadLine } from "../../src/views/thread-line.js";
import type { AuditAction, TimelineEvent } from "../../src/workflows/types.js";
import { long, NOW } from "./fixtures.js";

const AT = `<!date^${NOW.getTime() / 1000}^{time_secs}|2026-11-28T12:00:00.000Z>`;

function event(action: AuditAction, detail: TimelineEvent["detail"] = {}, actor = "U0ALICE"): TimelineEvent {
  return { sequence: 1, at: NOW, actor, action, stepKey: "reencrypt", detail };
}

describe("thread lines", () => {
  const cases: [AuditAction, TimelineEvent["detail"], string][] = [
    [
      "workflow.started",
      { environments: "production,staging", severity: "critical" },
      "started the workflow (production, staging, critical)",
    ],
    ["workflow.started", { environments: "", subject: "U0LEAVER" }, "started the workflow for <@U0LEAVER>"],
    ["workflow.resolved", {}, "resolved the workflow: every step is done or skipped"],
    ["workflow.cancelled", { reason: "opened by mistake" }, "cancelled the workflow: opened by mistake"],
    ["step.done", {}, "marked *Re-encrypt* done"],
    ["step.skipped", { reason: "not needed <!here>" }, "skipped *Re-encrypt*: not needed &lt;!here&gt;"],
    ["step.assigned", { assignee: "U0BOB" }, "assigned *Re-encrypt* to <@U0BOB>"],
    ["step.started", {}, "started *Re-encrypt*"],
    ["step.retried", {}, "retried *Re-encrypt*"],
    [
      "step.succeeded",
      { summary: "production: 200 of 200 rows re-encrypted to v3" },
      "*Re-encrypt* finished: production: 200 of 200 rows re-encrypted to v3",
    ],
    [
      "step.succeeded",
      { summary: "revoked <@U0LEAVER>'s access to production" },
      "*Re-encrypt* finished: revoked <@U0LEAVER>'s access to production",
    ],
    [
      "step.failed",
      { error: "3 rows could not be re-encrypted" },
      "*Re-encrypt* failed: 3 rows could not be re-encrypted",
    ],
    ["approval.requested", {}, "asked for approval of *Re-encrypt*"],
    ["approval.approved", {}, "approved *Re-encrypt*"],
    ["approval.rejected", { reason: "wrong window" }, "rejected *Re-encrypt*: wrong window"],
    [
      "permission.refused",
      { attempted: "approve", reason: "two-person rule" },
      "was refused (approve): two-person rule",
    ],
    ["page.triggered", { onCall: "U0ON1" }, "paged on-call"],
    ["page.failed", { error: "HTTP 500 (try 1 of 3)" }, "paging failed: HTTP 500 (try 1 of 3)"],
    ["page.acknowledged", {}, "acknowledged the page"],
    ["page.escalated", { to: "Bo Backup" }, "escalated the page to Bo Backup"],
    ["page.reassigned", { to: "Cy" }, "reassigned the page to Cy"],
    ["page.resolved", {}, "resolved the page"],
    [
      "page.unacknowledged",
      { onCall: "U0ON1 U0ON2" },
      "nobody has acknowledged the page yet: <@U0ON1> <@U0ON2>",
    ],
    [
      "deadline.reminder",
      { due: "2026-11-29T12:00:00.000Z" },
      "reminder: the rotation is due by <!date^1795953600^{date_short_pretty} {time}|2026-11-29T12:00:00.000Z>",
    ],
    [
      "deadline.reminder",
      { due: "2026-11-29T12:00:00.000Z", late: true, remind: "U0REQ U0APP S0GROUP" },
      "reminder: overdue, it was due <!date^1795953600^{date_short_pretty} {time}|2026-11-29T12:00:00.000Z>: <@U0REQ> <@U0APP> <!subteam^S0GROUP>",
    ],
    ["schedule.due", { why: "staging rotation due" }, "staging rotation due: this workflow covers it"],
    ["access.granted", { user: "U0BOB", environment: "staging" }, "granted <@U0BOB> access to staging"],
    ["access.revoked", { user: "U0BOB", environment: "staging" }, "revoked <@U0BOB>'s access to staging"],
  ];

  it.each(cases)("%s %o", (action, detail, what) => {
    expect(renderThreadLine(event(action, detail), "Re-encrypt")).toBe(`${AT} <@U0ALICE> ${what}`);
  });

  it("names the bot KeyOps, and PagerDuty by the person it names", () => {
    expect(renderThreadLine(event("step.started", {}, "keyops"), "Verify")).toBe(
      `${AT} KeyOps started *Verify*`,
    );
    expect(renderThreadLine(event("page.acknowledged", { by: "Ona Call" }, "pagerduty"))).toBe(
      `${AT} Ona Call via PagerDuty acknowledged the page`,
    );
    expect(renderThreadLine(event("page.resolved", { by: "PagerDuty" }, "pagerduty"))).toBe(
      `${AT} PagerDuty resolved the page`,
    );
  });

  it("falls back to the step key when the title is unknown", () => {
    expect(renderThreadLine(event("step.done"))).toBe(`${AT} <@U0ALICE> marked *reencrypt* done`);
  });

  it("stays within a section's 3000 characters without cutting a mention in half", () => {
    const line = renderThreadLine(
      event("step.skipped", { reason: `${long(2900)} <@U0BOB> ${long(900)}` }),
      long(255),
    );
    expect(line.length).toBeLessThanOrEqual(3000);
    expect(line.endsWith("…")).toBe(true);
    expect(line).not.toMatch(/<@U0B?O?…$/);
  });

  it("has a plain form for the post-mortem: UTC time, @ids, no Slack markup", () => {
    expect(renderPlainLine(event("step.assigned", { assignee: "U0BOB" }), "Re-encrypt")).toBe(
      '2026-11-28 12:00:00 UTC @U0ALICE assigned "Re-encrypt" to @U0BOB',
    );
    expect(
      renderPlainLine(
        event("step.succeeded", { summary: "revoked <@U0LEAVER>'s access" }, "keyops"),
        "Revoke",
      ),
    ).toBe(`2026-11-28 12:00:00 UTC KeyOps "Revoke" finished: revoked @U0LEAVER's access`);
  });
});
