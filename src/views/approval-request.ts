import type { ApproverIds } from "../workflows/approvers.js";
import type { WorkflowSnapshot } from "../workflows/types.js";
import { mention } from "./format.js";

/** The thread line that asks the approvers (each mentioned, groups as groups) for an approval. */
export function renderApprovalRequest(w: WorkflowSnapshot, approvers: ApproverIds): string {
  const who = [...approvers.users.map(mention), ...approvers.groups.map((id) => `<!subteam^${id}>`)].join(
    " ",
  );
  return `${who || "An approver"}: #${w.number} needs your approval (two-person rule: not ${mention(w.requestedBy)}).`;
}
