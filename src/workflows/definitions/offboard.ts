import { DateTime } from "luxon";
import { parseOffboard } from "../command-input.js";
import type { WorkflowDefinition } from "../types.js";
import { environmentLabel } from "./labels.js";

/** The guide: rotate the keys a departing person could read within 24 hours. */
export const OFFBOARD_ROTATION_HOURS = 24;

/** The guide's "Revoking Access": a departing person's keys rotated within 24 hours. */
export const offboard: WorkflowDefinition = {
  kind: "offboard",
  command: "/offboard",
  name: "Offboarding",
  title: (inputs) => `Offboarding @${inputs.subjectUserId ?? "?"}`,
  parseCommand: (text) => {
    const { subjectUserId, lastDay } = parseOffboard(text);
    return { inputs: { environments: [], subjectUserId, ...(lastDay ? { lastDay } : {}) } };
  },
  environmentsFrom: "roster",
  pageSeverity: () => "warning",
  overdue: { step: "rotate", severity: "error" },
  // Reminders two hours before the deadline and at it.
  remindersMs: [-2 * 3_600_000, 0],
  subjectLeaves: true,
  /** 24 hours after they leave: the end of a last day still ahead (their manager's zone), else now. */
  deadline: (inputs, startedAt) => {
    const start = DateTime.fromJSDate(startedAt, { zone: inputs.timeZone ?? "UTC" });
    const lastDayEnd = inputs.lastDay
      ? DateTime.fromISO(inputs.lastDay, { zone: start.zone }).endOf("day")
      : undefined;
    const leaves = lastDayEnd?.isValid && lastDayEnd > start ? lastDayEnd : start;
    return leaves.plus({ hours: OFFBOARD_ROTATION_HOURS }).toJSDate();
  },
  steps: ({ inputs }) => [
    { key: "remove-hosting", title: "Remove from the hosting project", hint: "Railway project members" },
    { key: "remove-vaults", title: "Remove from shared password vaults", hint: "1Password shared vaults" },
    {
      key: "revoke-roster",
      title: "Revoke their key access in the roster",
      action: "revoke-roster-access",
      runLabel: "Revoke access",
    },
    {
      key: "approval",
      title: `Approve rotating ${inputs.environments.map(environmentLabel).join(", ")}`,
      hint: "A second person, not the requester",
      requiresApproval: true,
      skippable: false,
    },
    {
      key: "rotate",
      title: "Rotate every key they could read",
      hint: `Within ${OFFBOARD_ROTATION_HOURS} hours`,
      action: "rotate",
      needs: ["approval"],
      automatic: true,
      skippable: false,
    },
  ],
};
