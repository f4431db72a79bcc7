import { DateTime } from "luxon";
import type { ClientInstanceInfo } from "../engine/client-registry.js";
import type { RotationEngine } from "../engine/engine.js";
import { ENVIRONMENTS, type Environment } from "../environments.js";
import type { PrismaClient } from "../generated/prisma/client.js";
import type { Logger } from "../logger.js";
import type { Pager, PageSeverity } from "../workflows/pager.js";

/** Where an alert's line goes (the security channel); Slack fills it. */
export interface AlertChannel {
  post(text: string): Promise<void>;
}

export interface ClientAlertSettings {
  /** More than this many decryption failures in an hour in one environment raise an alert. */
  failuresPerHour: number;
}

interface RaisedAlert {
  key: string;
  environment: Environment;
  kind: "failures" | "key";
  summary: string;
}

const severity = (environment: Environment): PageSeverity =>
  environment === "production" ? "critical" : "error";

/**
 * The guide's monitoring alerts, from what the application's instances report: decryption
 * failures over the threshold in an hour, an instance without a key, an instance with a key that
 * does not match KeyOps's version. Each opens once (a line in the alert channel and a page,
 * deduplicated by its key) and resolves when the condition has passed: a quiet hour for
 * failures, the instance fixed or gone for a key. Safe to run on every replica at once.
 */
export class ClientAlerts {
  constructor(
    private readonly o: {
      prisma: PrismaClient;
      engine: RotationEngine;
      pager: Pager;
      channel: AlertChannel | undefined;
      settings: ClientAlertSettings;
      log: Logger;
      now?: () => Date;
    },
  ) {}

  async check(): Promise<void> {
    for (const environment of ENVIRONMENTS) {
      const raised = await this.raisedIn(environment);
      for (const alert of raised) await this.open(alert);
      await this.resolveAllBut(environment, raised);
    }
  }

  private async raisedIn(environment: Environment): Promise<RaisedAlert[]> {
    const raised: RaisedAlert[] = [];
    const failures = await this.o.engine.clients.failures(environment, 60 * 60_000);
    const total = failures.reduce((sum, f) => sum + f.count, 0);
    if (total > this.o.settings.failuresPerHour) {
      const hour = DateTime.fromJSDate(this.now(), { zone: "UTC" }).toFormat("yyyy-MM-dd'T'HH");
      const detail = failures
        .map((f) => `${f.reason}${f.version === null ? "" : ` v${f.version}`}: ${f.count}`)
        .join(", ");
      raised.push({
        key: `failures:${environment}:${hour}`,
        environment,
        kind: "failures",
        summary: `${environment}: ${total} decryption failures in the last hour (${detail})`,
      });
    }
    const mismatched = new Map(
      (await this.o.engine.mismatchedClients(environment)).map((m) => [m.instance.instanceId, m.versions]),
    );
    for (const instance of await this.o.engine.clients.live(environment)) {
      const problem = keyProblem(instance, mismatched.get(instance.instanceId) ?? []);
      if (problem) {
        raised.push({
          key: `key:${environment}:${instance.instanceId}`,
          environment,
          kind: "key",
          summary: `${environment}: ${instance.service} instance ${instance.instanceId} ${problem}`,
        });
      }
    }
    return raised;
  }

  private async open(alert: RaisedAlert): Promise<void> {
    // A failures alert of an earlier hour still open covers this one: one page per episode and hour.
    const inserted = await this.o.prisma.clientAlert.createMany({
      data: [{ key: alert.key, environment: alert.environment, kind: alert.kind, summary: alert.summary }],
      skipDuplicates: true,
    });
    if (inserted.count === 0) return;
    this.o.log.warn("alert opened", { key: alert.key, summary: alert.summary });
    await this.o.channel
      ?.post(`:rotating_light: *KeyOps alert* — ${alert.summary}`)
      .catch((error: Error) => this.o.log.warn("alert post failed", { error: error.message }));
    if (this.o.pager.enabled) {
      await this.o.pager
        .trigger({
          dedupKey: pageKey(alert.key),
          summary: `KeyOps: ${alert.summary}`.slice(0, 1024),
          severity: severity(alert.environment),
          source: "keyops",
          component: "keyops/client",
          details: { environment: alert.environment, kind: alert.kind },
        })
        .catch((error: Error) => this.o.log.warn("alert page failed", { error: error.message }));
    }
  }

  /** Open alerts of the environment that are no longer raised: a quiet hour, a fixed or gone instance. */
  private async resolveAllBut(environment: Environment, raised: RaisedAlert[]): Promise<void> {
    const stillRaised = new Set(raised.map((a) => a.key));
    const failing = raised.some((a) => a.kind === "failures");
    const open = await this.o.prisma.clientAlert.findMany({ where: { environment, resolvedAt: null } });
    for (const alert of open) {
      // Failures resolve only after a whole quiet hour, not when the hour's count dips under the threshold.
      const over =
        alert.kind === "failures"
          ? !failing && (await this.quietHour(environment))
          : !stillRaised.has(alert.key);
      if (!over) continue;
      const resolved = await this.o.prisma.clientAlert.updateMany({
        where: { key: alert.key, resolvedAt: null },
        data: { resolvedAt: this.now() },
      });
      if (resolved.count === 0) continue;
      this.o.log.info("alert resolved", { key: alert.key });
      await this.o.channel
        ?.post(`:white_check_mark: *KeyOps alert resolved* — ${alert.summary}`)
        .catch((error: Error) => this.o.log.warn("alert post failed", { error: error.message }));
      if (this.o.pager.enabled) {
        await this.o.pager
          .resolve(pageKey(alert.key))
          .catch((error: Error) => this.o.log.warn("alert resolve failed", { error: error.message }));
      }
    }
  }

  private async quietHour(environment: Environment): Promise<boolean> {
    const failures = await this.o.engine.clients.failures(environment, 60 * 60_000);
    return failures.length === 0;
  }

  private now(): Date {
    return this.o.now?.() ?? new Date();
  }
}

/** Failures alerts page per environment and hour; key alerts per instance. */
function pageKey(alertKey: string): string {
  return `keyops-alert:${alertKey}`;
}

/** What is wrong with an instance's keys, in words; undefined when nothing is. */
function keyProblem(instance: ClientInstanceInfo, mismatchedVersions: number[]): string | undefined {
  if (mismatchedVersions.length > 0) {
    return `holds a mismatched key for ${mismatchedVersions.map((v) => `v${v}`).join(", ")} (not KeyOps's key of that version)`;
  }
  if (instance.versions.length === 0) {
    return `has no encryption key${instance.problems.length > 0 ? `: ${instance.problems.join("; ")}` : ""}`;
  }
  if (instance.problems.length > 0) return `reports: ${instance.problems.join("; ")}`;
  return undefined;
}
