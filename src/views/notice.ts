import type { ModalView } from "@slack/types";
import { truncate } from "./format.js";

const NOTICE_MAX = 2900;

/** What a refused form turns into (response_action "update"): one plain sentence and a Close button. */
export function noticeModal(text: string): ModalView {
  return {
    type: "modal",
    title: { type: "plain_text", text: "KeyOps" },
    close: { type: "plain_text", text: "Close" },
    blocks: [{ type: "section", text: { type: "plain_text", text: truncate(text, NOTICE_MAX) } }],
  };
}
