import { ENVIRONMENTS, isEnvironment } from "../../environments.js";
import { UserError } from "../../errors.js";
import { quarterOf } from "../calendar.js";
import type { WorkflowDefinition, WorkflowInputs } from "../types.js";
import { environmentLabel } from "./labels.js";

const DAY_MS = 86_400_000;
const USAGE = "/key-maintenance [environment]";

/**
 * The guide's "Quarterly Maintenance" checklist. The bot starts it by itself in the security
 * channel at the start of every calendar quarter (the team's time zone) and when an environment's
 * recorded next rotation falls due; anyone can start it by hand. One open per quarter.
 */
export const quarterlyMaintenance: WorkflowDefinition = {
  kind: "quarterly-maintenance",
  command: "/key-maintenance",
  name: "Quarterly maintenance",
  title: (inputs) =>
    `Key maintenance ${inputs.period ?? ""}${inputs.environments.length === 1 ? ` (${environmentLabel(inputs.environments[0])})` : ""}`.trim(),
  parseCommand: (text, defaults) => {
    const words = text.trim().split(/\s+/).filter(Boolean);
    const period = quarterOf(defaults.now, defaults.timeZone).period;
    const candidate = (words[0] ?? "").toLowerCase();
    if (words.length > 1 || (words.length === 1 && !isEnvironment(candidate)))
      throw new UserError(
        `${USAGE}: this quarter's (${period}) key maintenance, of every environment or of one ` +
          `(${ENVIRONMENTS.join(", ")}). Nothing was started.`,
      );
    const environments = words.length === 1 && isEnvironment(candidate) ? [candidate] : [...ENVIRONMENTS];
    return { inputs: { environments, period } };
  },
  allowsDrill: true,
  pageSeverity: () => "info",
  schedule: {
    quarterly: true,
    whenRotationDue: true,
    inputs: (trigger): WorkflowInputs => {
      const { period } = quarterOf(trigger.at, trigger.timeZone);
      return {
        environments: [...ENVIRONMENTS],
        period,
        dueAt: trigger.at.toISOString(),
        timeZone: trigger.timeZone,
        trigger: trigger.kind === "quarter" ? `${period} began` : `${trigger.environment} rotation due`,
      };
    },
  },
  // A drill is a rehearsal: it never stands for (or in the way of) the quarter's maintenance.
  openKey: (inputs) => (inputs.drill ? undefined : inputs.period),
  /** Due when it fell due (the quarter's start, the rotation's date), or when started by hand. */
  deadline: (inputs, startedAt) => (inputs.dueAt ? new Date(inputs.dueAt) : startedAt),
  deadlineLabel: "Due",
  // A week late: a reminder in the thread; two weeks late: on-call paged at warning.
  remindersMs: [7 * DAY_MS],
  overdue: { severity: "warning", pageAfterMs: 14 * DAY_MS },
  steps: () => [
    {
      key: "review-schedule",
      title: "Review the key rotation schedule",
      hint: "Each environment's last and next rotation; start /key-rotate for those due",
      action: "review-rotation-schedule",
      runLabel: "Review",
      automatic: true,
      startsWorkflow: "key-rotate",
    },
    {
      key: "audit-access",
      title: "Audit who has key access",
      hint: "The roster; people who have left are flagged (revoke with /keyops access revoke)",
      action: "audit-key-access",
      runLabel: "Audit",
      automatic: true,
    },
    {
      key: "check-failures",
      title: "Check for failed decryption attempts",
      hint: "Rows no key decrypts, and the failures the application's instances reported",
      action: "check-decryption-failures",
      runLabel: "Check",
      automatic: true,
    },
    {
      key: "update-backup",
      title: "Update the key backup if rotated",
      hint: "The 1Password entry of each rotated key: Last rotated, Next rotation (quarterly)",
    },
    {
      key: "review-procedure",
      title: "Review the key-management procedure",
      hint: "Is key-management-guide.md still what the team does? Update it if not",
    },
  ],
};
