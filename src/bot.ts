import type { App } from "@slack/bolt";
import { WebClient } from "@slack/web-api";
import type { BotConfig } from "./bot-config.js";
import { registerListeners } from "./handlers/index.js";
import { checkHealth } from "./health.js";
import { SlackDirectory } from "./integrations/slack-directory.js";
import { JobQueue } from "./jobs/job-queue.js";
import { QueuedWorkflowJobs } from "./jobs/workflow-jobs.js";
import type { Logger } from "./logger.js";
import { openRuntime, type Runtime } from "./runtime.js";
import { createSlackApp } from "./slack/app.js";
import { boltLogger } from "./slack/bolt-logger.js";
import { SlackPublisher } from "./slack/publisher.js";
import { NoPager, type Pager } from "./workflows/pager.js";
import { Roster } from "./workflows/roster.js";
import { WorkflowService } from "./workflows/workflow-service.js";

export interface Bot {
  app: App;
  runtime: Runtime;
  service: WorkflowService;
  /** The HTTP port it listens on (HTTP mode, or the custom routes in Socket Mode). */
  port: number;
  /** Graceful: stops taking requests, lets in-flight ones and running jobs finish, closes the database. */
  stop(): Promise<void>;
}

export interface BotOverrides {
  pager?: Pager;
  /** Milliseconds between progress re-renders of a running rotation. */
  progressIntervalMs?: number;
}

/** The composition root: config -> database -> engine -> jobs -> workflows -> Slack app -> listen. */
export async function startBot(config: BotConfig, log: Logger, overrides: BotOverrides = {}): Promise<Bot> {
  const runtime = await openRuntime(config, log);
  let queue: JobQueue | undefined;
  try {
    queue = await JobQueue.start({ connectionString: runtime.db.url, log });
    const jobs = new QueuedWorkflowJobs(queue);
    const client = new WebClient(config.slack.botToken, {
      logger: boltLogger(log, config.logLevel),
      ...(config.slack.apiUrl ? { slackApiUrl: config.slack.apiUrl } : {}),
    });
    const service = new WorkflowService({
      prisma: runtime.db.prisma,
      engine: runtime.engine,
      pager: overrides.pager ?? new NoPager(),
      directory: new SlackDirectory(client),
      publisher: new SlackPublisher(client),
      jobs,
      approvers: config.approvers,
      defaultEnvironment: config.defaultEnvironment,
      sharedEnvironments: config.sharedEnvironments,
      log,
      ...(overrides.progressIntervalMs !== undefined
        ? { progressIntervalMs: overrides.progressIntervalMs }
        : {}),
    });
    const { app, drain } = createSlackApp({
      config,
      log,
      health: () => checkHealth(runtime.db, runtime.engine),
    });
    registerListeners(app, {
      service,
      engine: runtime.engine,
      roster: new Roster(runtime.db.prisma),
      allowedChannels: config.allowedChannels,
      log,
    });
    await jobs.work(service, log);
    const server = await app.start(config.port);
    const address = server && typeof server === "object" && "address" in server ? server.address() : null;
    const port = address && typeof address === "object" ? address.port : config.port;
    log.info("KeyOps is listening", { port, mode: config.slack.appToken ? "socket" : "http" });

    const startedQueue = queue;
    let stopping: Promise<void> | undefined;
    return {
      app,
      runtime,
      service,
      port,
      stop() {
        stopping ??= (async () => {
          await app
            .stop()
            .catch((error: Error) => log.warn("stopping Slack failed", { error: error.message }));
          await drain();
          await startedQueue.stop({ graceful: true, timeoutMs: 30_000 });
          await runtime.close();
        })();
        return stopping;
      },
    };
  } catch (error) {
    await queue?.stop({ graceful: false, timeoutMs: 1000 }).catch(() => undefined);
    await runtime.close();
    throw error;
  }
}
