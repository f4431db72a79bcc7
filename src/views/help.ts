import type { KnownBlock } from "@slack/types";
import { WORKFLOW_DEFINITIONS } from "../workflows/definitions/index.js";

const USAGE: Record<string, string> = {
  "/key-compromised": "[environment] [what happened] — declare a leaked key; no text opens a form",
  "/key-rotate": "[environment] [reason] — rotate a key without downtime, after a second person approves",
  "/offboard": "@person [last day as yyyy-mm-dd] — offboard someone; their keys are rotated within 24 hours",
};

export function renderHelp(): KnownBlock[] {
  const lines = WORKFLOW_DEFINITIONS.map((d) => `• \`${d.command}\` ${USAGE[d.command] ?? `— ${d.name}`}`);
  lines.push("• `/keyops status` — open workflows and each environment's key versions");
  lines.push("• `/keyops help` — this list");
  return [
    { type: "header", text: { type: "plain_text", text: "KeyOps commands" } },
    { type: "section", text: { type: "mrkdwn", text: lines.join("\n") } },
    {
      type: "context",
      elements: [
        {
          type: "mrkdwn",
          text: "Rotations need an approver who is not the requester. Every step is logged in the workflow's thread.",
        },
      ],
    },
  ];
}
