import { parsePersonAndEnvironment } from "../command-input.js";
import type { StepDefinition, WorkflowDefinition } from "../types.js";
import { environmentLabel } from "./labels.js";

const USAGE = "/onboard @person <environment>";

/** Access to these environments' keys takes a second person's approval (two-person rule). */
const APPROVED_ENVIRONMENTS = new Set(["production"]);

/** The guide's "Granting Access": hosting access, the key through a secure channel, the roster. */
export const onboard: WorkflowDefinition = {
  kind: "onboard",
  command: "/onboard",
  name: "Granting access",
  title: (inputs) => `${environmentLabel(inputs.environments[0])} access for @${inputs.subjectUserId ?? "?"}`,
  parseCommand: (text) => {
    const { subjectUserId, environment } = parsePersonAndEnvironment(text, USAGE);
    return { inputs: { environments: [environment], subjectUserId } };
  },
  pageSeverity: () => "info",
  refuseStart: ({ inputs, requestedBy, subjectGrants }) => {
    const environment = inputs.environments[0];
    if (inputs.subjectUserId === requestedBy)
      return "you cannot grant yourself access: someone else runs /onboard for you. Nothing was changed.";
    if (environment && subjectGrants.includes(environment))
      return `@${inputs.subjectUserId} already has access to ${environment} in the roster. Nothing was changed.`;
    return undefined;
  },
  steps: ({ inputs }) => {
    const environment = inputs.environments[0];
    const label = environmentLabel(environment);
    const approved = environment !== undefined && APPROVED_ENVIRONMENTS.has(environment);
    const approval: StepDefinition[] = approved
      ? [
          {
            key: "approval",
            title: `Approve ${label.toLowerCase()} access`,
            hint: "A second person, not the requester",
            requiresApproval: true,
            skippable: false,
          },
        ]
      : [];
    return [
      {
        key: "hosting-access",
        title: "Add them to the hosting project",
        hint: `Railway project member, ${label.toLowerCase()} environment only`,
      },
      {
        key: "share-key",
        title: `Share the ${label.toLowerCase()} key through a secure channel`,
        hint: "A 1Password share; never Slack, email or a ticket",
      },
      ...approval,
      {
        key: "record-roster",
        title: "Record their access in the roster",
        action: "grant-roster-access",
        runLabel: "Record access",
        skippable: false,
        ...(approved ? { needs: ["approval"], automatic: true } : {}),
      },
    ];
  },
};
