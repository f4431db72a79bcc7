import { parseEnvironmentAndText } from "../command-input.js";
import type { WorkflowDefinition } from "../types.js";
import { environmentLabel } from "./labels.js";

/** The guide's rotation process, zero-downtime (its "Option B"). */
export const keyRotate: WorkflowDefinition = {
  kind: "key-rotate",
  command: "/key-rotate",
  name: "Key rotation",
  title: (inputs) => `${environmentLabel(inputs.environments[0])} key rotation`,
  parseCommand: (text, defaults) => {
    const { environment, rest } = parseEnvironmentAndText(text, defaults);
    return { inputs: { environments: [environment], ...(rest ? { summary: rest } : {}) } };
  },
  allowsDrill: true,
  pageSeverity: () => "info",
  steps: () => [
    {
      key: "backup-database",
      title: "Back up the database",
      hint: "pg_dump or your provider's backup; confirm it finished",
    },
    {
      key: "generate-key",
      title: "Generate the new key",
      action: "generate-key",
      runLabel: "Generate key",
      skippable: false,
    },
    {
      key: "approval",
      title: "Approval",
      hint: "A second person, not the requester",
      requiresApproval: true,
      needs: ["generate-key"],
      skippable: false,
    },
    {
      key: "reencrypt",
      title: "Re-encrypt",
      hint: "Every stored credential to the new version, no downtime",
      action: "rotate",
      needs: ["approval"],
      automatic: true,
      skippable: false,
    },
    {
      key: "verify",
      title: "Verify",
      hint: "Every row decrypts; plaintext digest unchanged",
      action: "verify",
      needs: ["reencrypt"],
      automatic: true,
      skippable: false,
    },
    {
      key: "retire-previous",
      title: "Retire the old version",
      hint: "Refused while a row or a live application instance still uses it; then remove its key from the application",
      action: "retire-previous",
      runLabel: "Retire",
      needs: ["verify"],
      // The guide's "remove V1 key support", right after a verified rotation; a refusal (a row or a
      // live instance still on it) fails the step with a Retry.
      automatic: true,
    },
    {
      key: "store-backup",
      title: "Store the key backup",
      hint: "Update the password-manager entry; confirm",
    },
    {
      key: "record-schedule",
      title: "Record the rotation date and the next one due",
      action: "record-rotation-schedule",
      runLabel: "Record",
      needs: ["verify"],
    },
  ],
};
