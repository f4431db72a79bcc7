import { describe, expect, it } from "vitest";
import {
  decodeMetadata,
  decodeStepRef,
  encodeMetadata,
  encodeStepRef,
  MalformedRefError,
  stepBlockId,
  stepRefFromBlockId,
} from "../../src/views/ids.js";
import { readDeclareIncident, readReason } from "../../src/views/modals.js";
import { renderPostmortem } from "../../src/views/postmortem.js";
import { progressLine, renderWorkflowMessage } from "../../src/views/workflow-message.js";
import { beginWorkflow } from "../../src/workflows/begin.js";
import { keyRotate } from "../../src/workflows/definitions/key-rotate.js";

const NOW = new Date("2026-11-28T12:00:00Z");

describe("refs carried by buttons, blocks and modals", () => {
  it("round-trip, and anything else is refused as not ours", () => {
    const ref = { workflowId: "wf-1", stepKey: "revoke-tokens.shopify" };
    expect(decodeStepRef(encodeStepRef(ref))).toEqual(ref);
    expect(stepRefFromBlockId(stepBlockId(ref))).toEqual(ref);
    expect(decodeMetadata(encodeMetadata({ workflowId: "wf-1", channelId: "C1" }))).toEqual({
      workflowId: "wf-1",
      channelId: "C1",
    });
    for (const bad of ["", "no-separator", "|step", "wf|"])
      expect(() => decodeStepRef(bad)).toThrow(MalformedRefError);
    expect(() => stepRefFromBlockId("page")).toThrow(MalformedRefError);
    expect(() => decodeMetadata("{not json")).toThrow(MalformedRefError);
    expect(() => decodeMetadata(JSON.stringify({ stepKey: "x" }))).toThrow(MalformedRefError);
  });
});

describe("modal input", () => {
  it("a reason is trimmed and must have three characters", () => {
    expect(readReason({ reason: { reason: { value: "  no data exposed " } } })).toBe("no data exposed");
    expect(readReason({ reason: { reason: { value: " a " } } })).toEqual({
      errors: { reason: "Give a reason of at least 3 characters." },
    });
    expect(readReason({})).toHaveProperty("errors");
  });

  it("the incident form names each missing field", () => {
    expect(readDeclareIncident({})).toEqual({
      errors: {
        environment: "Choose an environment.",
        severity: "Choose a severity.",
        summary: "Say what was exposed.",
      },
    });
    expect(
      readDeclareIncident({
        environment: { environment: { selected_option: { value: "production" } } },
        severity: { severity: { selected_option: { value: "critical" } } },
        summary: { summary: { value: "key in a gist" } },
        found_by: { found_by: { value: "" } },
      }),
    ).toEqual({
      environment: "production",
      severity: "critical",
      summary: "key in a gist",
      foundBy: undefined,
    });
  });
});

describe("the workflow message", () => {
  const { workflow } = beginWorkflow(
    keyRotate,
    {
      id: "wf-1",
      inputs: { environments: ["staging"], summary: "<!channel> & friends" },
      platformCounts: [],
      requestedBy: "U1",
      channelId: "C1",
      page: { status: "off", onCall: [] },
    },
    NOW,
  );

  it("escapes what people typed, so it cannot mention @channel", () => {
    const text = JSON.stringify(renderWorkflowMessage({ ...workflow, number: 3 }, NOW).blocks);
    expect(text).toContain("&lt;!channel&gt; &amp; friends");
    expect(text).not.toContain("<!channel>");
  });

  it("shows a progress bar with rate and ETA", () => {
    expect(
      progressLine({
        environment: "production",
        phase: "reencrypt",
        done: 104_000,
        total: 200_000,
        rowsPerSecond: 41_200,
        etaSeconds: 3,
        updatedAt: NOW,
      }),
    ).toBe(
      "`▓▓▓▓▓▓▓▓▓▓░░░░░░░░░░` 52% · production reencrypt · 104,000 / 200,000 rows · 41,200 rows/s · ETA 3 s",
    );
  });

  it("the post-mortem lists the timeline in UTC and leaves learnings to the team", () => {
    const markdown = renderPostmortem(
      { ...workflow, number: 3 },
      [
        {
          sequence: 1,
          at: NOW,
          actor: "U1",
          action: "workflow.started",
          detail: { environments: "staging" },
        },
      ],
      {},
    );
    expect(markdown).toContain("- 2026-11-28 12:00:00 UTC @U1 started the workflow (staging)");
    expect(markdown).toContain("## Learnings");
    expect(markdown).toContain("- [ ] Back up the database");
  });
});
