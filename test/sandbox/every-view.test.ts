import { describe, expect, it } from "vitest";
import {
  blocksToHtml,
  homeToHtml,
  messageBodyToHtml,
  modalToHtml,
  UNKNOWN_MARK,
} from "../../src/sandbox/block-kit-html.js";
import { renderContext } from "../../src/sandbox/channel-view.js";
import { renderHelp } from "../../src/views/help.js";
import { renderHome, renderStatus } from "../../src/views/status.js";
import { renderWorkflowMessage } from "../../src/views/workflow-message.js";
import { everyModal, everyState, everyStatusData } from "../views/every-state-cases.js";
import { NOW } from "../views/fixtures.js";

// The sandbox page shows whatever the bot sends; nothing the bot can produce may fall back to
// the unknown-type placeholder. The cases are the views' own every-state cases.

const ctx = renderContext();
const placeholders = (html: string) =>
  [...html.matchAll(new RegExp(`${UNKNOWN_MARK}="([^"]*)"`, "g"))].map((m) => m[1]);

describe("the sandbox renders everything the bot produces", () => {
  it("every workflow message in every state", () => {
    const states = everyState();
    expect(states.length).toBeGreaterThan(1000);
    for (const { name, w } of states) {
      const html = messageBodyToHtml(renderWorkflowMessage(w, NOW), ctx);
      expect(placeholders(html), name).toEqual([]);
      expect(html, name).toContain("bk-header");
    }
  });

  it("every modal, with and without field errors", () => {
    for (const modal of everyModal()) {
      const errors = Object.fromEntries(
        modal.blocks.flatMap((b) => ("block_id" in b && b.block_id ? [[b.block_id, "Fix this."]] : [])),
      );
      for (const html of [modalToHtml(modal, ctx), modalToHtml(modal, ctx, errors)])
        expect(placeholders(html), modal.callback_id).toEqual([]);
      expect(modalToHtml(modal, ctx, errors)).toContain('class="bk-error"');
    }
  });

  it("/keyops status, help and the App Home, empty and full", () => {
    for (const data of everyStatusData()) {
      expect(placeholders(blocksToHtml(renderStatus(data, NOW), ctx))).toEqual([]);
      expect(placeholders(homeToHtml(renderHome(data, NOW), ctx))).toEqual([]);
    }
    expect(placeholders(blocksToHtml(renderHelp(), ctx))).toEqual([]);
  });
});
