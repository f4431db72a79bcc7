import { describe, expect, it } from "vitest";
import { decodeMetadata } from "../../src/views/ids.js";
import {
  cancelWorkflowModal,
  declareIncidentModal,
  readDeclareIncident,
  readReason,
  rejectApprovalModal,
  skipStepModal,
} from "../../src/views/modals.js";

interface InputBlock {
  type: string;
  block_id?: string;
  text?: { text: string };
  element?: Record<string, unknown> & { initial_option?: { value: string }; options?: { value: string }[] };
}

const ref = { workflowId: "wf-1", stepKey: "notify-users" };
const blocksOf = (view: { blocks: unknown[] }) => view.blocks as InputBlock[];

describe("reason modals", () => {
  it.each([
    [
      "skip",
      skipStepModal(ref, "Notify affected users", "C1"),
      "skip_step",
      "Skip a step",
      "Skip",
      "notify-users",
    ],
    [
      "reject",
      rejectApprovalModal(ref, "Approval", "C1"),
      "reject_approval",
      "Reject",
      "Reject",
      "notify-users",
    ],
    [
      "cancel",
      cancelWorkflowModal("wf-1", "Production key rotation", "C1"),
      "cancel_workflow",
      "Cancel workflow",
      "Cancel it",
      undefined,
    ],
  ])(
    "%s: callback id, title, metadata and one reason field",
    (_, view, callbackId, title, submit, stepKey) => {
      expect(view.callback_id).toBe(callbackId);
      expect(view.title.text).toBe(title);
      expect(view.submit?.text).toBe(submit);
      expect(decodeMetadata(view.private_metadata)).toEqual({
        workflowId: "wf-1",
        channelId: "C1",
        ...(stepKey ? { stepKey } : {}),
      });
      const input = blocksOf(view).find((b) => b.type === "input");
      expect(input?.block_id).toBe("reason");
      expect(input?.element).toMatchObject({
        type: "plain_text_input",
        action_id: "reason",
        multiline: true,
        min_length: 3,
        max_length: 500,
      });
    },
  );

  it("asks about the step by name, escaped", () => {
    expect(blocksOf(skipStepModal(ref, "Shopify <tokens>", "C1"))[0]?.text?.text).toBe(
      "Why skip *Shopify &lt;tokens&gt;*?",
    );
    expect(blocksOf(cancelWorkflowModal("wf-1", "Offboarding <@U0LEAVER>", "C1"))[0]?.text?.text).toBe(
      "Why cancel *Offboarding <@U0LEAVER>*? Steps already done stay done.",
    );
  });

  it("reads the reason trimmed, and asks again when it is too short", () => {
    expect(readReason({ reason: { reason: { value: "  no data exposed " } } })).toBe("no data exposed");
    expect(readReason({ reason: { reason: { value: " a " } } })).toEqual({
      errors: { reason: "Give a reason of at least 3 characters." },
    });
    expect(readReason({})).toEqual({ errors: { reason: "Give a reason of at least 3 characters." } });
    expect(readReason({ reason: { reason: { value: null } } })).toHaveProperty("errors");
  });
});

describe("the incident form", () => {
  const field = (view: { blocks: unknown[] }, id: string) =>
    blocksOf(view).find((b) => b.block_id === id)?.element;

  it("asks where, what, how found and how bad; severity follows the environment", () => {
    const production = declareIncidentModal({ defaultEnvironment: "production", channelId: "C1" });
    expect(production.callback_id).toBe("declare_incident");
    expect(blocksOf(production).map((b) => b.block_id)).toEqual([
      "environment",
      "summary",
      "found_by",
      "severity",
    ]);
    expect(field(production, "environment")?.options?.map((o) => o.value)).toEqual([
      "development",
      "staging",
      "production",
    ]);
    expect(field(production, "environment")?.initial_option?.value).toBe("production");
    expect(field(production, "severity")?.options?.map((o) => o.value)).toEqual([
      "critical",
      "high",
      "medium",
      "low",
    ]);
    expect(field(production, "severity")?.initial_option?.value).toBe("critical");
    expect(field(production, "summary")).toMatchObject({ multiline: true });
    expect(decodeMetadata(production.private_metadata)).toEqual({ workflowId: "", channelId: "C1" });

    const staging = declareIncidentModal({ defaultEnvironment: "staging", channelId: "C1" });
    expect(field(staging, "severity")?.initial_option?.value).toBe("high");
  });

  it("can be opened with the environment and the summary filled in", () => {
    const view = declareIncidentModal({
      defaultEnvironment: "staging",
      environment: "production",
      summary: "  key in a gist ",
      channelId: "C1",
    });
    expect(field(view, "environment")?.initial_option?.value).toBe("production");
    expect(field(view, "severity")?.initial_option?.value).toBe("critical");
    expect(field(view, "summary")?.initial_value).toBe("key in a gist");
  });

  it("names each missing or foreign field by its block id", () => {
    expect(readDeclareIncident({})).toEqual({
      errors: {
        environment: "Choose an environment.",
        severity: "Choose a severity.",
        summary: "Say what was exposed.",
      },
    });
    expect(
      readDeclareIncident({
        environment: { environment: { selected_option: { value: "prod" } } },
        severity: { severity: { selected_option: { value: "apocalyptic" } } },
        summary: { summary: { value: "key in a gist" } },
      }),
    ).toEqual({ errors: { environment: "Choose an environment.", severity: "Choose a severity." } });
  });

  it("returns the answers, trimmed, with no foundBy when left empty", () => {
    const values = {
      environment: { environment: { selected_option: { value: "production" } } },
      severity: { severity: { selected_option: { value: "critical" } } },
      summary: { summary: { value: " key in a gist " } },
    };
    expect(readDeclareIncident({ ...values, found_by: { found_by: { value: "" } } })).toEqual({
      environment: "production",
      severity: "critical",
      summary: "key in a gist",
      foundBy: undefined,
    });
    expect(readDeclareIncident({ ...values, found_by: { found_by: { value: " scanner " } } })).toMatchObject({
      foundBy: "scanner",
    });
  });
});
