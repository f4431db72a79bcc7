import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  APPROVER,
  BYSTANDER,
  eventually,
  REQUESTER,
  SECURITY_CHANNEL,
  startTestBot,
  type TestBot,
} from "../support/bot.js";
import { PagerDutyStandin } from "../support/pagerduty/standin.js";
import { WorkflowDriver } from "../support/workflow-driver.js";

const ONCALL = "U0ONCALLXX";
const ROWS = 120;
const METRICS_TOKEN = "m".repeat(40);
let pd: PagerDutyStandin;
let app: TestBot;

beforeAll(async () => {
  pd = await PagerDutyStandin.start();
  pd.setOnCall([{ name: "Ona Call", email: "ona@example.com", escalationLevel: 1 }]);
  app = await startTestBot({
    rows: ROWS,
    pagerDutyAgent: pd.agent,
    env: {
      ...pd.settings(),
      KEYOPS_METRICS: `bearer:${METRICS_TOKEN}`,
    },
  });
  app.slack.setUser(ONCALL, { email: "ona@example.com", name: "ona" });
});

afterAll(async () => {
  await app?.stop();
  await pd?.close();
});

/** Every live row's ciphertext, byte for byte, by id. */
async function liveCiphertexts(): Promise<string[]> {
  const { rows } = await app.database.db.pool.query<{ id: string; credentials: string }>(
    `SELECT "id", "credentials" FROM "PlatformIntegration" ORDER BY "id"`,
  );
  return rows.map((r) => `${r.id}=${r.credentials}`);
}

/** The live keyring's versions and states (fingerprints and times included). */
async function liveKeyStates(): Promise<unknown> {
  return JSON.stringify(await app.bot.runtime.engine.keys.list("production"));
}

async function scratchLeft(): Promise<{ schemas: number; keyrings: number }> {
  const { rows } = await app.database.db.pool.query<{ n: number }>(
    "SELECT count(*)::int AS n FROM pg_namespace WHERE nspname LIKE 'keyops\\_drill\\_%'",
  );
  const keyrings = await app.bot.runtime.engine.keys.keyringsStartingWith("drill:");
  return { schemas: rows[0]?.n ?? -1, keyrings: keyrings.length };
}

async function metricsText(): Promise<string> {
  const response = await fetch(`http://127.0.0.1:${app.bot.port}/metrics`, {
    headers: { authorization: `Bearer ${METRICS_TOKEN}` },
  });
  expect(response.status).toBe(200);
  return response.text();
}

async function statusText(): Promise<string> {
  const before = app.slack.callsOf("chat.postEphemeral").length;
  await app.client.command("/keyops", "status", { userId: REQUESTER, channelId: SECURITY_CHANNEL });
  const reply = await eventually("the status reply", async () =>
    app.slack
      .callsOf("chat.postEphemeral")
      .slice(before)
      .find((c) => c.args.text === "KeyOps status"),
  );
  return JSON.stringify(reply.args.blocks);
}

describe("drills: the same workflow, rehearsed on a scratch copy", () => {
  it("/key-compromised drill: DRILL everywhere, paged at info, rotated on a copy, live rows and keys untouched, response times in the post-mortem", async () => {
    const engine = app.bot.runtime.engine;
    const ciphertextsBefore = await liveCiphertexts();
    const keysBefore = await liveKeyStates();
    expect(ciphertextsBefore).toHaveLength(ROWS);

    const drill = await WorkflowDriver.start(app, "/key-compromised", "drill production", REQUESTER);
    expect(drill.messageText()).toContain("[DRILL] Production encryption key compromised");
    const started = await drill.state();
    expect(started.inputs.drill).toBe(true);

    const trigger = await eventually("the page", async () =>
      pd.events().find((e) => e.dedup_key === drill.workflowId && e.event_action === "trigger"),
    );
    expect(trigger.payload?.severity).toBe("info");
    expect(trigger.payload?.summary).toContain("[DRILL]");

    // Not an open incident in /keyops status.
    expect(await statusText()).not.toContain("DRILL");

    await eventually("on-call in the message", async () => drill.messageText().includes(`<@${ONCALL}>`));
    await drill.click(ONCALL, "page", "page_acknowledge");
    await eventually("the acknowledgement", async () =>
      drill.messageText().includes(`Acknowledged by <@${ONCALL}>`),
    );

    await drill.click(REQUESTER, "generate-key", "step_run");
    await drill.waitForStep("generate-key", "DONE");
    expect(drill.messageText()).toContain("production (drill copy): v2 generated");
    expect(await liveKeyStates()).toBe(keysBefore);
    expect(await scratchLeft()).toEqual({ schemas: 1, keyrings: 1 });

    // The two-person rule holds in a drill too; the refusal is a drill's audit event.
    await drill.click(REQUESTER, "approve-rotation", "step_approve");
    expect(await drill.ephemeralTo(REQUESTER)).toMatch(/two-person rule/);
    await drill.click(APPROVER, "approve-rotation", "step_approve");
    await drill.waitForStep("rotate", "DONE", 60_000);
    expect(drill.messageText()).toContain(
      `production (drill copy): ${ROWS} of ${ROWS} rows re-encrypted to v2`,
    );
    // The live rows and key states are as they were; the copy was rotated for real.
    expect(await liveCiphertexts()).toEqual(ciphertextsBefore);
    expect(await liveKeyStates()).toBe(keysBefore);
    const scratchKeyring = (await engine.keys.keyringsStartingWith("drill:"))[0] as "production";
    const scratch = await engine.verify(scratchKeyring);
    expect(scratch).toMatchObject({ rows: ROWS, failed: 0, notOnActive: 0, activeVersion: 2 });
    // Not a figure: no open workflow counted, no rows re-encrypted, no rotation in the metrics.
    const metrics = await metricsText();
    expect(metrics).toMatch(/^keyops_workflows_open\{kind="key-compromised"\} 0$/m);
    expect(metrics).not.toMatch(/^keyops_rotation_rows_reencrypted_total\{/m);
    expect(metrics).not.toMatch(/^keyops_rotation_runs_finished_total\{/m);
    expect(metrics).not.toContain("drill:");
    const scratchVersions = await engine.keys.list(scratchKeyring);
    expect(scratchVersions.find((v) => v.version === 1)?.state).toBe("COMPROMISED");

    await drill.click(BYSTANDER, "audit-access", "step_run");
    await drill.waitForStep("audit-access", "DONE");
    for (const step of [
      "assess-scope",
      "revoke-tokens",
      "revoke-tokens.shopify",
      "revoke-tokens.amazon",
      "notify-users",
    ]) {
      await drill.click(BYSTANDER, step, "step_done");
      await drill.waitForStep(step, "DONE");
    }
    await drill.click(REQUESTER, "document", "step_run");
    await drill.waitForStep("document", "DONE");

    const postmortem = app.slack.uploadedFiles().find((f) => f.threadTs === drill.messageTs)?.content ?? "";
    expect(postmortem).toContain("[DRILL] Production encryption key compromised");
    expect(postmortem).toContain("## Drill: response times");
    expect(postmortem).toMatch(/- To acknowledge: \d/);
    expect(postmortem).toMatch(/- To approval: \d/);
    expect(postmortem).toMatch(/- To rotation done: \d/);
    expect(postmortem).toMatch(
      new RegExp(
        `Rotating production's live targets \\(${ROWS} rows\\) would take (about|under) [^,]+ at the measured [\\d,]+ rows/s`,
      ),
    );

    expect((await drill.state()).status).toBe("RESOLVED");
    // The copy is dropped at the end; the live rows and keys are byte for byte what they were.
    await eventually("the scratch copy dropped", async () => {
      const left = await scratchLeft();
      return left.schemas === 0 && left.keyrings === 0;
    });
    expect(await liveCiphertexts()).toEqual(ciphertextsBefore);
    expect(await liveKeyStates()).toBe(keysBefore);

    // DRILL in the audit log (every event) and on every thread line. The page's resolution comes
    // back after the workflow resolved: wait for it, then for a line per event.
    const timeline = await eventually("the page resolved", async () => {
      const events = await app.bot.service.timeline(drill.workflowId);
      return events.some((e) => e.action === "page.resolved") ? events : undefined;
    });
    expect(timeline.length).toBeGreaterThan(10);
    expect(timeline.map((e) => e.action)).toContain("permission.refused");
    expect(timeline.filter((e) => e.detail.drill !== true).map((e) => e.action)).toEqual([]);
    await eventually("a thread line per event", async () => {
      const events = await app.bot.service.timeline(drill.workflowId);
      const lines = drill.thread().filter((m) => m.text?.includes("<!date^"));
      return lines.length === events.length;
    });
    const lines = drill.thread().filter((m) => m.text?.includes("<!date^"));
    expect(lines.filter((m) => !m.text?.startsWith("*[DRILL]*"))).toEqual([]);
    // No live rotation was recorded: the schedule is not the drill's.
    expect(await app.bot.service.rotationSchedules()).toEqual([]);
  });

  it("/key-rotate drill cancelled mid-way drops its copy; /offboard has no drill", async () => {
    const ciphertextsBefore = await liveCiphertexts();
    const drill = await WorkflowDriver.start(app, "/key-rotate", "drill", REQUESTER);
    expect(drill.messageText()).toContain("[DRILL] Production key rotation");
    await drill.click(REQUESTER, "generate-key", "step_run");
    await drill.waitForStep("generate-key", "DONE");
    expect(await scratchLeft()).toEqual({ schemas: 1, keyrings: 1 });
    await drill.clickWithReason(REQUESTER, "workflow", "workflow_cancel", "rehearsal over");
    await drill.waitForStatus("CANCELLED");
    await eventually("the scratch copy dropped", async () => {
      const left = await scratchLeft();
      return left.schemas === 0 && left.keyrings === 0;
    });
    expect(await liveCiphertexts()).toEqual(ciphertextsBefore);

    const refused = await app.client.command("/offboard", "drill", {
      userId: REQUESTER,
      channelId: SECURITY_CHANNEL,
    });
    expect(refused.status).toBe(200);
    expect(JSON.stringify(refused.json())).toContain("/offboard has no drill");
  });
});

describe("drills with KEYOPS_DRILL_PAGE=off", () => {
  it("pages nobody for a drill, while an incident that is not a drill still pages", async () => {
    const quiet = await startTestBot({
      rows: 5,
      pagerDutyAgent: pd.agent,
      env: {
        PAGERDUTY_ROUTING_KEY: `R${"e".repeat(31)}`,
        PAGERDUTY_EVENTS_HOST: pd.host,
        PAGERDUTY_API_HOST: pd.host,
        PAGERDUTY_RETRY_DELAY_SECONDS: "0.05",
        KEYOPS_DRILL_PAGE: "off",
      },
    });
    try {
      const drill = await WorkflowDriver.start(quiet, "/key-rotate", "drill staging", REQUESTER);
      expect(drill.messageText()).toContain("[DRILL] Staging key rotation");
      const real = await WorkflowDriver.start(quiet, "/key-rotate", "staging", REQUESTER);
      await eventually("the real rotation's page", async () =>
        pd.events().some((e) => e.dedup_key === real.workflowId && e.event_action === "trigger"),
      );
      expect((await drill.state()).page.status).toBe("off");
      expect(pd.events().filter((e) => e.dedup_key === drill.workflowId)).toEqual([]);
    } finally {
      await quiet.stop();
    }
  });
});
