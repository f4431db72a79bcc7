import { parseEnvironmentAndText } from "../command-input.js";
import type { WorkflowDefinition } from "../types.js";
import { environmentLabel } from "./labels.js";

/**
 * The guide's "Database Backup Restore": make sure KeyOps holds the keys of the backup's era (the
 * backup check, on the restored copy named in configuration, never a URL typed into Slack), restore,
 * verify that every row decrypts, record it.
 */
export const keyRestore: WorkflowDefinition = {
  kind: "key-restore",
  command: "/key-restore",
  name: "Backup restore",
  title: (inputs) =>
    `${environmentLabel(inputs.environments[0])} backup restore${inputs.summary ? `: ${inputs.summary.slice(0, 80)}` : ""}`,
  parseCommand: (text, defaults) => {
    const { environment, rest } = parseEnvironmentAndText(text, defaults);
    return { inputs: { environments: [environment], ...(rest ? { summary: rest } : {}) } };
  },
  pageSeverity: () => "info",
  steps: ({ inputs }) => {
    const environment = inputs.environments[0] ?? "";
    const variable = `KEYOPS_RESTORE_DATABASE_URL_${environment.toUpperCase()}`;
    return [
      {
        key: "backup-check",
        title: "Check KeyOps holds the keys of the backup's era",
        hint:
          `Restore the backup into a scratch database first; Run reads it from ${variable}. ` +
          `Not configured: keyops backup check --env ${environment} --database-url … where the URL is kept, then Skip with its result`,
        action: "check-restore-copy",
        runLabel: "Run backup check",
      },
      {
        key: "restore",
        title: "Restore the backup",
        hint: `psql "$DATABASE_URL" < backup-<date>.sql into ${environment}'s database (or your provider's restore, e.g. railway); confirm it finished`,
      },
      {
        key: "verify",
        title: "Verify every row decrypts",
        hint: "The engine's verify on the restored environment: every row of every target, the plaintext digest",
        action: "verify-restored",
        needs: ["restore"],
        automatic: true,
        skippable: false,
      },
      {
        key: "record",
        title: "Record the restore",
        hint: "Which backup, when, why; rotate if the check named a compromised version (/key-rotate)",
        needs: ["verify"],
      },
    ];
  },
};
