import { parseEnvironmentAndText } from "../command-input.js";
import type { StepDefinition, WorkflowDefinition } from "../types.js";
import { environmentLabel } from "./labels.js";

const BACKUP_CHECKS = ["check-password-manager", "check-secure-notes", "check-backup-files"];
/** The "found" branch's step; done, it closes the "not found" branch (and the other way round). */
const FOUND = "key-recovered";
const UNRECOVERABLE = "confirm-unrecoverable";

/**
 * The guide's "Key Lost" recovery: check the backups; found, the key is taken back with
 * `keyops keys import` (checked against the version's fingerprint); not found, a second person
 * confirms it is unrecoverable, the version is marked lost, a new key is generated and activated,
 * the rows under the lost version are recorded for re-authentication and each platform's users
 * are told to reconnect.
 */
export const keyLost: WorkflowDefinition = {
  kind: "key-lost",
  command: "/key-lost",
  name: "Key lost",
  title: (inputs) =>
    `${environmentLabel(inputs.environments[0])} key${inputs.keyVersion ? ` v${inputs.keyVersion}` : ""} lost`,
  gathers: ["lost-version"],
  parseCommand: (text, defaults) => {
    const { environment, rest } = parseEnvironmentAndText(text, defaults);
    return { inputs: { environments: [environment], ...(rest ? { summary: rest } : {}) } };
  },
  refuseStart: ({ inputs, lostVersions }) =>
    lostVersions.length === 0
      ? `nothing to recover: KeyOps holds the key of every version of ${inputs.environments[0]} but those already ` +
        "marked lost (a backup of one of those comes back with keyops keys import). Nothing was changed."
      : undefined,
  pageSeverity: (inputs) => (inputs.environments[0] === "production" ? "critical" : "error"),
  steps: ({ inputs, platformCounts }) => {
    const environment = inputs.environments[0] ?? "";
    const v = `v${inputs.keyVersion ?? "?"}`;
    const notFound: Pick<StepDefinition, "unless" | "skippable" | "automatic"> = {
      unless: [FOUND],
      skippable: false,
      automatic: true,
    };
    const notifySteps: StepDefinition[] = (
      platformCounts.length > 0 ? platformCounts : [{ platform: "", count: 0 }]
    ).map(({ platform, count }) => ({
      key: platform ? `notify.${platform.toLowerCase()}` : "notify.users",
      title: platform
        ? `Notify ${platformLabel(platform)} users to reconnect: ${count} integration${count === 1 ? "" : "s"}`
        : "Notify users to reconnect",
      hint: platform
        ? `Their stored credentials cannot be read: ask them to re-authenticate (ids: keyops reauth list --env ${environment})`
        : `No integrations were under ${v} at the start; other targets' rows: keyops reauth list --env ${environment}`,
      needs: ["record-reauth", "activate-key"],
      unless: [FOUND],
    }));
    return [
      {
        key: "check-password-manager",
        title: "Check the password manager (1Password)",
        hint: `Look for the ${environment} key ${v}`,
        skippable: false,
        unless: [FOUND],
      },
      {
        key: "check-secure-notes",
        title: "Check team members' secure notes",
        skippable: false,
        unless: [FOUND],
      },
      {
        key: "check-backup-files",
        title: "Check the encrypted backup files",
        skippable: false,
        unless: [FOUND],
      },
      {
        key: FOUND,
        title: "Check the key is back",
        hint: `Found it? keyops keys import --env ${environment} --version ${inputs.keyVersion ?? "N"} (key on stdin or in a 0600 file), then Run`,
        action: "check-key-recovered",
        runLabel: "Check the key is back",
        skippable: false,
        unless: [UNRECOVERABLE],
      },
      {
        key: UNRECOVERABLE,
        title: `Confirm ${v} is unrecoverable`,
        hint: "A second person, not the requester: no backup holds it",
        requiresApproval: true,
        needs: BACKUP_CHECKS,
        skippable: false,
        unless: [FOUND],
      },
      {
        key: "count-rows",
        title: `Count the integrations under ${v}`,
        hint: "From the ciphertexts' version prefix; nothing is decrypted",
        action: "count-version-rows",
        needs: [UNRECOVERABLE],
        ...notFound,
      },
      {
        key: "mark-lost",
        title: `Mark ${v} lost`,
        hint: "The credentials under it are permanently inaccessible",
        action: "mark-key-lost",
        needs: ["count-rows"],
        ...notFound,
      },
      {
        key: "record-reauth",
        title: `Record the integrations to re-authenticate`,
        hint: `Every row under ${v}, by id: keyops reauth list --env ${environment}`,
        action: "record-reauth",
        needs: ["mark-lost"],
        ...notFound,
      },
      {
        key: "generate-key",
        title: "Generate a new key",
        action: "generate-key",
        needs: ["record-reauth"],
        ...notFound,
      },
      {
        key: "activate-key",
        title: "Activate the new key",
        hint: "Once every live application instance holds it (env source: keyops keys export, ENCRYPTION_KEY_V<n>)",
        action: "activate-key",
        needs: ["generate-key"],
        ...notFound,
      },
      ...notifySteps,
    ];
  },
};

function platformLabel(platform: string): string {
  return platform.charAt(0) + platform.slice(1).toLowerCase();
}
