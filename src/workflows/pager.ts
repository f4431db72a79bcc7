/**
 * What workflows need from the paging service. PagerDuty fills it (src/integrations/pagerduty);
 * without it configured, NoPager keeps every workflow working and says paging is off.
 */

export type PageSeverity = "critical" | "error" | "warning" | "info";

export interface PageRequest {
  /** The workflow id: retries never open a second incident. */
  dedupKey: string;
  summary: string;
  severity: PageSeverity;
  source: string;
  component?: string;
  details: Record<string, string>;
  /** Link back to the Slack message. */
  link?: string;
}

/**
 * A change on the service's timeline in PagerDuty (Events API v2 change event): informational,
 * it opens no incident and notifies nobody. Never a key: versions and fingerprints only.
 */
export interface ChangeEvent {
  summary: string;
  /** When the change happened. */
  at: Date;
  source: string;
  details: Record<string, string>;
  /** Link back to the Slack message. */
  link?: string;
}

export interface OnCallPerson {
  name: string;
  email?: string;
  /** Filled by the Slack directory look-up when the email matches a Slack user. */
  slackUserId?: string;
}

export interface Pager {
  readonly enabled: boolean;
  trigger(page: PageRequest): Promise<void>;
  acknowledge(dedupKey: string): Promise<void>;
  resolve(dedupKey: string): Promise<void>;
  /** Records a change (a finished rotation) on the service's timeline. */
  change(event: ChangeEvent): Promise<void>;
  /** Who is on call now; empty when unknown (no REST token). */
  onCall(): Promise<OnCallPerson[]>;
}

export class NoPager implements Pager {
  readonly enabled = false;
  async trigger(): Promise<void> {}
  async acknowledge(): Promise<void> {}
  async resolve(): Promise<void> {}
  async change(): Promise<void> {}
  async onCall(): Promise<OnCallPerson[]> {
    return [];
  }
}
