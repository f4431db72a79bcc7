import type { Button, ContextBlock, DividerBlock, HeaderBlock, SectionBlock } from "@slack/types";
import { truncate, truncateMrkdwn } from "./format.js";
import { LIMITS } from "./limits.js";

/** Block constructors that keep Block Kit's length limits whatever text they are given. */

export function header(text: string): HeaderBlock {
  return { type: "header", text: { type: "plain_text", text: truncate(text, LIMITS.headerText) || " " } };
}

export function section(mrkdwn: string): SectionBlock {
  return {
    type: "section",
    text: { type: "mrkdwn", text: truncateMrkdwn(mrkdwn, LIMITS.sectionText) || " " },
  };
}

export function fieldsSection(fields: string[]): SectionBlock {
  return {
    type: "section",
    fields: fields
      .slice(0, LIMITS.fields)
      .map((text) => ({ type: "mrkdwn" as const, text: truncateMrkdwn(text, LIMITS.field) || " " })),
  };
}

export function context(mrkdwn: string): ContextBlock {
  return {
    type: "context",
    elements: [{ type: "mrkdwn", text: truncateMrkdwn(mrkdwn, LIMITS.sectionText) || " " }],
  };
}

export const divider = (): DividerBlock => ({ type: "divider" });

export function button(text: string, actionId: string, value: string, style?: "primary" | "danger"): Button {
  return {
    type: "button",
    text: { type: "plain_text", text: truncate(text, LIMITS.buttonText) },
    action_id: actionId,
    value: truncate(value, LIMITS.buttonValue),
    ...(style ? { style } : {}),
  };
}
