import { MAX_KEY_VERSION } from "../../crypto/ciphertext.js";
import { type Environment, isEnvironment, UnknownEnvironmentError } from "../../environments.js";
import { UserError } from "../../errors.js";
import type { WorkflowDefinition } from "../types.js";
import { environmentLabel } from "./labels.js";

const USAGE = "/key-destroy <environment> <version>";

/**
 * Destroying a retired version's key once its retention period has ended: two approvals by two
 * different approvers (neither the requester), then its wrapped key is erased. No backup under the
 * version can be read afterwards, so this is never a CLI command (one operator cannot prove a
 * second person's approval there).
 */
export const keyDestroy: WorkflowDefinition = {
  kind: "key-destroy",
  command: "/key-destroy",
  name: "Key destruction",
  title: (inputs) =>
    `${environmentLabel(inputs.environments[0])} key v${inputs.keyVersion ?? "?"} destruction`,
  gathers: ["key-version"],
  parseCommand: (text) => {
    const match = /^\s*(\S+)\s+v?(\d{1,10})\s*$/i.exec(text);
    if (!match) {
      const first = text.trim().split(/\s+/)[0] ?? "";
      if (first !== "" && !isEnvironment(first.toLowerCase()))
        throw new UnknownEnvironmentError(first.slice(0, 40));
      throw new UserError(`say which environment and version: ${USAGE}`);
    }
    const environment = (match[1] as string).toLowerCase();
    if (!isEnvironment(environment)) throw new UnknownEnvironmentError((match[1] as string).slice(0, 40));
    const version = Number(match[2]);
    if (version < 1 || version > MAX_KEY_VERSION)
      throw new UserError(`the key version must be from 1 to ${MAX_KEY_VERSION}: ${USAGE}`);
    return { inputs: { environments: [environment as Environment], keyVersion: version } };
  },
  refuseStart: ({ inputs, keyVersion }) => {
    const environment = inputs.environments[0];
    const v = `v${inputs.keyVersion}`;
    if (!keyVersion) return `${environment} has no key version ${inputs.keyVersion}. Nothing was changed.`;
    if (keyVersion.state === "DESTROYED")
      return `${v} of ${environment} is already destroyed. Nothing was changed.`;
    if (keyVersion.state !== "RETIRED") {
      return (
        `${v} of ${environment} is ${keyVersion.state.toLowerCase().replace("_", "-")}: only a retired version ` +
        "can be destroyed. Nothing was changed."
      );
    }
    if (!keyVersion.retentionEnded) {
      return (
        `${v} of ${environment} is retained until ${keyVersion.retainedUntil} (KEYOPS_RETIRED_KEY_RETENTION_DAYS), ` +
        "so that backups of its era can still be read: it cannot be destroyed before then. Nothing was changed."
      );
    }
    return undefined;
  },
  pageSeverity: () => "info",
  steps: ({ inputs }) => {
    const environment = inputs.environments[0] ?? "";
    const v = `v${inputs.keyVersion ?? "?"}`;
    return [
      {
        key: "confirm-backups",
        title: `Confirm no backup still needed holds rows under ${v}`,
        hint: `keyops backup check --env ${environment} --database-url … on the backups you keep: none may need ${v}`,
      },
      {
        key: "approval",
        title: `Approve destroying ${v}`,
        hint: "An approver, not the requester",
        requiresApproval: true,
        skippable: false,
      },
      {
        key: "second-approval",
        title: `Second approval to destroy ${v}`,
        hint: "A second approver: not the requester, not the first approver",
        requiresApproval: true,
        needs: ["approval"],
        distinctApproverFrom: ["approval"],
        skippable: false,
      },
      {
        key: "destroy",
        title: `Destroy ${v}`,
        hint: "Erases its wrapped key; no backup under it can be read afterwards",
        action: "destroy-key-version",
        needs: ["confirm-backups", "approval", "second-approval"],
        automatic: true,
        skippable: false,
      },
    ];
  },
};
