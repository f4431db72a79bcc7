import type pg from "pg";
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";
import type { RotationEngine } from "../engine/engine.js";
import type { EngineObserver, ObservedRunStatus } from "../engine/observer.js";
import { ENVIRONMENTS, type Environment } from "../environments.js";
import type { Logger } from "../logger.js";
import { WORKFLOW_DEFINITIONS } from "../workflows/definitions/index.js";

export interface MetricsOptions {
  /** The KeyOps database: workflows, client reports and the job queue's tables. */
  pool: pg.Pool;
  engine: RotationEngine;
  log: Logger;
  /** pg-boss's schema (JobQueue's default). */
  jobSchema?: string;
}

/** Slack wants the ack within 3 s; the buckets resolve the part that matters below that. */
const ACK_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5];
/** The re-encryption rate is over the batches of the last this many milliseconds. */
const RATE_WINDOW_MS = 10_000;
const HOUR_MS = 3_600_000;
const SQL_IDENTIFIER = /^[a-z_][a-z0-9_]*$/;

interface Batch {
  at: number;
  rows: number;
}

/**
 * KeyOps's Prometheus metrics (GET /metrics). Figures of this process (rotations, Slack acks,
 * PagerDuty deliveries) are counted as they happen; figures of the database (workflows, client
 * reports, the job queue) are read at scrape time, once per scrape.
 */
export class KeyOpsMetrics {
  readonly registry = new Registry();
  /** Counts the engine's rotations: `engine.observers.add(metrics.engineObserver)`. */
  readonly engineObserver: EngineObserver;

  private readonly rowsReencrypted: Counter<"environment" | "target">;
  private readonly collectErrors: Counter<"collector">;
  private readonly ackSeconds: Histogram<"type">;
  private readonly pagerFailures: Counter<"operation">;
  private readonly batches = new Map<string, { environment: Environment; target: string; recent: Batch[] }>();
  private readonly rotationStarts = new Map<Environment, number>();
  private readonly jobSchema: string;
  private scrapeCache = new Map<string, Promise<unknown>>();

  constructor(private readonly o: MetricsOptions) {
    const registers = [this.registry];
    this.jobSchema = o.jobSchema ?? "pgboss";
    if (!SQL_IDENTIFIER.test(this.jobSchema))
      throw new Error("the job schema must be a plain SQL identifier");
    collectDefaultMetrics({ register: this.registry, prefix: "keyops_" });

    const running = new Gauge({
      name: "keyops_rotations_running",
      help: "Rotations this process is running now, per environment.",
      labelNames: ["environment"],
      registers,
    });
    this.rowsReencrypted = new Counter({
      name: "keyops_rotation_rows_reencrypted_total",
      help: "Rows this process moved onto the active key version, per environment and target.",
      labelNames: ["environment", "target"],
      registers,
    });
    const rate: Gauge<"environment" | "target"> = new Gauge({
      name: "keyops_rotation_rows_per_second",
      help: `Rows re-encrypted per second over the last ${RATE_WINDOW_MS / 1000} s of a running rotation (0 when none runs).`,
      labelNames: ["environment", "target"],
      registers,
      collect: () => this.collectRates(rate),
    });
    const failedRows = new Gauge({
      name: "keyops_rotation_failed_rows",
      help: "Rows the environment's last finished rotation could not re-encrypt (no known version decrypts them).",
      labelNames: ["environment"],
      registers,
    });
    const finished = new Counter({
      name: "keyops_rotation_runs_finished_total",
      help: "Rotations this process finished, by status (SUCCEEDED, FAILED_WITH_ROWS, ERROR: it threw).",
      labelNames: ["environment", "status"],
      registers,
    });
    this.collectErrors = new Counter({
      name: "keyops_metrics_collect_errors_total",
      help: "Scrapes in which a figure could not be read from the database (the figure is left out).",
      labelNames: ["collector"],
      registers,
    });
    this.ackSeconds = new Histogram({
      name: "keyops_slack_ack_seconds",
      help: "From a Slack request reaching the app to its acknowledgement, by request type.",
      labelNames: ["type"],
      buckets: ACK_BUCKETS,
      registers,
    });
    this.pagerFailures = new Counter({
      name: "keyops_pagerduty_delivery_failures_total",
      help: "PagerDuty sends that failed, each try counted, by operation (trigger, acknowledge, resolve, ...).",
      labelNames: ["operation"],
      registers,
    });
    this.databaseGauge("keyops_workflows_open", "Open workflows, by kind.", ["kind"], async () => {
      const { rows } = await o.pool.query<{ kind: string; n: number }>(
        `SELECT "kind", count(*)::int AS n FROM "Workflow" WHERE "status" = 'OPEN'
            AND NOT coalesce(("inputs"->>'drill')::boolean, false) GROUP BY 1`,
      );
      const counts = new Map<string, number>(WORKFLOW_DEFINITIONS.map((d) => [d.kind, 0]));
      for (const row of rows) counts.set(row.kind, row.n);
      return [...counts].map(([kind, n]) => [{ kind }, n]);
    });
    this.databaseGauge(
      "keyops_client_decryption_failures_last_hour",
      "Decryption failures the application's instances reported in the last hour, by environment, reason and key version.",
      ["environment", "reason", "version"],
      async () => {
        const perEnvironment = await Promise.all(
          ENVIRONMENTS.map(async (environment) =>
            (await o.engine.clients.failures(environment, HOUR_MS)).map(
              (f) =>
                [
                  { environment, reason: f.reason, version: f.version === null ? "none" : String(f.version) },
                  f.count,
                ] as const,
            ),
          ),
        );
        return perEnvironment.flat();
      },
    );
    this.databaseGauge(
      "keyops_client_instances_live",
      "Live instances of the application (reported recently, not stopped), by environment and service.",
      ["environment", "service"],
      async () => {
        const counts = new Map<string, { environment: string; service: string; n: number }>();
        for (const i of await o.engine.clients.list(undefined, { liveOnly: true })) {
          const key = `${i.environment}\0${i.service}`;
          const entry = counts.get(key) ?? { environment: i.environment, service: i.service, n: 0 };
          entry.n += 1;
          counts.set(key, entry);
        }
        return [...counts.values()].map((c) => [{ environment: c.environment, service: c.service }, c.n]);
      },
    );
    this.databaseGauge(
      "keyops_job_queue_jobs",
      "Jobs in the queue's table by queue and state (failed ones stay until archived, 12 h by default).",
      ["queue", "state"],
      async () => (await this.jobCounts()).map((r) => [{ queue: r.queue, state: r.state }, r.n]),
    );
    this.databaseGauge(
      "keyops_job_queue_depth",
      "Jobs waiting to run (created or waiting to retry), by queue.",
      ["queue"],
      async () => {
        const depth = new Map<string, number>();
        for (const r of await this.jobCounts()) {
          const waiting = r.state === "created" || r.state === "retry" ? r.n : 0;
          depth.set(r.queue, (depth.get(r.queue) ?? 0) + waiting);
        }
        return [...depth].map(([queue, n]) => [{ queue }, n]);
      },
    );

    for (const environment of ENVIRONMENTS) {
      running.set({ environment }, 0);
      failedRows.set({ environment }, 0);
    }
    this.engineObserver = {
      rotationStarted: (environment) => {
        running.inc({ environment });
        this.rotationStarts.set(environment, Date.now());
      },
      rowsReencrypted: (environment, target, rows) => {
        this.rowsReencrypted.inc({ environment, target }, rows);
        const key = `${environment}\0${target}`;
        const entry = this.batches.get(key) ?? { environment, target, recent: [] };
        entry.recent.push({ at: Date.now(), rows });
        this.batches.set(key, entry);
      },
      rotationFinished: (environment, status: ObservedRunStatus, failed) => {
        running.dec({ environment });
        finished.inc({ environment, status });
        if (status !== "ERROR") failedRows.set({ environment }, failed);
        this.rotationStarts.delete(environment);
        for (const entry of this.batches.values()) if (entry.environment === environment) entry.recent = [];
      },
    };
  }

  /** The metrics in Prometheus's text format; the database's figures are read now. */
  async scrape(): Promise<{ contentType: string; body: string }> {
    this.scrapeCache = new Map();
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }

  /** One Slack request acknowledged `seconds` after it reached the app. */
  observeAck(type: string, seconds: number): void {
    this.ackSeconds.observe({ type }, seconds);
  }

  /** One PagerDuty send (one try) that failed. */
  pagerDeliveryFailed(operation: string): void {
    this.pagerFailures.inc({ operation });
  }

  private collectRates(gauge: Gauge<"environment" | "target">): void {
    const now = Date.now();
    for (const entry of this.batches.values()) {
      entry.recent = entry.recent.filter((b) => now - b.at <= RATE_WINDOW_MS);
      const started = this.rotationStarts.get(entry.environment);
      const rows = entry.recent.reduce((sum, b) => sum + b.rows, 0);
      // A rotation younger than the window is measured over its own age.
      const spanMs = Math.max(
        1000,
        Math.min(RATE_WINDOW_MS, started === undefined ? RATE_WINDOW_MS : now - started),
      );
      gauge.set(
        { environment: entry.environment, target: entry.target },
        started === undefined ? 0 : (rows * 1000) / spanMs,
      );
    }
  }

  /** pg-boss's jobs counted by queue and state, read once per scrape. */
  private jobCounts(): Promise<{ queue: string; state: string; n: number }[]> {
    return this.perScrape("jobs", async () => {
      const { rows } = await this.o.pool.query<{ queue: string; state: string; n: number }>(
        `SELECT "name" AS queue, "state"::text AS state, count(*)::int AS n FROM ${this.jobSchema}."job" GROUP BY 1, 2`,
      );
      return rows;
    });
  }

  private perScrape<T>(key: string, read: () => Promise<T>): Promise<T> {
    let cached = this.scrapeCache.get(key) as Promise<T> | undefined;
    if (!cached) {
      cached = read();
      this.scrapeCache.set(key, cached);
    }
    return cached;
  }

  /**
   * A gauge read from the database at scrape time. When the read fails the gauge is left empty
   * for this scrape, the failure counted in keyops_metrics_collect_errors_total and logged.
   */
  private databaseGauge<L extends string>(
    name: string,
    help: string,
    labelNames: L[],
    read: () => Promise<(readonly [Partial<Record<L, string>>, number])[]>,
  ): void {
    const gauge: Gauge<L> = new Gauge<L>({
      name,
      help,
      labelNames,
      registers: [this.registry],
      collect: async () => {
        gauge.reset();
        try {
          for (const [labels, value] of await read()) gauge.set(labels, value);
        } catch (error) {
          this.collectErrors.inc({ collector: name });
          this.o.log.warn("a metric could not be read", { metric: name, error: (error as Error).message });
        }
      },
    });
  }
}
