import { defaultSeverity, parseEnvironmentAndText } from "../command-input.js";
import type { StepDefinition, WorkflowDefinition } from "../types.js";
import { environmentLabel } from "./labels.js";

/** The guide's "Key Compromised" emergency procedure and incident-response checklist. */
export const keyCompromised: WorkflowDefinition = {
  kind: "key-compromised",
  command: "/key-compromised",
  name: "Key compromised",
  title: (inputs) => `${environmentLabel(inputs.environments[0])} encryption key compromised`,
  requesterLabel: "Declared",
  gathers: ["platform-counts"],
  form: "declare-incident",
  rotationMarksPrevious: "compromised",
  allowsDrill: true,
  parseCommand: (text, defaults) => {
    if (text.trim() === "") return { form: "declare-incident" };
    const { environment, rest } = parseEnvironmentAndText(text, defaults);
    return {
      inputs: {
        environments: [environment],
        severity: defaultSeverity(environment),
        ...(rest ? { summary: rest } : {}),
      },
    };
  },
  pageSeverity: (inputs) => (inputs.environments[0] === "production" ? "critical" : "error"),
  steps: ({ platformCounts }) => {
    const revokeSteps: StepDefinition[] = platformCounts.map(({ platform, count }) => ({
      key: `revoke-tokens.${platform.toLowerCase()}`,
      parent: "revoke-tokens",
      title: `${platformLabel(platform)}: ${count} integration${count === 1 ? "" : "s"}`,
      hint: PLATFORM_HINTS[platform] ?? "Regenerate the platform's credentials",
    }));
    return [
      { key: "assess-scope", title: "Assess scope of compromise", hint: "What leaked, where, since when" },
      {
        key: "generate-key",
        title: "Generate new encryption key",
        action: "generate-key",
        runLabel: "Generate key",
        skippable: false,
      },
      {
        key: "approve-rotation",
        title: "Approve the key rotation",
        hint: "A second person, not the requester",
        requiresApproval: true,
        needs: ["generate-key"],
        skippable: false,
      },
      {
        key: "rotate",
        title: "Run the key rotation",
        hint: "Re-encrypt every stored credential, then verify",
        action: "rotate",
        needs: ["approve-rotation"],
        automatic: true,
        skippable: false,
      },
      {
        key: "audit-access",
        title: "Audit access",
        hint: "Integrations updated in the last 24 hours",
        action: "audit-recent-access",
        runLabel: "Run audit query",
      },
      {
        key: "revoke-tokens",
        title: "Revoke compromised platform tokens",
        hint: revokeSteps.length === 0 ? "No stored integrations found" : "One sub-step per platform",
      },
      ...revokeSteps,
      {
        key: "notify-users",
        title: "Notify affected users",
        hint: "Key compromise means notification (GDPR)",
      },
      {
        key: "document",
        title: "Document the incident and learnings",
        hint: "Posts a markdown post-mortem built from the timeline",
        action: "write-postmortem",
        runLabel: "Write post-mortem",
      },
    ];
  },
};

const PLATFORM_HINTS: Record<string, string> = {
  SHOPIFY: "Regenerate access tokens via the partner dashboard",
  AMAZON: "Rotate SP-API credentials",
};

function platformLabel(platform: string): string {
  return platform.charAt(0) + platform.slice(1).toLowerCase();
}
