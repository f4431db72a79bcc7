import type { KnownBlock } from "@slack/types";
import { WORKFLOW_DEFINITIONS } from "../workflows/definitions/index.js";
import { context, header, section } from "./blocks.js";

const USAGE: Record<string, string> = {
  "/key-compromised": "[environment] [what happened] — declare a leaked key; with no text it opens a form",
  "/key-rotate": "[environment] [reason] — rotate a key without downtime, after a second person approves",
  "/offboard": "@person [last day as yyyy-mm-dd] — offboard someone; their keys are rotated within 24 hours",
  "/onboard": "@person <environment> — grant someone key access; production needs a second person's approval",
  "/key-maintenance":
    "[environment] — this quarter's key maintenance (schedule, access audit, failed decryptions, backup, procedure); also starts by itself",
  "/key-lost":
    "[environment] — a key KeyOps no longer holds: check the backups, then import it (keyops keys import) or replace it and ask users to reconnect",
  "/key-restore":
    "[environment] [backup date or note] — restore a database backup: check KeyOps holds its era's keys (the copy in KEYOPS_RESTORE_DATABASE_URL_<ENV>), restore, verify every row decrypts",
  "/key-destroy":
    "<environment> <version> — erase a retired key after its retention period (two approvers besides you)",
};

const KEYOPS_USAGE = [
  "• `/keyops status` — open workflows and each environment's key versions",
  "• `/keyops access [list | grant @person <environment> | revoke @person <environment>]` — who can read which keys (approvers)",
  "• `/keyops help` — this list",
];

/** /keyops help: one line of usage per command. */
export function renderHelp(): KnownBlock[] {
  const lines = WORKFLOW_DEFINITIONS.map((d) => `• \`${d.command}\` ${USAGE[d.command] ?? `— ${d.name}`}`);
  return [
    header("KeyOps commands"),
    section([...lines, ...KEYOPS_USAGE].join("\n")),
    context(
      "Rotations need an approver who is not the requester. Every step is logged in the workflow's thread. " +
        "Never paste a key into Slack: KeyOps only ever shows fingerprints.",
    ),
  ];
}
