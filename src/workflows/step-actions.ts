import { DateTime } from "luxon";
import { describeNeededVersion } from "../engine/backup-check.js";
import type { KeyringStatus, RotationEngine } from "../engine/engine.js";
import { reencryptedWords } from "../engine/figures.js";
import type { Progress } from "../engine/progress.js";
import type { Environment } from "../environments.js";
import { UserError } from "../errors.js";
import { appendAuditEvents } from "./audit-log.js";
import { definitionOf, WORKFLOW_DEFINITIONS } from "./definitions/index.js";
import type { Directory } from "./directory.js";
import type { WorkflowPublisher } from "./ports.js";
import type { Roster } from "./roster.js";
import type { RotationSchedules } from "./rotation-schedules.js";
import { BOT_ACTOR } from "./state-machine.js";
import type {
  RotationFigures,
  StepAction,
  StepResult,
  TimelineEvent,
  WorkflowDefinition,
  WorkflowOffer,
  WorkflowSnapshot,
} from "./types.js";

/** How often the next rotation is due after one (the guide: quarterly). */
export const ROTATION_INTERVAL = { months: 3 } as const;

const AUDIT_WINDOW_HOURS = 24;

export interface StepActionDeps {
  engine: RotationEngine;
  roster: Roster;
  schedules: RotationSchedules;
  /** The workflow's audit events, oldest first (the post-mortem's timeline). */
  timeline(workflowId: string): Promise<TimelineEvent[]>;
  publisher: WorkflowPublisher;
  now(): Date;
  /** A running rotation's progress (throttled by the caller). */
  onProgress(environment: Environment, progress: Progress): void;
  /** Who has left (Slack's deactivated accounts); absent: nobody is known to have left. */
  directory?: Pick<Directory, "isDeactivated">;
  /** Workflows of these kinds about these people (their subject), not cancelled, not drills. */
  workflowsAbout(
    kinds: string[],
    userIds: string[],
  ): Promise<{ number: number; status: string; subjectUserId: string }[]>;
}

/** What runs an automated step: the workflow in, a result out (a StepFailure keeps a partial one). */
export type StepRunner = (w: WorkflowSnapshot, deps: StepActionDeps) => Promise<StepResult>;

/**
 * The keyring a step of `w` acts on: the environment's own, or for a drill its scratch copy
 * (opened on first use, same rows and keys; the live rows and key states are never touched).
 */
function keyringOf(
  w: WorkflowSnapshot,
  environment: Environment,
  deps: StepActionDeps,
): Promise<Environment> {
  return w.inputs.drill ? deps.engine.openScratch(environment, w.id) : Promise.resolve(environment);
}

/** How a line names the environment: a drill's acts on its scratch copy. */
const onWhat = (w: WorkflowSnapshot, environment: Environment) =>
  w.inputs.drill ? `${environment} (drill copy)` : environment;

/** The generate-key step: a pending version per environment; only fingerprints leave here. */
export async function generateKeys(w: WorkflowSnapshot, deps: StepActionDeps): Promise<StepResult> {
  const generated = [];
  for (const environment of w.inputs.environments) {
    const info = await deps.engine.generate(await keyringOf(w, environment, deps));
    generated.push({ environment, version: info.version, fingerprint: info.fingerprint });
  }
  return {
    lines: generated.map(
      (g) =>
        `${onWhat(w, g.environment)}: v${g.version} generated (fingerprint ${g.fingerprint}), active after the rotation`,
    ),
    generated,
  };
}

/** The version a generate-key step of this workflow created for `environment`, if any. */
function generatedVersion(w: WorkflowSnapshot, environment: Environment): number | undefined {
  for (const step of w.steps) {
    const g = step.result?.generated?.find((x) => x.environment === environment);
    if (g) return g.version;
  }
  return undefined;
}

/** Runs started by a workflow say so, so that a retried job finds the run it already finished. */
export const runOwner = (w: WorkflowSnapshot) => `workflow:${w.id}`;

/**
 * The rotation step: activates the version this workflow generated (or generates one), re-encrypts,
 * verifies. Safe to repeat after a crash: an interrupted run resumes, a finished one is not redone.
 * A definition with `rotationMarksPrevious` then marks the version it replaced (compromised).
 */
export async function rotateEnvironments(w: WorkflowSnapshot, deps: StepActionDeps): Promise<StepResult> {
  const { onProgress } = deps;
  const marks = definitionOf(w.kind).rotationMarksPrevious;
  const rotations: RotationFigures[] = [];
  const lines: string[] = [];
  let failedRows = 0;
  let oldRows = 0;
  for (const environment of w.inputs.environments) {
    const keyring = await keyringOf(w, environment, deps);
    const label = onWhat(w, environment);
    const finished = await deps.engine.succeededRunOf(keyring, runOwner(w));
    if (finished) {
      lines.push(`${label}: rotated to v${finished.toVersion} by run ${finished.id}`);
      continue;
    }
    const before = await deps.engine.status(keyring);
    const generated = generatedVersion(w, environment);
    if (generated !== undefined) {
      const info = await deps.engine.keyVersion(keyring, generated);
      if (info.state === "PENDING") {
        await deps.engine.activate(keyring, generated, {
          waitForClients: true,
          onProgress: (progress) => onProgress(environment, progress),
        });
      }
    }
    const previous = generated === undefined ? before.activeVersion : previousActive(before, generated);
    const report = await deps.engine.rotate(keyring, {
      generate: generated === undefined && before.runningRun === null,
      requestedBy: runOwner(w),
      onProgress: (progress) => onProgress(environment, progress),
    });
    rotations.push({
      environment,
      runId: report.runId,
      toVersion: report.toVersion,
      toFingerprint: report.toFingerprint,
      rows: report.rows,
      reencrypted: report.reencrypted,
      failed: report.failed,
      rowsPerSecond: report.rowsPerSecond,
      durationMs: report.durationMs,
      digestUnchanged: report.digestUnchanged,
      digestAfter: report.digestAfter,
      startedAt: report.startedAt.toISOString(),
      applicationWrites: report.applicationWrites,
      previousVersion: previous,
    });
    failedRows += report.failed;
    // A run that ended FAILED_WITH_ROWS with every row decrypting left rows under an older version.
    if (report.status !== "SUCCEEDED") oldRows += Math.max(0, report.notOnActive - report.failed);
    lines.push(
      `${label}: ${reencryptedWords(report.reencrypted, report.rows)} to v${report.toVersion} ` +
        `(fingerprint ${report.toFingerprint}), ${report.failed} failed, ` +
        digestWords(report.digestUnchanged, report.applicationWrites, report.changedWithoutApplicationWrite),
    );
    if (marks === "compromised" && previous !== null && report.failed === 0) {
      await deps.engine.markCompromised(keyring, previous);
      lines.push(`${label}: v${previous} marked compromised`);
    }
  }
  const result: StepResult = { lines, rotations, ...(failedRows > 0 ? { failedRows } : {}) };
  const problems = [
    failedRows > 0 ? `${failedRows} ${failedRows === 1 ? "row" : "rows"} could not be re-encrypted` : "",
    oldRows > 0
      ? `${oldRows} ${oldRows === 1 ? "row is" : "rows are"} still under an older version (written by an ` +
        "application instance with an old key?); Retry once every instance writes the new version"
      : "",
  ].filter(Boolean);
  if (problems.length > 0) throw new StepFailure(problems.join("; "), result);
  return result;
}

/** The version that was active before `generated` took over (when it is active already, the one before it). */
function previousActive(status: KeyringStatus, generated: number): number | null {
  if (status.activeVersion !== null && status.activeVersion !== generated) return status.activeVersion;
  const older = status.versions
    .filter((v) => v.version < generated && (v.state === "DECRYPT_ONLY" || v.state === "ACTIVE"))
    .sort((a, b) => b.version - a.version);
  return older[0]?.version ?? null;
}

/**
 * engine.verify after the rotation: every row decrypts, all on the active version, and no secret
 * changed but by the application. The digest equal to the run's is the simple case; otherwise the
 * row prints of the run's start tell, row by row, which rows changed and whether the application
 * wrote each of them since (its writtenAtColumn): the step passes only if it wrote them all.
 */
export async function verifyEnvironments(w: WorkflowSnapshot, deps: StepActionDeps): Promise<StepResult> {
  const rotated = w.steps.flatMap((s) => s.result?.rotations ?? []);
  const lines: string[] = [];
  let problems = 0;
  for (const environment of w.inputs.environments) {
    const { report, proof } = await deps.engine.verifyAgainstRun(
      await keyringOf(w, environment, deps),
      runOwner(w),
    );
    const run = rotated.find((r) => r.environment === environment);
    const digestSame = run === undefined || run.digestAfter === report.plaintextDigest;
    let digest: string;
    if (digestSame) digest = "digest unchanged";
    else if (proof && proof.unexplained === 0)
      digest =
        `digest changed only by the application: ${proof.byApplication} ${proof.byApplication === 1 ? "row" : "rows"} ` +
        `it wrote since the run started; every other row holds the secret it held before the run (row by row)`;
    else if (proof)
      digest =
        `digest DIFFERENT: ${proof.unexplained} ${proof.unexplained === 1 ? "row" : "rows"} changed without an ` +
        `application write since the run started (${proof.unexplainedIds.join(", ")})`;
    else
      digest = "digest DIFFERENT (no row prints of the run's start to tell the application's writes apart)";
    const explained = digestSame || (proof !== null && proof.unexplained === 0);
    if (report.failed > 0 || report.notOnActive > 0 || !explained) problems += 1;
    lines.push(
      `${onWhat(w, environment)}: ${report.rows} rows, ${report.failed} fail to decrypt, ${report.notOnActive} not on ` +
        `v${report.activeVersion}, ${digest}`,
    );
  }
  if (problems > 0) throw new StepFailure(lines.join("; "), { lines });
  return { lines };
}

/**
 * The guide's "remove V1 key support": retires the version each rotation replaced. The engine
 * refuses while any target holds a row under it or a live application instance still writes it.
 */
export async function retirePreviousVersions(w: WorkflowSnapshot, deps: StepActionDeps): Promise<StepResult> {
  const lines: string[] = [];
  for (const r of w.steps.flatMap((s) => s.result?.rotations ?? [])) {
    if (r.previousVersion === undefined || r.previousVersion === null) {
      lines.push(`${onWhat(w, r.environment)}: no earlier version to retire`);
      continue;
    }
    const retired = await deps.engine.retire(await keyringOf(w, r.environment, deps), r.previousVersion);
    if (w.inputs.drill) {
      lines.push(
        `${onWhat(w, r.environment)}: v${retired.version} (fingerprint ${retired.fingerprint}) retired`,
      );
      continue;
    }
    lines.push(
      `${r.environment}: v${retired.version} (fingerprint ${retired.fingerprint}) retired; ` +
        `remove its key from the application (ENCRYPTION_KEY_V${retired.version}${retired.legacy ? " or ENCRYPTION_KEY" : ""})`,
    );
  }
  return { lines };
}

/** The guide's audit query: integrations updated in the last 24 hours, listed in the thread. */
export async function auditRecentAccess(w: WorkflowSnapshot, deps: StepActionDeps): Promise<StepResult> {
  const lines: string[] = [];
  for (const environment of w.inputs.environments) {
    const rows = await deps.engine.integrationsUpdatedWithin(environment, AUDIT_WINDOW_HOURS);
    if (!rows) {
      lines.push(`${environment}: no "PlatformIntegration" table configured for this environment`);
      continue;
    }
    const perPlatform = countBy(rows.map((r) => r.platform));
    const summary =
      rows.length === 0
        ? `${environment}: no integrations updated in the last 24 hours`
        : `${environment}: ${rows.length} integrations updated in the last 24 hours (${perPlatform})`;
    lines.push(summary);
    await deps.publisher.recentAccess(w, summary, rows);
  }
  return { lines };
}

/** The offboarded person's grants in the roster, revoked. */
export async function revokeRosterAccess(w: WorkflowSnapshot, deps: StepActionDeps): Promise<StepResult> {
  const subject = w.inputs.subjectUserId;
  if (!subject) return { lines: ["no person to revoke"] };
  const revoked = await deps.roster.revokeAll(subject, w.requestedBy, w.id);
  if (revoked.length === 0) return { lines: [`@${subject} had no grants in the roster`] };
  return { lines: [`revoked @${subject}'s access to ${revoked.join(", ")}`] };
}

/**
 * The subject's access to each of the workflow's environments, recorded in the roster (one
 * access.granted event each). Safe to repeat after a crash: a grant already held is left as it is.
 */
export async function grantRosterAccess(w: WorkflowSnapshot, deps: StepActionDeps): Promise<StepResult> {
  const subject = w.inputs.subjectUserId;
  if (!subject) throw new StepFailure("no person to grant access to", { lines: [] });
  const held = await deps.roster.grantsOf(subject);
  for (const environment of w.inputs.environments) {
    if (!held.includes(environment)) await deps.roster.grant(subject, environment, w.requestedBy, w.id);
  }
  return {
    lines: [`recorded @${subject}'s access to ${w.inputs.environments.join(", ")} in the roster`],
  };
}

/** Records the rotation date and the next one due, quarterly, in the requester's time zone. */
export async function recordRotationSchedule(w: WorkflowSnapshot, deps: StepActionDeps): Promise<StepResult> {
  // A drill rotated only its scratch copy: the live keys are as due as they were.
  if (w.inputs.drill) return { lines: ["drill: the live rotation schedule is left as it was"] };
  const zone = w.inputs.timeZone ?? "UTC";
  const rotated = DateTime.fromJSDate(deps.now(), { zone });
  const next = rotated.plus(ROTATION_INTERVAL);
  for (const environment of w.inputs.environments) {
    await deps.schedules.record(environment, {
      lastRotatedAt: rotated.toJSDate(),
      nextDueAt: next.toJSDate(),
      timeZone: zone,
      recordedBy: w.requestedBy,
      workflowId: w.id,
    });
  }
  return {
    lines: [`rotated ${rotated.toISODate()}; next rotation due ${next.toISODate()} (${zone})`],
  };
}

export async function writePostmortem(w: WorkflowSnapshot, deps: StepActionDeps): Promise<StepResult> {
  await deps.publisher.uploadPostmortem(w, await deps.timeline(w.id));
  return { lines: ["post-mortem draft uploaded to the thread"] };
}

/** The main environment and the key version the workflow is about (inputs.keyVersion, gathered at start). */
function keyVersionOf(w: WorkflowSnapshot): { environment: Environment; version: number } {
  const environment = w.inputs.environments[0];
  const version = w.inputs.keyVersion;
  if (environment === undefined || version === undefined)
    throw new StepFailure("this workflow names no key version", { lines: [] });
  return { environment, version };
}

const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

/**
 * The workflow's key version is held again (`keyops keys import` took it back) and every row of
 * the environment decrypts, its rows included. Fails, saying what to do, while it is still lost.
 */
export async function checkKeyRecovered(w: WorkflowSnapshot, deps: StepActionDeps): Promise<StepResult> {
  const { environment, version } = keyVersionOf(w);
  const info = await deps.engine.keyVersion(environment, version);
  if ((await deps.engine.lostVersions(environment)).some((v) => v.version === version)) {
    throw new StepFailure(
      `${environment}: v${version} (fingerprint ${info.fingerprint}) is still lost to KeyOps; take it back from ` +
        `the backup with keyops keys import --env ${environment} --version ${version}, then Retry`,
      { lines: [] },
    );
  }
  const report = await deps.engine.verify(environment);
  const under = report.perVersion[String(version)] ?? 0;
  if (report.failed > 0) {
    throw new StepFailure(
      `${environment}: v${version} is back, but ${plural(report.failed, "row")} of ${report.rows} fail to decrypt`,
      { lines: [] },
    );
  }
  return {
    lines: [
      `${environment}: v${version} (fingerprint ${info.fingerprint}) is back: ${plural(under, "row")} under it ` +
        `decrypt, and every row of ${environment} does (${report.rows})`,
    ],
  };
}

/** Rows per target and integrations per platform under the workflow's version, from the version prefix only. */
export async function countVersionRows(w: WorkflowSnapshot, deps: StepActionDeps): Promise<StepResult> {
  const { environment, version } = keyVersionOf(w);
  const info = await deps.engine.keyVersion(environment, version);
  const targets = await deps.engine.countRowsUnder(environment, version);
  const platforms = await deps.engine.integrationsPerPlatformUnder(environment, version);
  const total = targets.reduce((sum, t) => sum + t.rows, 0);
  const perTarget = targets.map((t) => `${t.target} ${t.rows}`).join(", ");
  const perPlatform = platforms.map((p) => `${p.platform} ${p.count}`).join(", ");
  return {
    lines: [
      `${environment}: ${plural(total, "row")} under v${version} (fingerprint ${info.fingerprint})` +
        `${perTarget ? ` (${perTarget})` : ""}; integrations per platform: ${perPlatform || "none"} ` +
        "(from the ciphertexts' version prefix; nothing decrypted)",
    ],
  };
}

/** The workflow's version marked lost: confirmed unrecoverable by a second person before this runs. */
export async function markKeyLost(w: WorkflowSnapshot, deps: StepActionDeps): Promise<StepResult> {
  const { environment, version } = keyVersionOf(w);
  const lost = await deps.engine.markLost(environment, version);
  return {
    lines: [
      `${environment}: v${version} (fingerprint ${lost.fingerprint}) marked lost; the credentials under it are ` +
        "permanently inaccessible",
    ],
  };
}

/** Activates the version this workflow generated, once every live application instance holds it. */
export async function activateKey(w: WorkflowSnapshot, deps: StepActionDeps): Promise<StepResult> {
  const lines: string[] = [];
  for (const environment of w.inputs.environments) {
    const version = generatedVersion(w, environment);
    if (version === undefined)
      throw new StepFailure(`${environment}: this workflow generated no key to activate`, { lines });
    const info = await deps.engine.keyVersion(environment, version);
    if (info.state !== "ACTIVE") {
      await deps.engine.activate(environment, version, {
        waitForClients: true,
        onProgress: (progress) => deps.onProgress(environment, progress),
      });
    }
    lines.push(
      `${environment}: v${version} (fingerprint ${info.fingerprint}) is active: new credentials are encrypted with it`,
    );
  }
  return { lines };
}

/** The step of `w` running `action` (a runner is told the workflow, not its step). */
function runningStep(w: WorkflowSnapshot, action: StepAction) {
  return (
    w.steps.find((s) => s.action === action && s.status === "RUNNING") ??
    w.steps.find((s) => s.action === action)
  );
}

const isoDate = (at: Date, zone: string) => DateTime.fromJSDate(at, { zone }).toISODate() ?? at.toISOString();

/** A button starting `starts` (a /key-rotate) for one environment, from a step of `w`; a drill offers a drill. */
export function offerToStart(
  w: WorkflowSnapshot,
  starts: WorkflowDefinition,
  environment: Environment,
): WorkflowOffer {
  return {
    kind: starts.kind,
    label: `Start ${starts.command} ${environment}`,
    inputs: {
      environments: [environment],
      summary: `#${w.number} ${w.title}: the ${environment} rotation is due`,
      ...(w.inputs.drill && starts.allowsDrill ? { drill: true } : {}),
    },
  };
}

/**
 * The guide's "Review key rotation schedule": each environment's last and next rotation (the
 * recorded schedule); one that is due (its date passed, or never rotated through KeyOps while it
 * has a key) is offered as the step's startsWorkflow (a /key-rotate of it) with one click.
 */
export async function reviewRotationSchedule(w: WorkflowSnapshot, deps: StepActionDeps): Promise<StepResult> {
  const step = runningStep(w, "review-rotation-schedule");
  const starts = step?.startsWorkflow ? definitionOf(step.startsWorkflow) : undefined;
  const schedules = await deps.schedules.list();
  const now = deps.now();
  const lines: string[] = [];
  const offers: WorkflowOffer[] = [];
  for (const environment of w.inputs.environments) {
    const schedule = schedules.find((s) => s.environment === environment);
    if (!schedule) {
      const status = await deps.engine.status(environment);
      if (status.activeVersion === null) {
        lines.push(`${environment}: no active key, nothing to rotate`);
        continue;
      }
      lines.push(`${environment}: never rotated through KeyOps (v${status.activeVersion} active): due now`);
    } else {
      const due = schedule.nextDueAt <= now;
      lines.push(
        `${environment}: last rotated ${isoDate(schedule.lastRotatedAt, schedule.timeZone)}, next due ` +
          `${isoDate(schedule.nextDueAt, schedule.timeZone)}${due ? " (due now)" : ""}`,
      );
      if (!due) continue;
    }
    if (!starts) continue;
    offers.push(offerToStart(w, starts, environment));
  }
  return { lines, ...(offers.length > 0 ? { offers } : {}) };
}

/**
 * The guide's "Audit who has key access": the roster, each person with the environments they can
 * read; people who have left are flagged: Slack says their account is deactivated, or a workflow
 * whose subject leaves (an offboarding) is about them.
 */
export async function auditKeyAccess(_w: WorkflowSnapshot, deps: StepActionDeps): Promise<StepResult> {
  const grants = await deps.roster.list();
  const people = [...new Set(grants.map((g) => g.slackUserId))];
  if (people.length === 0) return { lines: ["nobody holds key access in the roster"] };
  const leaving = WORKFLOW_DEFINITIONS.filter((d) => d.subjectLeaves).map((d) => d.kind);
  const about = await deps.workflowsAbout(leaving, people);
  const lines: string[] = [];
  let left = 0;
  for (const person of people) {
    const environments = grants.filter((g) => g.slackUserId === person).map((g) => g.environment);
    const flags: string[] = [];
    if ((await deps.directory?.isDeactivated(person).catch(() => undefined)) === true)
      flags.push("Slack says the account is deactivated");
    for (const o of about.filter((a) => a.subjectUserId === person))
      flags.push(`offboarding #${o.number} (${o.status.toLowerCase()})`);
    if (flags.length > 0) left += 1;
    lines.push(
      `@${person}: ${environments.join(", ")}${flags.length > 0 ? ` ⚠️ has left: ${flags.join("; ")}; revoke with /keyops access revoke` : ""}`,
    );
  }
  lines.unshift(
    `${people.length} ${people.length === 1 ? "person holds" : "people hold"} key access; ` +
      `${left === 0 ? "nobody has" : `${left} ${left === 1 ? "has" : "have"}`} left`,
  );
  return { lines };
}

/** How far back the application's reported failures are counted: the quarter gone by. */
const FAILURES_WINDOW = { months: 3 } as const;

/**
 * The guide's "Check for failed decryption attempts": per environment, the rows no key version
 * decrypts (the engine's verify) and the decryption failures the application's instances
 * reported over the last three months, by reason and version.
 */
export async function checkDecryptionFailures(
  w: WorkflowSnapshot,
  deps: StepActionDeps,
): Promise<StepResult> {
  const now = deps.now();
  const sinceMs = now.getTime() - DateTime.fromJSDate(now).minus(FAILURES_WINDOW).toMillis();
  const lines: string[] = [];
  for (const environment of w.inputs.environments) {
    const status = await deps.engine.status(environment);
    let rows: string;
    if (status.versions.length === 0) rows = "no key";
    else {
      try {
        const report = await deps.engine.verify(environment);
        rows = `${report.failed === 0 ? "every" : `⚠️ ${report.failed} of`} ${report.rows} ${report.rows === 1 ? "row" : "rows"} ${report.failed === 0 ? "decrypts" : "fail to decrypt"}`;
      } catch (error) {
        if (!(error instanceof UserError)) throw error;
        rows = error.message;
      }
    }
    const failures = await deps.engine.clients.failures(environment, sinceMs);
    const total = failures.reduce((sum, f) => sum + f.count, 0);
    const reported =
      total === 0
        ? "the application reported no decryption failures in the last 3 months"
        : `⚠️ the application reported ${total} decryption ${total === 1 ? "failure" : "failures"} in the last 3 months (` +
          failures
            .map((f) => `${f.reason}${f.version === null ? "" : ` v${f.version}`}: ${f.count}`)
            .join(", ") +
          ")";
    lines.push(`${environment}: ${rows}; ${reported}`);
  }
  return { lines };
}

/** The rows under the workflow's (lost) version, recorded as needing re-authentication. */
export async function recordReauth(w: WorkflowSnapshot, deps: StepActionDeps): Promise<StepResult> {
  const { environment, version } = keyVersionOf(w);
  const recorded = await deps.engine.recordReauth(environment, version, w.id);
  const total = recorded.targets.reduce((sum, t) => sum + t.rows, 0);
  const perPlatform = recorded.platforms.map((p) => `${p.platform} ${p.count}`).join(", ");
  return {
    lines: [
      `${environment}: ${plural(total, "row")} under v${version} recorded as needing re-authentication` +
        `${perPlatform ? ` (${perPlatform})` : ""}; list them with keyops reauth list --env ${environment}`,
    ],
  };
}

/** `digest unchanged`, `digest changed only by 42 application writes during the run`, or `digest CHANGED`. */
export function digestWords(
  unchanged: boolean,
  applicationWrites: number | null | undefined,
  changedWithoutApplicationWrite: number | null | undefined = null,
): string {
  if (unchanged) return "digest unchanged";
  if (changedWithoutApplicationWrite)
    return `digest CHANGED: ${changedWithoutApplicationWrite} ${changedWithoutApplicationWrite === 1 ? "row" : "rows"} without an application write`;
  if (applicationWrites)
    return `digest changed only by ${applicationWrites} application ${applicationWrites === 1 ? "write" : "writes"} during the run`;
  return "digest CHANGED";
}

/**
 * The guide's "ensure ENCRYPTION_KEY matches the backup's era", before the restore: the restored
 * copy configured for each environment (KEYOPS_RESTORE_DATABASE_URL_<ENV>, so no URL travels
 * through Slack) read with every version KeyOps holds. Fails when a row cannot be read, or when
 * rows are under a version the live keyring does not decrypt (the application could not read them
 * once restored); without a configured copy it says which CLI command to run instead.
 */
export async function checkRestoreCopy(w: WorkflowSnapshot, deps: StepActionDeps): Promise<StepResult> {
  const lines: string[] = [];
  const problems: string[] = [];
  for (const environment of w.inputs.environments) {
    if (!deps.engine.hasRestoreCopy(environment)) {
      problems.push(
        `${environment}: no restored copy is configured (KEYOPS_RESTORE_DATABASE_URL_${environment.toUpperCase()}); ` +
          `run keyops backup check --env ${environment} --database-url <the restored copy> where the URL is kept, ` +
          "then Skip this step with its result (never paste the URL here)",
      );
      continue;
    }
    const report = await deps.engine.checkRestoreCopy(environment);
    lines.push(
      `${environment} backup: ${plural(report.rows, "row")}, ${report.failed === 0 ? "all decrypt" : `${report.failed} cannot be read`}, ` +
        `digest ${report.plaintextDigest.slice(0, 16)}…`,
      ...report.versions.map((v) => `${environment} backup needs ${describeNeededVersion(v)}`),
    );
    if (report.failed > 0) {
      problems.push(
        `${environment}: ${plural(report.failed, "row")} of the backup cannot be read (first: ${report.failedRowIds.slice(0, 5).join(", ")})`,
      );
    }
    const notLive = report.versions.filter((v) => v.held && !v.liveDecrypts && v.failed < v.rows);
    if (notLive.length > 0) {
      problems.push(
        `${environment}: ${plural(
          notLive.reduce((sum, v) => sum + v.rows, 0),
          "row",
        )} of the backup are under ` +
          `${notLive.map((v) => `v${v.version}`).join(", ")}, held by KeyOps for this check but not in the live keyring: ` +
          "the application could not read them once restored",
      );
    }
    if (report.missingTargets.length > 0)
      lines.push(`${environment}: not in the copy: ${report.missingTargets.join(", ")}`);
  }
  if (problems.length > 0) throw new StepFailure(problems.join("; "), { lines });
  return { lines };
}

/** After the restore: every row of every target decrypts with the live keyring (older versions expected). */
export async function verifyRestored(w: WorkflowSnapshot, deps: StepActionDeps): Promise<StepResult> {
  const lines: string[] = [];
  let failed = 0;
  for (const environment of w.inputs.environments) {
    const report = await deps.engine.verify(environment);
    const versions = Object.entries(report.perVersion)
      .map(([version, rows]) => `v${version}: ${rows}`)
      .join(", ");
    failed += report.failed;
    lines.push(
      `${environment}: ${plural(report.rows, "row")}, ${report.failed === 0 ? "all decrypt" : `${report.failed} fail to decrypt`} ` +
        `(${versions || "no rows"}), digest ${report.plaintextDigest.slice(0, 16)}…`,
    );
    if (report.notOnActive > 0) {
      lines.push(
        `${environment}: ${plural(report.notOnActive, "row")} not on the active v${report.activeVersion}: /key-rotate ${environment} brings them onto it`,
      );
    }
  }
  if (failed > 0) throw new StepFailure(lines.join("; "), { lines });
  return { lines };
}

/**
 * Erases the workflow's key version (inputs.keyVersion) once both approval steps are given: the
 * engine refuses while its retention runs or a live row uses it; the key.destroyed audit event
 * commits with the erasure.
 */
export async function destroyKeyVersion(w: WorkflowSnapshot, deps: StepActionDeps): Promise<StepResult> {
  const { environment, version } = keyVersionOf(w);
  const approvedBy = w.steps
    .filter((s) => s.requiresApproval && s.approval?.decision === "APPROVED")
    .map((s) => s.approval?.by as string);
  const destroyed = await deps.engine.destroy(environment, version, {
    approvedBy,
    record: (tx, info) =>
      appendAuditEvents(tx, [
        {
          workflowId: w.id,
          actor: BOT_ACTOR,
          action: "key.destroyed",
          detail: {
            environment,
            version,
            fingerprint: info.fingerprint,
            approvedBy: approvedBy.map((a) => `@${a}`).join(" and "),
          },
        },
      ]),
  });
  return {
    lines: [
      `${environment}: v${destroyed.version} (fingerprint ${destroyed.fingerprint}) destroyed: its wrapped key is erased, ` +
        "no backup under it can be read any more",
    ],
  };
}

/** Every automated step's runner, by its action. */
export const STEP_RUNNERS: Record<StepAction, StepRunner> = {
  "generate-key": generateKeys,
  rotate: rotateEnvironments,
  verify: verifyEnvironments,
  "retire-previous": retirePreviousVersions,
  "audit-recent-access": auditRecentAccess,
  "revoke-roster-access": revokeRosterAccess,
  "grant-roster-access": grantRosterAccess,
  "record-rotation-schedule": recordRotationSchedule,
  "write-postmortem": writePostmortem,
  "check-key-recovered": checkKeyRecovered,
  "count-version-rows": countVersionRows,
  "mark-key-lost": markKeyLost,
  "activate-key": activateKey,
  "record-reauth": recordReauth,
  "review-rotation-schedule": reviewRotationSchedule,
  "audit-key-access": auditKeyAccess,
  "check-restore-copy": checkRestoreCopy,
  "verify-restored": verifyRestored,
  "destroy-key-version": destroyKeyVersion,
  "check-decryption-failures": checkDecryptionFailures,
};

/** A step that ran and found a problem: it fails with this message and keeps its result. */
export class StepFailure extends Error {
  constructor(
    message: string,
    readonly result: StepResult,
  ) {
    super(message);
  }
}

function countBy(values: string[]): string {
  const counts = new Map<string, number>();
  for (const v of values) counts.set(v, (counts.get(v) ?? 0) + 1);
  return [...counts].map(([k, n]) => `${k} ${n}`).join(", ");
}
