import { describe, expect, it } from "vitest";
import { decodeStepRef, stepRefFromBlockId } from "../../src/views/ids.js";
import { blockKitProblems } from "../../src/views/limits.js";
import { progressLine, renderWorkflowMessage, STATUS_ICON } from "../../src/views/workflow-message.js";
import type { WorkflowSnapshot } from "../../src/workflows/types.js";
import {
  actionsByStep,
  done,
  figures,
  long,
  NOW,
  progress,
  REQUESTER,
  snapshot,
  step,
  visibleText,
  WORKFLOW_ID,
  withStep,
} from "./fixtures.js";

interface Element {
  type: string;
  action_id?: string;
  value?: string;
  style?: string;
  text?: { text: string };
  confirm?: unknown;
  placeholder?: { text: string };
}
interface Block {
  type: string;
  block_id?: string;
  text?: { type: string; text: string };
  fields?: { text: string }[];
  elements?: Element[];
}

function render(w: WorkflowSnapshot, now = NOW) {
  const message = renderWorkflowMessage(w, now);
  expect(blockKitProblems(message, "message")).toEqual([]);
  return { ...message, blocks: message.blocks as Block[], shown: visibleText(message.blocks) };
}

const stepElements = (blocks: Block[], key: string) =>
  blocks.find((b) => b.type === "actions" && b.block_id?.endsWith(`|${key}`))?.elements ?? [];

describe("the workflow message: which buttons each step gets", () => {
  it("a fresh key rotation: manual steps and the first automated step, nothing that waits", () => {
    const { blocks } = render(snapshot("key-rotate"));
    expect(actionsByStep(blocks)).toEqual({
      "backup-database": ["step_done", "step_skip", "step_assign"],
      "generate-key": ["step_run", "step_assign"],
      "store-backup": ["step_done", "step_skip", "step_assign"],
    });
    const [run] = stepElements(blocks, "generate-key");
    expect(run).toMatchObject({ type: "button", text: { text: "Generate key" }, style: "primary" });
    const assign = stepElements(blocks, "backup-database")[2];
    expect(assign).toMatchObject({ type: "users_select", placeholder: { text: "Assign…" } });
  });

  it("buttons carry the step ref; the actions block names the step for the users_select", () => {
    const { blocks } = render(snapshot("key-rotate"));
    const block = blocks.find((b) => b.block_id?.endsWith("|backup-database"));
    expect(stepRefFromBlockId(block?.block_id ?? "")).toEqual({
      workflowId: WORKFLOW_ID,
      stepKey: "backup-database",
    });
    for (const element of block?.elements ?? []) {
      if (element.type === "button") {
        expect(decodeStepRef(element.value ?? "")).toEqual({
          workflowId: WORKFLOW_ID,
          stepKey: "backup-database",
        });
      }
    }
  });

  it("an approval whose turn has come gets Approve and Reject, and no Skip or Assign", () => {
    const w = withStep(done(snapshot("key-rotate"), "generate-key"), "approval", "AWAITING_APPROVAL");
    const { blocks, shown } = render(w);
    expect(actionsByStep(blocks).approval).toEqual(["step_approve", "step_reject"]);
    expect(stepElements(blocks, "approval").map((e) => e.style)).toEqual(["primary", "danger"]);
    expect(shown).toContain(`${STATUS_ICON.AWAITING_APPROVAL} *Approval*`);
    expect(shown).toContain(`Waiting for an approver (not <@${REQUESTER}>)`);
  });

  it("a rejected approval can still be approved or rejected, and says who rejected it and why", () => {
    const w = withStep(done(snapshot("key-rotate"), "generate-key"), "approval", "FAILED", {
      approval: { decision: "REJECTED", by: "U0APPROVER", at: NOW, reason: "wrong window" },
      error: "rejected: wrong window",
    });
    const { blocks, shown } = render(w);
    expect(actionsByStep(blocks).approval).toEqual(["step_approve", "step_reject"]);
    expect(shown).toContain("Rejected by <@U0APPROVER>: wrong window");
    expect(shown).not.toContain("Failed: rejected");
  });

  it("a running rotation shows its progress and has no buttons", () => {
    const base = done(snapshot("key-rotate"), "generate-key", "approval");
    const { blocks, shown } = render(withStep(base, "reencrypt", "RUNNING"));
    expect(actionsByStep(blocks).reencrypt).toBeUndefined();
    expect(shown).toContain("`▓▓▓▓▓░░░░░` 52% · production re-encrypting · 104,000 / 200,000 rows");
    expect(shown).toContain("41,200 rows/s · ETA 3 s");
  });

  it("a failed rotation offers Retry only, and says how many rows failed", () => {
    const base = done(snapshot("key-rotate"), "generate-key", "approval");
    const w = withStep(base, "reencrypt", "FAILED", {
      error: "1,234 rows could not be re-encrypted",
      result: { lines: [], failedRows: 1_234 },
    });
    const { blocks, shown } = render(w);
    expect(actionsByStep(blocks).reencrypt).toEqual(["step_retry"]);
    expect(shown).toContain("*1,234 rows could not be re-encrypted* (left unchanged)");
  });

  it("an automatic step whose needs are done but that has not started gets no buttons", () => {
    const w = done(snapshot("key-rotate"), "generate-key", "approval");
    expect(actionsByStep(render(w).blocks).reencrypt).toBeUndefined();
  });

  it("a step run by hand whose needs are done gets its run label, Skip and Assign", () => {
    const w = done(snapshot("key-rotate"), "generate-key", "approval", "reencrypt", "verify");
    const { blocks } = render(w);
    expect(actionsByStep(blocks)["record-schedule"]).toEqual(["step_run", "step_skip", "step_assign"]);
    expect(stepElements(blocks, "record-schedule")[0]?.text?.text).toBe("Record");
  });

  it("a failed step run by hand offers Retry, Skip and Assign", () => {
    const w = withStep(snapshot("key-compromised"), "audit-access", "FAILED", { error: "database down" });
    const { blocks, shown } = render(w);
    expect(actionsByStep(blocks)["audit-access"]).toEqual(["step_retry", "step_skip", "step_assign"]);
    expect(shown).toContain("Failed: database down");
  });

  it("done and skipped steps lose their buttons and say who finished them, when, and why", () => {
    let w = done(snapshot("key-rotate"), "backup-database");
    w = withStep(w, "store-backup", "SKIPPED", {
      finishedBy: "U0SKIPPER",
      finishedAt: NOW,
      skipReason: "kept in the vault already",
    });
    const { blocks, shown } = render(w);
    expect(Object.keys(actionsByStep(blocks))).toEqual(["generate-key"]);
    expect(shown).toContain(
      `✅ *Back up the database* — done by <@U0COLLEAGU> <!date^${NOW.getTime() / 1000}^{time}|`,
    );
    expect(shown).toContain("⏭️ *Store the key backup* — skipped by <@U0SKIPPER>");
    expect(shown).toContain("Skipped: kept in the vault already");
  });

  it("an assigned step says so and preselects the assignee", () => {
    const w = withStep(snapshot("key-rotate"), "backup-database", "PENDING", { assignee: "U0ASSIGNEE" });
    const { blocks, shown } = render(w);
    expect(shown).toContain("Assigned to <@U0ASSIGNEE>");
    expect(stepElements(blocks, "backup-database")[2]).toMatchObject({ initial_user: "U0ASSIGNEE" });
  });

  it("an approved step and a finished rotation show the approver and the figures", () => {
    let w = done(snapshot("key-rotate"), "generate-key");
    w = withStep(w, "approval", "DONE", {
      finishedBy: "U0APPROVER",
      finishedAt: NOW,
      approval: { decision: "APPROVED", by: "U0APPROVER", at: NOW },
    });
    w = withStep(w, "reencrypt", "DONE", {
      finishedBy: "keyops",
      finishedAt: NOW,
      result: { lines: ["production: v2 marked compromised"], rotations: [figures("production")] },
    });
    const { shown } = render(w);
    expect(shown).toContain("✅ *Approval* — approved by <@U0APPROVER>");
    expect(shown).toContain("✅ *Re-encrypt* — done by KeyOps");
    expect(shown).toContain("> production: v2 marked compromised");
    expect(shown).toContain(
      "> production · 200,000 rows · 200,000 re-encrypted · 0 failed · 41,200 rows/s · digest unchanged ✓ · to v3 (1a2b3c4d)",
    );
  });

  it("sub-steps are indented under their parent", () => {
    const w = snapshot("key-compromised", { platformCounts: [{ platform: "SHOPIFY", count: 200 }] });
    const { shown } = render(w);
    expect(shown).toContain("      ↳ ⬜ *Shopify: 200 integrations*");
    expect(shown).toContain("⬜ *Revoke compromised platform tokens*");
  });
});

describe("the workflow message: head and paging", () => {
  it("header is #number and title, cut to 150 characters", () => {
    const { blocks } = render(snapshot("key-rotate", { title: long(300, "T"), number: 987_654 }));
    const header = blocks[0];
    expect(header?.type).toBe("header");
    expect(header?.text?.text).toHaveLength(150);
    expect(header?.text?.text.startsWith("#987654 TTT")).toBe(true);
    expect(header?.text?.text.endsWith("…")).toBe(true);
  });

  it("a mention in the title stays out of the plain-text header; the fields name the person", () => {
    const w = snapshot("offboard", { inputs: { environments: ["production"], subjectUserId: "U0LEAVER" } });
    const { blocks, text } = render(w);
    expect(blocks[0]?.text?.text).toBe("#12 Offboarding");
    expect(blocks[1]?.fields?.map((f) => f.text)).toContain("*Leaving*\n<@U0LEAVER>");
    expect(text).toBe("#12 Offboarding <@U0LEAVER>: open");
  });

  it("fields: environments, status, who declared it, severity", () => {
    const w = snapshot("key-compromised", { inputs: { environments: ["production"], severity: "critical" } });
    const fields = render(w).blocks[1]?.fields?.map((f) => f.text);
    expect(fields).toEqual([
      "*Environment*\nproduction",
      "*Status*\n🟠 Open",
      `*Declared by*\n<@${REQUESTER}>`,
      `*Started*\n<!date^${NOW.getTime() / 1000}^{date_short_pretty} {time}|2026-11-28T12:00:00.000Z>`,
      "*Severity*\ncritical",
    ]);
  });

  it("a deadline is shown in the reader's zone, and flagged overdue only while open and past", () => {
    const w = snapshot("offboard", { inputs: { environments: ["production"], subjectUserId: "U0LEAVER" } });
    const deadline = w.deadlineAt ?? new Date(0);
    const field = (now: Date, ww = w) =>
      render(ww, now).blocks[1]?.fields?.find((f) => f.text.startsWith("*Rotate by*"))?.text;
    expect(field(NOW)).toBe(
      `*Rotate by*\n<!date^${deadline.getTime() / 1000}^{date_short_pretty} {time}|${deadline.toISOString()}>`,
    );
    const late = new Date(deadline.getTime() + 1);
    expect(field(late)).toContain("⚠️ *overdue*");
    expect(field(late, { ...w, status: "RESOLVED", closedAt: late, closedBy: "keyops" })).not.toContain(
      "overdue",
    );
  });

  it("what people typed is escaped, so it cannot ping @channel, but a user mention still works", () => {
    const w = snapshot("key-compromised", {
      inputs: {
        environments: ["staging"],
        summary: "<!channel> & <@U0FINDER|finder> saw it",
        foundBy: "a <script>",
      },
    });
    const { shown } = render(w);
    expect(shown).toContain("*What happened:* &lt;!channel&gt; &amp; <@U0FINDER> saw it");
    expect(shown).toContain("*How it was found:* a &lt;script&gt;");
    expect(shown).not.toContain("<!channel>");
  });

  const pageCases: [WorkflowSnapshot["page"], string, string[]][] = [
    [{ status: "off", onCall: [] }, "🔕 Paging is off (PagerDuty not configured)", []],
    [{ status: "paging", onCall: [] }, "📟 Paging on-call via PagerDuty…", []],
    [
      { status: "paging", onCall: [], error: "HTTP 500 (try 1 of 3)" },
      "⚠️ Paging failed: HTTP 500 (try 1 of 3); retrying",
      [],
    ],
    [
      { status: "triggered", onCall: ["U0ONCALL1", "U0ONCALL2"] },
      "📟 Paged via PagerDuty · on call: <@U0ONCALL1> <@U0ONCALL2>",
      ["page_acknowledge", "page_resolve"],
    ],
    [
      { status: "acknowledged", onCall: ["U0ONCALL1"], by: "U0ONCALL1", at: NOW },
      `✋ Acknowledged by <@U0ONCALL1> at <!date^${NOW.getTime() / 1000}^{time}|2026-11-28T12:00:00.000Z> · on call: <@U0ONCALL1>`,
      ["page_resolve"],
    ],
    [{ status: "acknowledged", onCall: [], by: "Ona Call" }, "✋ Acknowledged by Ona Call", ["page_resolve"]],
    [{ status: "resolved", onCall: [] }, "✔️ Page resolved", []],
    [
      { status: "failed", onCall: [], error: "HTTP 400; gave up after 3 tries" },
      "⚠️ Paging failed: HTTP 400; gave up after 3 tries",
      ["page_again"],
    ],
  ];
  it.each(pageCases)("paging %o", (page, line, actions) => {
    const w = { ...snapshot("key-rotate"), page };
    const { blocks } = render(w);
    const context = blocks.find((b) => b.type === "context") as { elements: { text: string }[] } | undefined;
    expect(context?.elements[0]?.text).toBe(line);
    const pageBlock = blocks.find((b) => b.block_id === "page");
    expect(pageBlock?.elements?.map((e) => e.action_id) ?? []).toEqual(actions);
    for (const element of pageBlock?.elements ?? []) expect(element.value).toBe(WORKFLOW_ID);
    const closed = render({
      ...w,
      status: "CANCELLED",
      closedAt: NOW,
      closedBy: REQUESTER,
      closeReason: "no",
    });
    expect(closed.blocks.find((b) => b.block_id === "page")).toBeUndefined();
  });
});

describe("the workflow message: footer", () => {
  it("an open workflow ends with a Cancel button that asks for confirmation", () => {
    const { blocks } = render(snapshot("key-rotate"));
    const last = blocks.at(-1);
    expect(last?.block_id).toBe("workflow");
    expect(last?.elements?.[0]).toMatchObject({
      action_id: "workflow_cancel",
      value: WORKFLOW_ID,
      style: "danger",
    });
    expect(last?.elements?.[0]?.confirm).toBeDefined();
  });

  it("a resolved workflow has no buttons and sums up: how long, who did what, the rotation", () => {
    let w = snapshot("key-rotate");
    for (const s of w.steps) {
      w = withStep(w, s.key, "DONE", { finishedBy: s.action ? "keyops" : "U0ALICE", finishedAt: NOW });
    }
    w = withStep(w, "approval", "DONE", { approval: { decision: "APPROVED", by: "U0BOB", at: NOW } });
    w = withStep(w, "reencrypt", "DONE", { result: { lines: [], rotations: [figures("production")] } });
    const closedAt = new Date(NOW.getTime() + 72 * 60_000);
    const { blocks, shown, text } = render({ ...w, status: "RESOLVED", closedAt, closedBy: "keyops" });
    expect(blocks.filter((b) => b.type === "actions")).toEqual([]);
    expect(text).toBe("#12 Production key rotation: resolved");
    const summary = blocks.at(-1)?.text?.text;
    expect(summary).toBe(
      [
        "*Resolved*: every step done or skipped · took 1 h 12 min",
        "Who did what: <@U0ALICE> 2 steps, KeyOps 5 steps, <@U0BOB> 1 step",
        "Rotation production: 200,000 of 200,000 rows to v3 (1a2b3c4d) in 5 s, 41,200 rows/s, 0 failed, digest unchanged ✓",
      ].join("\n"),
    );
    expect(shown).toContain("🟢 Resolved");
  });

  it("a cancelled workflow says who cancelled it and why", () => {
    const w = snapshot("key-rotate");
    const closedAt = new Date(NOW.getTime() + 5 * 60_000);
    const { blocks } = render({
      ...w,
      status: "CANCELLED",
      closedAt,
      closedBy: REQUESTER,
      closeReason: "opened by mistake",
    });
    expect(blocks.at(-1)?.text?.text).toBe(`*Cancelled* by <@${REQUESTER}>: opened by mistake · took 5 min`);
    expect(blocks.filter((b) => b.type === "actions")).toEqual([]);
  });
});

describe("the workflow message under the 50-block limit", () => {
  const platforms = Array.from({ length: 40 }, (_, i) => ({
    platform: `PLATFORM${i}`,
    count: 1_000_000 + i,
  }));

  it("40 platforms: the first open steps keep their buttons, the rest are listed and counted", () => {
    const w = snapshot("key-compromised", { platformCounts: platforms });
    const { blocks, shown } = render(w);
    expect(blocks.length).toBeLessThanOrEqual(50);
    const withButtons = Object.keys(actionsByStep(blocks));
    const open = w.steps.filter((s) => !s.needs).map((s) => s.key);
    expect(withButtons.length).toBeGreaterThan(5);
    expect(withButtons).toEqual(open.slice(0, withButtons.length));
    const withheld = open.length - withButtons.length;
    expect(shown).toContain(`_${withheld} more open steps — finish the ones above first_`);
    for (const s of w.steps) expect(shown, s.key).toContain(`*${s.title}*`);
  });

  it("as steps get done, closed steps shrink to one line and later steps get their buttons", () => {
    let w = snapshot("key-compromised", { platformCounts: platforms });
    const subSteps = w.steps.filter((s) => s.parent).map((s) => s.key);
    w = done(w, "assess-scope", "generate-key", "audit-access", ...subSteps.slice(0, 30));
    const { blocks, shown } = render(w);
    const withButtons = Object.keys(actionsByStep(blocks));
    expect(withButtons).toContain(subSteps[39]);
    expect(withButtons).toContain("document");
    expect(shown).not.toContain("more open steps");
    // Closed steps share sections: far fewer sections than steps.
    expect(blocks.filter((b) => b.type === "section").length).toBeLessThan(w.steps.length);
    for (const s of w.steps) expect(shown, s.key).toContain(`*${s.title}*`);
  });

  it("a running rotation keeps its progress bar even when squeezed", () => {
    let w = snapshot("key-compromised", { platformCounts: platforms });
    w = withStep(done(w, "generate-key", "approve-rotation"), "rotate", "RUNNING");
    const { shown } = render(w);
    expect(shown).toContain(progressLine(progress()));
  });

  it("block ids stay unique, even if two steps share a key", () => {
    const w = snapshot("key-rotate");
    const twin = { ...step(w, "backup-database"), title: "Back up again" };
    const { blocks, shown } = render({ ...w, steps: [...w.steps, twin] });
    const ids = blocks.flatMap((b) => (b.block_id ? [b.block_id] : []));
    expect(new Set(ids).size).toBe(ids.length);
    expect(shown).toContain("*Back up again*");
  });

  it("hundreds of steps: whatever cannot be shown is counted, never silently dropped", () => {
    const many = Array.from({ length: 2500 }, (_, i) => ({ platform: `P${i}${long(40, "Q")}`, count: i }));
    const w = snapshot("key-compromised", { platformCounts: many });
    const { blocks, shown } = render(w);
    expect(blocks.length).toBeLessThanOrEqual(50);
    const match = /…and ([\d,]+) more steps not shown/.exec(shown);
    expect(match).not.toBeNull();
    const hidden = Number((match?.[1] ?? "0").replace(/,/g, ""));
    const listed = w.steps.filter(
      (s) => shown.includes(`*${s.title}*`) || shown.includes(`*${s.title.slice(0, 20)}`),
    );
    expect(listed.length + hidden).toBeGreaterThanOrEqual(w.steps.length);
  });
});

describe("a step that offers workflows to start (quarterly maintenance's schedule review)", () => {
  const offers = [
    {
      kind: "key-rotate",
      label: "Start /key-rotate production",
      inputs: { environments: ["production" as const], summary: "due" },
    },
    {
      kind: "key-rotate",
      label: "Start /key-rotate staging",
      inputs: { environments: ["staging" as const] },
    },
  ];
  const reviewed = withStep(
    snapshot("quarterly-maintenance", {
      inputs: { environments: ["production", "staging"], period: "2027-Q1" },
    }),
    "review-schedule",
    "DONE",
    {
      finishedBy: "keyops",
      result: { lines: ["production: never rotated through KeyOps (v1 active): due now"], offers },
    },
  );

  it("shows one button per offer under the step while the workflow is open, naming step and offer", () => {
    const blocks = render(reviewed).blocks as Block[];
    const block = blocks.find(
      (b) => b.type === "actions" && b.block_id === `step|${WORKFLOW_ID}|review-schedule`,
    );
    expect(block?.elements?.map((e) => [e.action_id, e.text?.text, e.value])).toEqual([
      ["workflow_start_offered_0", "Start /key-rotate production", `${WORKFLOW_ID}|review-schedule#0`],
      ["workflow_start_offered_1", "Start /key-rotate staging", `${WORKFLOW_ID}|review-schedule#1`],
    ]);
    const fields = JSON.stringify(blocks[1]);
    expect(fields).toContain("*Period*\\n2027-Q1");
    expect(fields).toContain("*Due*");
  });

  it("offers nothing once the workflow is closed", () => {
    const closed = { ...reviewed, status: "RESOLVED" as const, closedAt: NOW };
    expect(JSON.stringify(render(closed).blocks)).not.toContain("workflow_start_offered");
  });
});
