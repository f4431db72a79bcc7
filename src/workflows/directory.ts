/** What workflows need to know about people; the Slack Web API fills it (src/integrations/slack-directory.ts). */
export interface Directory {
  /** The user's IANA time zone (users.info `tz`), undefined when unknown. */
  timeZoneOf(userId: string): Promise<string | undefined>;
  /** Members of a user group (usergroups.users.list). */
  membersOf(groupId: string): Promise<string[]>;
  /** The Slack user with this email (users.lookupByEmail), undefined when none. */
  userIdByEmail(email: string): Promise<string | undefined>;
  /** Whether Slack says the account is deactivated (users.info `deleted`); undefined when unknown. */
  isDeactivated(userId: string): Promise<boolean | undefined>;
}
