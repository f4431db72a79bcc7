import { describe, expect, it } from "vitest";
import { blockKitProblems } from "../../src/views/limits.js";
import { noticeModal } from "../../src/views/notice.js";

describe("the notice modal", () => {
  it("shows the sentence as plain text (no mrkdwn, no mentions) and stays within Slack's limits", () => {
    const view = noticeModal("This form is not one of ours <!channel> *bold*. Nothing was changed.");
    expect(view.blocks).toEqual([
      {
        type: "section",
        text: {
          type: "plain_text",
          text: "This form is not one of ours <!channel> *bold*. Nothing was changed.",
        },
      },
    ]);
    expect(view.submit).toBeUndefined();
    expect(blockKitProblems(view, "modal")).toEqual([]);
    expect(blockKitProblems(noticeModal("x".repeat(10_000)), "modal")).toEqual([]);
  });
});
