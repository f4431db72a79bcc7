import { describe, expect, it } from "vitest";
import { renderPostmortem } from "../../src/views/postmortem.js";
import type { TimelineEvent, WorkflowSnapshot } from "../../src/workflows/types.js";
import { figures, NOW, snapshot, withStep } from "./fixtures.js";

const at = (minutes: number) => new Date(NOW.getTime() + minutes * 60_000);

function incident(): WorkflowSnapshot {
  let w = snapshot("key-compromised", {
    number: 7,
    inputs: {
      environments: ["production"],
      severity: "critical",
      summary: "Key pasted in a CI log by <@U0DEV|dev>",
      foundBy: "secret scanner",
    },
    platformCounts: [{ platform: "SHOPIFY", count: 200 }],
    requestedBy: "U0ALICE",
  });
  w = withStep(w, "assess-scope", "DONE", { finishedBy: "U0ALICE", finishedAt: at(5) });
  w = withStep(w, "approve-rotation", "DONE", {
    finishedBy: "U0BOB",
    finishedAt: at(20),
    approval: { decision: "APPROVED", by: "U0BOB", at: at(20) },
  });
  w = withStep(w, "rotate", "DONE", {
    finishedBy: "keyops",
    finishedAt: at(30),
    result: { lines: ["production: v1 marked compromised"], rotations: [figures("production")] },
  });
  w = withStep(w, "notify-users", "SKIPPED", {
    finishedBy: "U0ALICE",
    finishedAt: at(40),
    skipReason: "no customer data left the building",
  });
  return { ...w, status: "RESOLVED", closedAt: at(72), closedBy: "keyops" };
}

const events: TimelineEvent[] = [
  {
    sequence: 1,
    at: NOW,
    actor: "U0ALICE",
    action: "workflow.started",
    detail: { environments: "production", severity: "critical" },
  },
  { sequence: 2, at: at(5), actor: "U0ALICE", action: "step.done", stepKey: "assess-scope", detail: {} },
  {
    sequence: 3,
    at: at(20),
    actor: "U0BOB",
    action: "approval.approved",
    stepKey: "approve-rotation",
    detail: {},
  },
  {
    sequence: 4,
    at: at(40),
    actor: "U0ALICE",
    action: "step.skipped",
    stepKey: "notify-users",
    detail: { reason: "no customer data left the building" },
  },
  { sequence: 5, at: at(72), actor: "keyops", action: "workflow.resolved", detail: {} },
];

describe("the post-mortem", () => {
  const w = incident();
  const titles = Object.fromEntries(w.steps.map((s) => [s.key, s.title]));
  const markdown = renderPostmortem(w, events, titles);

  it("sums up the incident: where, how bad, who, when, how long", () => {
    expect(markdown).toContain("# Post-mortem #7: Production encryption key compromised\n");
    expect(markdown).toContain(
      [
        "- Environment: production",
        "- Severity: critical",
        "- Declared by: @U0ALICE",
        "- Started: 2026-11-28 12:00:00 UTC",
        "- Ended: 2026-11-28 13:12:00 UTC (resolved)",
        "- Duration: 1 h 12 min",
      ].join("\n"),
    );
    expect(markdown).toContain(
      "## What happened\n\nKey pasted in a CI log by @dev\n\nHow it was found: secret scanner",
    );
  });

  it("tells the timeline in UTC with the thread's words, without Slack markup", () => {
    expect(markdown).toContain(
      [
        "- 2026-11-28 12:00:00 UTC @U0ALICE started the workflow (production, critical)",
        '- 2026-11-28 12:05:00 UTC @U0ALICE marked "Assess scope of compromise" done',
        '- 2026-11-28 12:20:00 UTC @U0BOB approved "Approve the key rotation"',
        '- 2026-11-28 12:40:00 UTC @U0ALICE skipped "Notify affected users": no customer data left the building',
        "- 2026-11-28 13:12:00 UTC KeyOps resolved the workflow: every step is done or skipped",
      ].join("\n"),
    );
    expect(markdown).not.toMatch(/<@|<!date/);
  });

  it("lists each step's outcome and the rotation's figures", () => {
    expect(markdown).toContain("- [x] Assess scope of compromise (done by @U0ALICE)");
    expect(markdown).toContain("- [x] Approve the key rotation (approved by @U0BOB)");
    expect(markdown).toContain(
      "- [x] Run the key rotation (done by KeyOps)\n  - production: v1 marked compromised",
    );
    expect(markdown).toContain(
      "- [ ] Notify affected users (skipped by @U0ALICE: no customer data left the building)",
    );
    expect(markdown).toContain("  - [ ] Shopify: 200 integrations (pending)");
    expect(markdown).toContain(
      "- production: 200,000 of 200,000 rows re-encrypted to v3 (fingerprint 1a2b3c4d), 0 failed, 41,200 rows/s, took 5 s, digest unchanged",
    );
  });

  it("leaves the learnings to the team", () => {
    expect(markdown).toContain(
      "## Learnings\n\n### What went well\n\n- \n\n### What to improve\n\n- \n\n### Follow-ups\n\n- [ ] \n",
    );
  });

  it("says when a workflow is still open", () => {
    const open = renderPostmortem({ ...w, status: "OPEN", closedAt: undefined }, events, titles);
    expect(open).toContain("- Ended: not yet (open)\n- Duration: 1 h 12 min so far");
  });
});
