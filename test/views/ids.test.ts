import { describe, expect, it } from "vitest";
import {
  ACTION,
  decodeMetadata,
  decodeStepRef,
  encodeMetadata,
  encodeOfferRef,
  encodeStepRef,
  MalformedRefError,
  offerActionId,
  stepBlockId,
  stepRefFromBlockId,
  VIEW,
  workflowIdOfAction,
} from "../../src/views/ids.js";

describe("ids and refs", () => {
  it("names every action and modal once", () => {
    expect(ACTION).toEqual({
      done: "step_done",
      skip: "step_skip",
      assign: "step_assign",
      run: "step_run",
      approve: "step_approve",
      reject: "step_reject",
      retry: "step_retry",
      cancel: "workflow_cancel",
      pageAcknowledge: "page_acknowledge",
      pageResolve: "page_resolve",
      pageAgain: "page_again",
      startOffered: "workflow_start_offered",
    });
    expect(VIEW).toEqual({
      skipStep: "skip_step",
      rejectApproval: "reject_approval",
      cancelWorkflow: "cancel_workflow",
      declareIncident: "declare_incident",
    });
    expect(new Set(Object.values(ACTION)).size).toBe(Object.keys(ACTION).length);
  });

  it("a step ref round-trips through a button value and an actions block id", () => {
    const ref = { workflowId: "3f0b6a0e-8a7e-4bde-9d55-7c0e3a1f9a11", stepKey: "revoke-tokens.shopify" };
    expect(encodeStepRef(ref)).toBe("3f0b6a0e-8a7e-4bde-9d55-7c0e3a1f9a11|revoke-tokens.shopify");
    expect(decodeStepRef(encodeStepRef(ref))).toEqual(ref);
    expect(stepBlockId(ref)).toBe("step|3f0b6a0e-8a7e-4bde-9d55-7c0e3a1f9a11|revoke-tokens.shopify");
    expect(stepRefFromBlockId(stepBlockId(ref))).toEqual(ref);
  });

  it("refuses anything that is not one of our refs", () => {
    for (const bad of ["", "no-separator", "|step", "wf|", "wf|a|b"]) {
      expect(() => decodeStepRef(bad), bad).toThrow(MalformedRefError);
    }
    for (const bad of ["page", "workflow", "step|", "step|wf", "wf|key"]) {
      expect(() => stepRefFromBlockId(bad), bad).toThrow(MalformedRefError);
    }
  });

  it("modal metadata round-trips and is validated when read back", () => {
    const metadata = { workflowId: "wf-1", stepKey: "notify-users", channelId: "C1" };
    expect(decodeMetadata(encodeMetadata(metadata))).toEqual(metadata);
    expect(decodeMetadata(encodeMetadata({ workflowId: "wf-1" }))).toEqual({ workflowId: "wf-1" });
    for (const bad of [
      undefined,
      "",
      "{not json",
      "null",
      "[]",
      '"wf-1"',
      JSON.stringify({ stepKey: "x" }),
      JSON.stringify({ workflowId: 7 }),
      JSON.stringify({ workflowId: "wf", stepKey: 1 }),
      JSON.stringify({ workflowId: "wf", channelId: ["C1"] }),
    ]) {
      expect(() => decodeMetadata(bad), String(bad)).toThrow(MalformedRefError);
    }
  });

  it("names the workflow of every action id of ours, and none for anything else", () => {
    const ref = encodeStepRef({ workflowId: "w-1", stepKey: "approval" });
    for (const actionId of [
      ACTION.done,
      ACTION.skip,
      ACTION.run,
      ACTION.approve,
      ACTION.reject,
      ACTION.retry,
    ])
      expect(workflowIdOfAction({ action_id: actionId, value: ref })).toBe("w-1");
    for (const actionId of [ACTION.cancel, ACTION.pageAcknowledge, ACTION.pageResolve, ACTION.pageAgain])
      expect(workflowIdOfAction({ action_id: actionId, value: "w-2" })).toBe("w-2");
    expect(
      workflowIdOfAction({
        action_id: ACTION.assign,
        block_id: stepBlockId({ workflowId: "w-3", stepKey: "s" }),
      }),
    ).toBe("w-3");
    expect(
      workflowIdOfAction({
        action_id: offerActionId(1),
        value: encodeOfferRef({ workflowId: "w-4", stepKey: "s", index: 1 }),
      }),
    ).toBe("w-4");
    expect(workflowIdOfAction({ action_id: offerActionId(1), value: "w-4|s" })).toBeUndefined();
    expect(workflowIdOfAction({ action_id: ACTION.startOffered, value: "w-4|s#1" })).toBeUndefined();
    expect(Object.values(ACTION).length).toBe(12);
    expect(workflowIdOfAction({ action_id: ACTION.done, value: "no-separator" })).toBeUndefined();
    expect(workflowIdOfAction({ action_id: ACTION.cancel })).toBeUndefined();
    expect(workflowIdOfAction({ action_id: "someone_elses", value: ref })).toBeUndefined();
  });
});
