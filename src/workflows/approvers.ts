import type { Directory } from "./directory.js";
import { BOT_ACTOR } from "./state-machine.js";

/** Who may approve: people named directly, and the members of named groups (KEYOPS_APPROVERS). */
export interface ApproverIds {
  users: readonly string[];
  groups: readonly string[];
}

export class Approvers {
  constructor(
    readonly ids: ApproverIds,
    private readonly directory: Directory,
  ) {}

  /** Whether `userId` is an approver, directly or through a group (a group that cannot be read counts no one). */
  async includes(userId: string): Promise<boolean> {
    if (userId === BOT_ACTOR) return false;
    if (this.ids.users.includes(userId)) return true;
    for (const group of this.ids.groups) {
      const members = await this.directory.membersOf(group).catch((): string[] => []);
      if (members.includes(userId)) return true;
    }
    return false;
  }
}
