import type { Agent } from "node:https";
import type { App } from "@slack/bolt";
import { WebClient } from "@slack/web-api";
import { ClientAlerts } from "./alerts/client-alerts.js";
import { AuditHeadPublisher, auditHeadLine, publishingHeadOnClose } from "./audit/audit-heads.js";
import type { BotConfig } from "./bot-config.js";
import { registerListeners } from "./handlers/index.js";
import { ModalSeal } from "./handlers/modal-seal.js";
import { checkHealth } from "./health.js";
import { clientReportRoute } from "./http/client-report-route.js";
import { SERVER_OPTIONS } from "./http/limits.js";
import { PagerDutyPager, retryWithBackoff } from "./integrations/pagerduty/pagerduty-pager.js";
import { pagerDutyWebhookRoute } from "./integrations/pagerduty/webhook-route.js";
import { approverIds, SlackDirectory } from "./integrations/slack-directory.js";
import { JobQueue } from "./jobs/job-queue.js";
import { QueuedWorkflowJobs } from "./jobs/workflow-jobs.js";
import type { Logger } from "./logger.js";
import { KeyOpsMetrics } from "./metrics/metrics.js";
import { countDeliveryFailures } from "./metrics/pager.js";
import { metricsRoute, startMetricsServer } from "./metrics/route.js";
import { openRuntime, type Runtime } from "./runtime.js";
import { slackAlertChannel } from "./slack/alert-channel.js";
import { createSlackApp } from "./slack/app.js";
import { boltLogger } from "./slack/bolt-logger.js";
import { checkBotToken } from "./slack/installation.js";
import { SlackPublisher } from "./slack/publisher.js";
import { Approvers } from "./workflows/approvers.js";
import { AUDITED_TRANSACTION, appendAuditEvents } from "./workflows/audit-log.js";
import { NoPager, type Pager } from "./workflows/pager.js";
import { PagingService } from "./workflows/paging.js";
import { PublicationDelivery } from "./workflows/publication-delivery.js";
import { Roster } from "./workflows/roster.js";
import { RotationSchedules } from "./workflows/rotation-schedules.js";
import { WorkflowScheduler } from "./workflows/scheduler.js";
import { leaseSettings, StepLeases } from "./workflows/step-leases.js";
import { StepRunner } from "./workflows/step-runner.js";
import { WorkflowService } from "./workflows/workflow-service.js";

export interface Bot {
  app: App;
  runtime: Runtime;
  service: WorkflowService;
  /** The HTTP port it listens on (HTTP mode, or the custom routes in Socket Mode). */
  port: number;
  /** The port of KEYOPS_METRICS_PORT's listener, when set. */
  metricsPort: number | undefined;
  /** Graceful: stops taking requests, lets in-flight ones and running jobs finish, closes the database. */
  stop(): Promise<void>;
}

export interface BotOverrides {
  /** TLS settings for PagerDuty (tests trust their stand-in's CA with it). */
  pagerDutyAgent?: Agent;
  /** Milliseconds between progress re-renders of a running rotation. */
  progressIntervalMs?: number;
  /** HTTP mode listens on this address only (the sandbox: 127.0.0.1); on every interface when unset. */
  host?: string;
  /** How often each replica plans the workflows it starts by itself (default every 5 minutes). */
  schedulePlanMs?: number;
}

const SCHEDULE_PLAN_MS = 5 * 60_000;
/** Handled Slack and PagerDuty request keys are kept this long (dedupe needs minutes, not months). */
const HANDLED_REQUEST_RETENTION_DAYS = 30;
const FORGET_REQUESTS_MS = 60 * 60_000;

/** One outbox delivery's Slack call; past it the entry is retried (and first looked for). */
const SLACK_DELIVERY_TIMEOUT_MS = 10_000;
/** One look-up on the way to a start. */
const SLACK_LOOKUP_TIMEOUT_MS = 3_000;

/** The composition root: config -> database -> engine -> jobs -> workflows -> Slack app -> listen. */
export async function startBot(config: BotConfig, log: Logger, overrides: BotOverrides = {}): Promise<Bot> {
  const installation = await checkBotToken(config.slack.botToken, config.slack.apiUrl);
  const runtime = await openRuntime(config, log);
  let queue: JobQueue | undefined;
  let delivery: PublicationDelivery | undefined;
  let metricsServer: Awaited<ReturnType<typeof startMetricsServer>> | undefined;
  try {
    const metrics = new KeyOpsMetrics({ pool: runtime.db.pool, engine: runtime.engine, log });
    runtime.engine.observers.add(metrics.engineObserver);
    queue = await JobQueue.start({ connectionString: runtime.db.url, log });
    const jobs = new QueuedWorkflowJobs(queue);
    const clientOptions = {
      logger: boltLogger(log, config.logLevel),
      ...(config.slack.apiUrl ? { slackApiUrl: config.slack.apiUrl } : {}),
    };
    const client = new WebClient(config.slack.botToken, clientOptions);
    // What people see goes through the publication outbox, which retries with its own backoff:
    // its calls fail fast instead of retrying inside the client for up to half an hour.
    const deliveryClient = new WebClient(config.slack.botToken, {
      ...clientOptions,
      retryConfig: { retries: 0 },
      rejectRateLimitedCalls: true,
      timeout: SLACK_DELIVERY_TIMEOUT_MS,
    });
    // Look-ups on the way to starting a workflow (the requester's time zone, /offboard's subject)
    // answer within seconds or not at all: a start never waits for a Slack outage.
    const lookupClient = new WebClient(config.slack.botToken, {
      ...clientOptions,
      retryConfig: { retries: 1, factor: 1, minTimeout: 500, maxTimeout: 500 },
      timeout: SLACK_LOOKUP_TIMEOUT_MS,
    });
    const pager = countDeliveryFailures(createPager(config, log, overrides.pagerDutyAgent), (operation) =>
      metrics.pagerDeliveryFailed(operation),
    );
    const directory = new SlackDirectory(lookupClient);
    // The audit chain's head, published outside the database: the file, and a line in the security channel.
    const auditHeads = new AuditHeadPublisher(runtime.db.prisma, config.auditHeadFile, log);
    if (config.alertChannel) {
      const security = slackAlertChannel(client, config.alertChannel);
      auditHeads.addSink((head) => security.post(auditHeadLine(head)));
    }
    const outbox = new PublicationDelivery({
      prisma: runtime.db.prisma,
      pool: runtime.db.pool,
      publisher: publishingHeadOnClose(new SlackPublisher(deliveryClient), auditHeads),
      log,
    });
    delivery = outbox;
    // Steps whose work is in Slack (the post-mortem's upload, the audit query's rows) and PagerDuty's
    // link to the message: the client's own retries, and the step's job retries after them.
    const publisher = new SlackPublisher(client);
    const roster = new Roster(runtime.db.prisma);
    const leases = new StepLeases(runtime.db.prisma, leaseSettings(config.takeoverSeconds), log);
    const service = new WorkflowService({
      prisma: runtime.db.prisma,
      engine: runtime.engine,
      roster,
      pagingEnabled: pager.enabled,
      pageDrills: config.drillPage === "info",
      directory,
      jobs,
      published: () => outbox.kick(),
      approvers: new Approvers(approverIds(config.approvers), directory),
      defaultEnvironment: config.defaultEnvironment,
      sharedEnvironments: config.sharedEnvironments,
      timeZone: config.timeZone,
      log,
    });
    const steps = new StepRunner({
      directory,
      service,
      engine: runtime.engine,
      roster,
      prisma: runtime.db.prisma,
      publisher,
      jobs,
      leases,
      log,
      ...(overrides.progressIntervalMs !== undefined
        ? { progressIntervalMs: overrides.progressIntervalMs }
        : {}),
    });
    const paging = new PagingService({
      pager,
      service,
      directory,
      publisher,
      jobs,
      log,
      retry: {
        attempts: config.pagerDuty?.retryAttempts ?? 1,
        delayMs: config.pagerDuty?.retryDelayMs ?? 0,
      },
      acknowledgeWithinMs: config.pagerDuty?.acknowledgeWithinMs ?? 5 * 60_000,
      severities: config.pagerDuty?.severities ?? {},
      withRetries: (send, onRetry) =>
        retryWithBackoff(send, {
          attempts: config.pagerDuty?.retryAttempts ?? 1,
          delayMs: config.pagerDuty?.retryDelayMs ?? 0,
          onRetry,
        }),
    });
    const { app, drain } = createSlackApp({
      config,
      installation,
      log,
      health: () => checkHealth(runtime.db, runtime.engine),
      routes: [
        pagerDutyWebhookRoute({ secret: config.pagerDuty?.webhookSecret, paging, log }),
        clientReportRoute({ tokens: config.reportTokens, pool: runtime.db.pool, log }),
        metricsRoute({ token: config.metrics.token, metrics, log }),
      ],
      onAck: (type, seconds) => metrics.observeAck(type, seconds),
    });
    registerListeners(app, {
      service,
      paging,
      engine: runtime.engine,
      roster,
      allowedChannels: config.allowedChannels,
      installation,
      lookups: lookupClient,
      seal: new ModalSeal(config.slack.signingSecret),
      audit: async (entry) => {
        await runtime.db.prisma.$transaction((tx) => appendAuditEvents(tx, [entry]), AUDITED_TRANSACTION);
      },
      log,
    });
    const alerts = new ClientAlerts({
      prisma: runtime.db.prisma,
      engine: runtime.engine,
      pager,
      channel: config.alertChannel ? slackAlertChannel(client, config.alertChannel) : undefined,
      settings: { failuresPerHour: config.alertFailuresPerHour },
      log,
    });
    const stopAlerts = everyInterval(config.alertCheckIntervalMs, () =>
      alerts.check().catch((error: Error) => log.warn("alert check failed", { error: error.message })),
    );
    await auditHeads.publish("start");
    const stopAuditHeads = config.auditPublishMs > 0 ? auditHeads.every(config.auditPublishMs) : () => {};
    await jobs.work(steps, service, paging, log);
    // Workflows the bot starts by itself (quarterly maintenance) in the security channel.
    const scheduler = new WorkflowScheduler({
      service,
      schedules: new RotationSchedules(runtime.db.prisma),
      jobs,
      channelId: config.alertChannel,
      timeZone: config.timeZone,
      log,
    });
    if (!config.alertChannel)
      log.info(
        "KEYOPS_ALERT_CHANNEL is not set: scheduled workflows (quarterly maintenance) are not started",
      );
    await jobs.workSchedules(scheduler);
    await scheduler.plan();
    const stopPlanning = everyInterval(overrides.schedulePlanMs ?? SCHEDULE_PLAN_MS, () =>
      scheduler
        .plan()
        .then(() => undefined)
        .catch((error: Error) => log.warn("planning scheduled workflows failed", { error: error.message })),
    );
    outbox.start();
    const stopForgetting = everyInterval(FORGET_REQUESTS_MS, () =>
      service
        .forgetHandledRequests(HANDLED_REQUEST_RETENTION_DAYS)
        .then(() => undefined)
        .catch((error: Error) => log.warn("forgetting handled requests failed", { error: error.message })),
    );
    await steps.resumeInterruptedSteps();
    const stopTakeovers = everyInterval(leases.settings.beatMs, () =>
      steps
        .takeOverStaleSteps()
        .then(() => undefined)
        .catch((error: Error) => log.warn("looking for steps to take over failed", { error: error.message })),
    );
    if (config.metrics.listen)
      metricsServer = await startMetricsServer({ ...config.metrics.listen, metrics, log });
    const server = await app.start(
      overrides.host ? { port: config.port, host: overrides.host } : config.port,
      SERVER_OPTIONS,
    );
    const address = server && typeof server === "object" && "address" in server ? server.address() : null;
    const port = address && typeof address === "object" ? address.port : config.port;
    log.info("KeyOps is listening", { port, mode: config.slack.appToken ? "socket" : "http" });

    const startedQueue = queue;
    const startedMetrics = metricsServer;
    let stopping: Promise<void> | undefined;
    return {
      app,
      runtime,
      service,
      port,
      metricsPort: startedMetrics?.port,
      stop() {
        stopping ??= (async () => {
          await stopAlerts();
          await stopTakeovers();
          await stopPlanning();
          await stopForgetting();
          await app
            .stop()
            .catch((error: Error) => log.warn("stopping Slack failed", { error: error.message }));
          await drain();
          await startedMetrics?.close();
          await startedQueue.stop({ graceful: true, timeoutMs: 30_000 });
          await outbox.stop();
          stopAuditHeads();
          await auditHeads.publish("stop");
          await runtime.close();
        })();
        return stopping;
      },
    };
  } catch (error) {
    await delivery?.stop();
    await queue?.stop({ graceful: false, timeoutMs: 1000 }).catch(() => undefined);
    await metricsServer?.close();
    await runtime.close();
    throw error;
  }
}

/** PagerDuty when a routing key is set; otherwise paging is off and every message says so. */
function createPager(config: BotConfig, log: Logger, agent: Agent | undefined): Pager {
  const pd = config.pagerDuty;
  if (!pd) return new NoPager();
  return new PagerDutyPager(
    {
      routingKey: pd.routingKey,
      apiToken: pd.apiToken,
      escalationPolicyId: pd.escalationPolicyId,
      eventsHost: pd.eventsHost,
      apiHost: pd.apiHost,
      timeoutMs: pd.timeoutMs,
      agent,
    },
    log,
  );
}

/** Runs `work` every `ms`, one at a time; the returned function stops it and waits for a run in flight. */
function everyInterval(ms: number, work: () => Promise<void>): () => Promise<void> {
  let running: Promise<void> | undefined;
  const timer = setInterval(() => {
    running ??= work().finally(() => {
      running = undefined;
    });
  }, ms);
  timer.unref();
  return async () => {
    clearInterval(timer);
    await running;
  };
}
