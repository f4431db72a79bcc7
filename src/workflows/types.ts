import type { PlatformCount } from "../engine/guide-table.js";
import type { Environment } from "../environments.js";
import type { PageSeverity } from "./pager.js";

/**
 * Workflows as data: a definition lists steps; one state machine (state-machine.ts) moves every
 * workflow; views render a WorkflowSnapshot. Nothing here imports Slack or PagerDuty.
 */

export type WorkflowStatus = "OPEN" | "RESOLVED" | "CANCELLED";

export type StepStatus =
  | "PENDING"
  /** An approval step whose approval has been asked for and not yet given. */
  | "AWAITING_APPROVAL"
  /** An automated step at work (a rotation job, a query). */
  | "RUNNING"
  | "DONE"
  | "SKIPPED"
  | "FAILED";

export const SEVERITIES = ["critical", "high", "medium", "low"] as const;
export type Severity = (typeof SEVERITIES)[number];

/** What an automated step does when it runs; the service maps each to the engine or a query. */
export type StepAction =
  /** engine.generate: a new pending key version; its fingerprint (never the key) is shown. */
  | "generate-key"
  /** Durable job: activate the generated version (or a new one), re-encrypt, verify. */
  | "rotate"
  /** engine.verify: every row decrypts and the plaintext digest is what it was before the run. */
  | "verify"
  /** engine.retire of the version the rotation replaced (refused while a row or a live instance uses it). */
  | "retire-previous"
  /** The guide's audit query: integrations updated in the last 24 hours. */
  | "audit-recent-access"
  /** Marks the subject's key access revoked in the roster. */
  | "revoke-roster-access"
  /** Records the subject's key access to the workflow's environments in the roster. */
  | "grant-roster-access"
  /** Records the rotation date and the next one due (quarterly, requester's time zone). */
  | "record-rotation-schedule"
  /** A markdown post-mortem built from the timeline, uploaded to the thread. */
  | "write-postmortem"
  /** The workflow's key version (inputs.keyVersion) is held again and every row decrypts (after `keys import`). */
  | "check-key-recovered"
  /** Rows per target and integrations per platform under inputs.keyVersion, from the version prefix (never decrypting). */
  | "count-version-rows"
  /** engine.markLost of inputs.keyVersion: KeyOps holds no copy of it; its rows no longer decrypt. */
  | "mark-key-lost"
  /** Activates the version a generate-key step of the workflow created (through the hand-over gate). */
  | "activate-key"
  /** Records the rows under inputs.keyVersion as needing re-authentication (`keyops reauth list`). */
  | "record-reauth"
  /** Each environment's last and next rotation; offers the step's `startsWorkflow` for those due. */
  | "review-rotation-schedule"
  /** The roster, with the people who have left flagged (Slack says deleted, or being offboarded). */
  | "audit-key-access"
  /** Rows the engine cannot decrypt and the failures the application's instances reported. */
  | "check-decryption-failures"
  /**
   * engine.checkRestoreCopy: the restored copy configured for the environment
   * (KEYOPS_RESTORE_DATABASE_URL_<ENV>) read with every version KeyOps holds; fails when a row
   * cannot be read, or is under a version the live keyring does not decrypt.
   */
  | "check-restore-copy"
  /** engine.verify after a restore: every row decrypts (older versions are expected; no run to compare with). */
  | "verify-restored"
  /** engine.destroy of inputs.keyVersion with the workflow's two approvers; audited as key.destroyed. */
  | "destroy-key-version";

export interface StepDefinition {
  /** Stable id within the workflow, e.g. "revoke-tokens.shopify". At most 64 characters. */
  key: string;
  title: string;
  /** One short line of how-to, shown under the title. */
  hint?: string;
  /** Present for automated steps; absent for steps a person does and marks Done. */
  action?: StepAction;
  /** Button text of an automated step run by hand ("Generate key", "Run audit query"). */
  runLabel?: string;
  /** Finished by an Approve from a configured approver who is not the requester (two-person rule). */
  requiresApproval?: boolean;
  /** Keys of steps that must be DONE (not skipped) before this one can be done or run. */
  needs?: string[];
  /** Starts by itself as soon as its needs are DONE (e.g. the rotation after approval). */
  automatic?: boolean;
  /** Whether Skip is offered (with a reason). Default true; approvals and rotations say false. */
  skippable?: boolean;
  /** A sub-step's parent key (rendered indented under it). */
  parent?: string;
  /**
   * Keys of steps any one of which, once DONE, makes this one unnecessary: it is then skipped by
   * itself (unless running), so two branches ("found" / "not found") can each close the other.
   */
  unless?: string[];
  /**
   * The workflow (a kind) this step's result may offer to start, with inputs the runner fills in
   * (the rotation schedule review: a /key-rotate for each environment that is due).
   */
  startsWorkflow?: string;
  /**
   * For an approval step: keys of approval steps whose approver may not give this one, so that
   * two different people approve (destroying a key).
   */
  distinctApproverFrom?: string[];
}

/** What a workflow is started with. Which fields are set depends on the definition. */
export interface WorkflowInputs {
  /** Every environment the workflow acts on; the first is the main one. */
  environments: Environment[];
  severity?: Severity;
  /** What happened / why (free text from the command or modal). */
  summary?: string;
  /** How it was found (key-compromised modal). */
  foundBy?: string;
  /** The key version the workflow is about (gathered at start: the lost version). */
  keyVersion?: number;
  /** The person the workflow is about: who is offboarded or onboarded (Slack user id). */
  subjectUserId?: string;
  /** Their last day, ISO date (yyyy-mm-dd). */
  lastDay?: string;
  /** The requester's IANA time zone (from users.info), for deadlines and schedules. */
  timeZone?: string;
  /**
   * A rehearsal (`/key-compromised drill`): the same steps, marked DRILL everywhere, its rotation
   * run on a scratch copy of the targets and keyring, left out of status and the figures.
   */
  drill?: boolean;
  /** The calendar period a scheduled workflow is for, e.g. "2027-Q1" (in the team's time zone). */
  period?: string;
  /** ISO time the work fell due (a scheduled start: the quarter's start, a rotation's due date). */
  dueAt?: string;
  /** Why it started by itself ("quarter start", "production rotation due"); absent when started by hand. */
  trigger?: string;
}

export type { PlatformCount } from "../engine/guide-table.js";

/** Facts gathered when a workflow starts that shape its steps (stored with it, so steps re-derive). */
export interface StepContext {
  inputs: WorkflowInputs;
  /** Stored integrations per platform, e.g. [{ platform: "SHOPIFY", count: 12 }]. */
  platformCounts: PlatformCount[];
}

/** What a slash command's text asks for: a workflow's inputs, or the form to ask for them. */
export type ParsedCommand = { inputs: WorkflowInputs } | { form: WorkflowForm };

export interface CommandDefaults {
  environment: Environment;
  /** Now, and the team's time zone (KEYOPS_TIME_ZONE): for commands about calendar periods. */
  now: Date;
  timeZone: string;
}

/** What makes a scheduled workflow start by itself (read by the scheduler, src/workflows/scheduler.ts). */
export type ScheduleTrigger =
  /** The start of a calendar quarter in the team's time zone. */
  | { kind: "quarter"; at: Date; timeZone: string }
  /** An environment's recorded next rotation date (rotation schedules) has come. */
  | { kind: "rotation-due"; at: Date; timeZone: string; environment: Environment };

/** When the bot starts a workflow by itself, in the security channel (KEYOPS_ALERT_CHANNEL). */
export interface WorkflowSchedule {
  /** At the start of every calendar quarter in the team's time zone. */
  quarterly?: boolean;
  /** When an environment's recorded next rotation falls due. */
  whenRotationDue?: boolean;
  /** The inputs of a start by `trigger`. */
  inputs(trigger: ScheduleTrigger): WorkflowInputs;
}

/** A thread reminder or an overdue page, measured from the workflow's deadline. */
export interface OverdueRule {
  /** The step the deadline is for; absent: the workflow as a whole (still open). */
  step?: string;
  /** The page's severity. */
  severity: PageSeverity;
  /** How long after the deadline on-call is paged (default at the deadline). */
  pageAfterMs?: number;
}

export interface WorkflowDefinition {
  /** Stable id stored with each workflow, e.g. "key-compromised". */
  kind: string;
  /** The slash command that starts it. */
  command: string;
  /** Display name, e.g. "Key compromised". */
  name: string;
  /** The title of one workflow, e.g. "Production key compromised". */
  title(inputs: WorkflowInputs): string;
  steps(context: StepContext): StepDefinition[];
  /** Reads the slash command's text into inputs (throws UserError with a short message). */
  parseCommand(text: string, defaults: CommandDefaults): ParsedCommand;
  /** "roster": the environments are those the subject could read, filled in at start. */
  environmentsFrom?: "roster";
  pageSeverity(inputs: WorkflowInputs): PageSeverity;
  /** When the work must be done by (offboarding: rotation within 24 hours). */
  deadline?(inputs: WorkflowInputs, startedAt: Date): Date | undefined;
  /** How the message names the deadline; default "Rotate by". */
  deadlineLabel?: string;
  /**
   * The step the deadline is for: not DONE when the deadline (plus `pageAfterMs`) passes, the
   * workflow still open, on-call is paged at `severity` as a page of its own (offboarding: the
   * 24-hour rotation; quarterly maintenance: the whole workflow, two weeks late).
   */
  overdue?: OverdueRule;
  /**
   * Thread reminders mentioning the requester and the approvers, at these offsets from the
   * deadline in milliseconds (negative: before it) while the workflow is open. None by default.
   */
  remindersMs?: readonly number[];
  /** When the bot starts it by itself (a general scheduler reads this for every definition). */
  schedule?: WorkflowSchedule;
  /**
   * At most one open workflow of this kind holds the same key (a quarter's maintenance); a start
   * while one is open is refused, naming it. Undefined: no limit.
   */
  openKey?(inputs: WorkflowInputs): string | undefined;
  /** Its subject is leaving (an offboarding): an access audit flags them. */
  subjectLeaves?: boolean;
  /** Facts gathered at start that its steps are derived from (integrations per platform). */
  gathers?: readonly StartFact[];
  /** The form the command opens when it is given no text; its submission starts this workflow. */
  form?: WorkflowForm;
  /** How the requester is named on the message and the post-mortem ("Declared" by); default "Requested". */
  requesterLabel?: string;
  /**
   * Why the workflow cannot start for these facts (someone already has the access asked for), or
   * undefined; checked before anything is written, the reason shown to the requester.
   */
  refuseStart?(facts: StartCheck): string | undefined;
  /** What a successful rotation marks the version it replaced ("compromised": never trusted again). */
  rotationMarksPrevious?: "compromised";
  /** Whether `<command> drill [...]` rehearses it (see WorkflowInputs.drill). */
  allowsDrill?: boolean;
}

/** What refuseStart is told. */
export interface StartCheck {
  inputs: WorkflowInputs;
  requestedBy: string;
  /** The environments the subject holds a roster grant for (empty without a subject). */
  subjectGrants: Environment[];
  /** For a definition gathering "lost-version": the main environment's versions lost and not yet marked LOST. */
  lostVersions: number[];
  /** For a definition gathering "key-version": inputs.keyVersion of the main environment (null: no such version). */
  keyVersion?: KeyVersionFacts | null;
}

/** What a start is told of a key version: its state and, retired, when its retention ends. */
export interface KeyVersionFacts {
  version: number;
  state: string;
  fingerprint: string;
  /** yyyy-mm-dd; null unless retired. */
  retainedUntil: string | null;
  /** Its retention has ended (a retired version may be destroyed). */
  retentionEnded: boolean;
}

/**
 * "platform-counts": stored integrations per platform in the main environment. "lost-version": the
 * main environment's oldest version KeyOps holds no usable key of (not yet marked LOST), into inputs.keyVersion, and the
 * platform counts are then of the integrations under it (from the version prefix, never decrypting).
 */
export type StartFact = "platform-counts" | "lost-version" | "key-version";

/** A form a command can open instead of starting at once (views/modals.ts renders each). */
export type WorkflowForm = "declare-incident";

export interface Approval {
  decision: "APPROVED" | "REJECTED";
  by: string;
  at: Date;
  reason?: string;
}

export interface RotationFigures {
  environment: Environment;
  runId: number;
  toVersion: number;
  toFingerprint: string;
  rows: number;
  reencrypted: number;
  failed: number;
  rowsPerSecond: number;
  durationMs: number;
  digestUnchanged: boolean;
  /** sha256 over every plaintext after the run (not secret: it proves nothing changed). */
  digestAfter: string;
  /** The version that was active before the rotation (what retire-previous retires). */
  previousVersion?: number | null;
  /** ISO time the run started; rows the application wrote after it explain a changed digest. */
  startedAt?: string;
  /** Rows the application wrote during the run (null: the target cannot tell). */
  applicationWrites?: number | null;
}

/** What an automated step produced; never key material (fingerprints only). */
export interface StepResult {
  /** Short lines for the message and the thread, e.g. "v3 generated (fingerprint 1a2b3c4d)". */
  lines: string[];
  rotations?: RotationFigures[];
  /** A failed rotation: how many rows could not be re-encrypted. */
  failedRows?: number;
  /** The key version a generate-key step created, for the rotation that follows. */
  generated?: { environment: Environment; version: number; fingerprint: string }[];
  /** Workflows a person may start from here with one click (the step's startsWorkflow). */
  offers?: WorkflowOffer[];
}

/** "Start /key-rotate for production": a workflow a button starts, with its inputs. */
export interface WorkflowOffer {
  kind: string;
  /** The button's text. */
  label: string;
  inputs: WorkflowInputs;
}

export interface StepSnapshot extends StepDefinition {
  status: StepStatus;
  assignee?: string;
  /** Who finished it (DONE, SKIPPED or the approver) and when. */
  finishedBy?: string;
  finishedAt?: Date;
  skipReason?: string;
  approval?: Approval;
  result?: StepResult;
  error?: string;
}

/** A running automated step's live progress (a rotation's batches, an activation's hand-over wait). */
export interface RotationProgress {
  /** The step reporting it; absent in progress stored before steps named theirs (the rotate step's). */
  stepKey?: string;
  environment: Environment;
  phase: string;
  done: number;
  total: number;
  rowsPerSecond: number;
  etaSeconds: number | null;
  /** What a waiting phase waits for ("api: 2 of 3 instances can read v4"). */
  note?: string;
  /** What the operator can do about it ("add ENCRYPTION_KEY_V4 to api … and redeploy"). */
  advice?: string;
  updatedAt: Date;
}

/** paging: sent to PagerDuty, not yet accepted (retrying in the background). */
export type PageStatus = "off" | "paging" | "triggered" | "acknowledged" | "resolved" | "failed";

export interface PageSnapshot {
  status: PageStatus;
  /** Slack user ids of the people on call, when known. */
  onCall: string[];
  /** Who acknowledged (a name or Slack id) and when. */
  by?: string;
  at?: Date;
  error?: string;
}

export interface WorkflowSnapshot {
  id: string;
  /** Human number, shown as #12. */
  number: number;
  kind: string;
  name: string;
  title: string;
  command: string;
  /** "Requested" or the definition's own word ("Declared"). */
  requesterLabel: string;
  /** How the message names the deadline (the definition's deadlineLabel), when not "Rotate by". */
  deadlineLabel?: string;
  status: WorkflowStatus;
  inputs: WorkflowInputs;
  requestedBy: string;
  channelId: string;
  messageTs?: string;
  createdAt: Date;
  closedAt?: Date;
  closedBy?: string;
  closeReason?: string;
  deadlineAt?: Date;
  steps: StepSnapshot[];
  rotation?: RotationProgress;
  page: PageSnapshot;
  /** Optimistic-concurrency counter, bumped by every transition. */
  version: number;
}

/** What the audit log records; each becomes one line in the message's thread. */
export type AuditAction =
  | "workflow.started"
  | "workflow.resolved"
  | "workflow.cancelled"
  | "step.done"
  | "step.skipped"
  | "step.assigned"
  | "step.started"
  | "step.succeeded"
  | "step.failed"
  | "step.retried"
  /** A live replica took over a running step whose replica stopped beating (died, or lost the database). */
  | "step.taken-over"
  | "approval.requested"
  | "approval.approved"
  | "approval.rejected"
  /** Someone tried what they may not do (approve their own request, finish another's step). */
  | "permission.refused"
  | "page.triggered"
  | "page.failed"
  | "page.acknowledged"
  | "page.escalated"
  | "page.reassigned"
  | "page.resolved"
  /** Nobody acknowledged the page within the reminder interval. */
  | "page.unacknowledged"
  /** The deadline is near or passed; `remind` names who is reminded (requester, approvers). */
  | "deadline.reminder"
  /** A scheduled start came while this workflow, open, already covers it (a rotation fell due). */
  | "schedule.due"
  /** The deadline passed with its step not done: on-call paged (see WorkflowDefinition.overdue). */
  | "deadline.missed"
  /** The access roster changed (not tied to a workflow). */
  | "access.granted"
  | "access.revoked"
  /** A key version was written to a file for the application's hosting variables or the backup. */
  | "key.exported"
  /** A lost key version was taken back from a backup (`keys import`), checked against its fingerprint. */
  | "key.imported"
  /** A retired version's wrapped key was erased after its retention, approved by two people. */
  | "key.destroyed";

export interface TimelineEvent {
  sequence: number;
  at: Date;
  /** A Slack user id, or "keyops" for the bot itself, or "pagerduty". */
  actor: string;
  action: AuditAction;
  stepKey?: string;
  /** Short facts: reason, assignee, figures. Never key material. */
  detail: Record<string, string | number | boolean | null>;
}
