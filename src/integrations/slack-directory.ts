import type { WebClient } from "@slack/web-api";
import type { ApproverIds } from "../workflows/approvers.js";
import type { Directory } from "../workflows/directory.js";

const GROUP_CACHE_MS = 60_000;

/** KEYOPS_APPROVERS split by Slack's id formats: user groups are S…, people U… or W…. */
export function approverIds(ids: readonly string[]): ApproverIds {
  return { users: ids.filter((id) => !id.startsWith("S")), groups: ids.filter((id) => id.startsWith("S")) };
}

/** People and groups from Slack's Web API; group members are cached for a minute. */
export class SlackDirectory implements Directory {
  private readonly groups = new Map<string, { members: string[]; at: number }>();

  constructor(private readonly client: WebClient) {}

  async timeZoneOf(userId: string): Promise<string | undefined> {
    const response = await this.client.users.info({ user: userId });
    return response.user?.tz ?? undefined;
  }

  async membersOf(groupId: string): Promise<string[]> {
    const cached = this.groups.get(groupId);
    if (cached && Date.now() - cached.at < GROUP_CACHE_MS) return cached.members;
    const response = await this.client.usergroups.users.list({ usergroup: groupId });
    const members = response.users ?? [];
    this.groups.set(groupId, { members, at: Date.now() });
    return members;
  }

  async isDeactivated(userId: string): Promise<boolean | undefined> {
    try {
      const response = await this.client.users.info({ user: userId });
      return response.user ? response.user.deleted === true : undefined;
    } catch (error) {
      // Someone Slack no longer knows at all has left too.
      const code = (error as { data?: { error?: string } }).data?.error;
      return code === "user_not_found" ? true : undefined;
    }
  }

  async userIdByEmail(email: string): Promise<string | undefined> {
    try {
      const response = await this.client.users.lookupByEmail({ email });
      return response.user?.id ?? undefined;
    } catch {
      return undefined;
    }
  }
}
