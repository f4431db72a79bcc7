import { z } from "zod";
import { type Config, ConfigError, loadConfig } from "./config.js";
import { ENVIRONMENTS, type Environment } from "./environments.js";
import { WORKFLOW_DEFINITIONS } from "./workflows/definitions/index.js";
import type { PageSeverity } from "./workflows/pager.js";
import { DEFAULT_TAKEOVER_SECONDS } from "./workflows/step-leases.js";

/** The bot's settings on top of the keyring's (src/config.ts): Slack, approvers, paging. */
export interface BotConfig extends Config {
  slack: {
    botToken: string;
    signingSecret: string;
    /** Socket Mode when set; HTTP mode (PORT, /slack/events) otherwise. */
    appToken: string | undefined;
    /** Web API base URL, e.g. an enterprise proxy; Slack's own when unset. */
    apiUrl: string | undefined;
  };
  port: number;
  /** Slack user ids (U…/W…) and user-group ids (S…) who may approve rotations. */
  approvers: string[];
  /** Channel ids the commands may be used in; empty means anywhere. */
  allowedChannels: string[];
  /** Environments whose key every developer can read (the guide: development and staging). */
  sharedEnvironments: Environment[];
  pagerDuty: PagerDutyConfig | undefined;
  /** Bearer tokens env-source clients report with (KEYOPS_REPORT_TOKEN_<ENV>); /client/report is off without any. */
  reportTokens: Partial<Record<Environment, string>>;
  /** Where the guide's alerts go (decryption failures, a missing or mismatched key); none when unset. */
  alertChannel: string | undefined;
  /** Decryption failures per hour in an environment above which the alert fires (the guide: 5). */
  alertFailuresPerHour: number;
  /** How often the alerts are checked against the reports. */
  alertCheckIntervalMs: number;
  /** A running step whose replica has not heartbeated for this long is taken over by a live one. */
  takeoverSeconds: number;
  /** Whether a drill pages on-call (at `info`, "[DRILL]" in the summary) or not at all (KEYOPS_DRILL_PAGE). */
  drillPage: "info" | "off";
  metrics: MetricsConfig;
}

/** Where GET /metrics is served: never on the Slack port without a token. */
export interface MetricsConfig {
  /** KEYOPS_METRICS=bearer:<token>: /metrics on the Slack port, for this bearer token only; off when unset. */
  token: string | undefined;
  /** KEYOPS_METRICS_PORT=[host:]port: a separate listener without a token (host default 127.0.0.1). */
  listen: { host: string; port: number } | undefined;
}

export interface PagerDutyConfig {
  routingKey: string;
  apiToken: string | undefined;
  escalationPolicyId: string | undefined;
  webhookSecret: string | undefined;
  eventsHost: string;
  apiHost: string;
  /** Per request. */
  timeoutMs: number;
  /** Tries of one page in all, and the wait between them. */
  retryAttempts: number;
  retryDelayMs: number;
  /** A thread reminder while nobody has acknowledged, this often. */
  acknowledgeWithinMs: number;
  /** Severity per workflow kind (PAGERDUTY_SEVERITY_KEY_COMPROMISED, …), over the defaults. */
  severities: Partial<Record<string, PageSeverity>>;
}

const idList = (pattern: RegExp, what: string) =>
  z
    .string()
    .optional()
    .transform((text) => (text ?? "").split(/[\s,]+/).filter(Boolean))
    .refine((ids) => ids.every((id) => pattern.test(id)), `must be a comma-separated list of ${what}`);

const host = z
  .string()
  .trim()
  .regex(/^[A-Za-z0-9.-]+(:\d{1,5})?$/, "must be host[:port]");

const schema = z.object({
  SLACK_BOT_TOKEN: z
    .string({ error: "is required (the bot token, xoxb-…)" })
    .trim()
    .startsWith("xoxb-", "must start with xoxb-"),
  SLACK_SIGNING_SECRET: z
    .string({ error: "is required (Basic Information → Signing Secret)" })
    .trim()
    .min(8, "is too short"),
  SLACK_APP_TOKEN: z.string().trim().startsWith("xapp-", "must start with xapp-").optional(),
  SLACK_API_URL: z
    .url({ protocol: /^https?$/, error: "must be an http(s) URL" })
    .transform((url) => (url.endsWith("/") ? url : `${url}/`))
    .optional(),
  PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  KEYOPS_APPROVERS: idList(/^[UWS][A-Z0-9]{2,}$/, "Slack user ids (U…) or user-group ids (S…)").refine(
    (ids) => ids.length > 0,
    "is required: who may approve rotations (Slack user ids U… and/or user-group ids S…)",
  ),
  KEYOPS_ALLOWED_CHANNELS: idList(/^[CGD][A-Z0-9]{2,}$/, "Slack channel ids (C…)"),
  KEYOPS_SHARED_ENVIRONMENTS: z
    .string()
    .default("development,staging")
    // "none": nobody but the roster's people can read any key.
    .transform((text) => (text.trim().toLowerCase() === "none" ? "" : text))
    .transform((text) =>
      text
        .split(/[\s,]+/)
        .filter(Boolean)
        .map((e) => e.toLowerCase()),
    )
    .refine(
      (list) => list.every((e) => (ENVIRONMENTS as readonly string[]).includes(e)),
      `must list environments (${ENVIRONMENTS.join(", ")})`,
    )
    .transform((list) => list as Environment[]),
  KEYOPS_ALERT_CHANNEL: z
    .string()
    .trim()
    .regex(/^[CG][A-Z0-9]{2,}$/, "must be a Slack channel id (C…)")
    .optional(),
  KEYOPS_ALERT_FAILURES_PER_HOUR: z.coerce.number().int().min(0).max(1_000_000).default(5),
  KEYOPS_ALERT_CHECK_SECONDS: z.coerce.number().min(0.1).max(3600).default(30),
  KEYOPS_DRILL_PAGE: z.enum(["info", "off"]).default("info"),
  KEYOPS_TAKEOVER_SECONDS: z.coerce.number().min(1).max(3600).default(DEFAULT_TAKEOVER_SECONDS),
  KEYOPS_METRICS: z
    .string()
    .trim()
    .default("off")
    .refine(
      (value) => value === "off" || /^bearer:\S{24,}$/.test(value),
      "must be off or bearer:<token> (at least 24 characters, no spaces)",
    ),
  KEYOPS_METRICS_PORT: z
    .string()
    .trim()
    .regex(/^([A-Za-z0-9.-]+:)?\d{1,5}$/, "must be [host:]port, e.g. 9464 or 0.0.0.0:9464")
    .transform((text) => {
      const at = text.lastIndexOf(":");
      return { host: at < 0 ? "127.0.0.1" : text.slice(0, at), port: Number(text.slice(at + 1)) };
    })
    .refine((listen) => listen.port <= 65535, "must be [host:]port with a port up to 65535")
    .optional(),
  PAGERDUTY_ROUTING_KEY: z.string().trim().min(1).optional(),
  PAGERDUTY_API_TOKEN: z.string().trim().min(1).optional(),
  PAGERDUTY_ESCALATION_POLICY_ID: z.string().trim().min(1).optional(),
  PAGERDUTY_WEBHOOK_SECRET: z.string().trim().min(1).optional(),
  PAGERDUTY_EVENTS_HOST: host.default("events.pagerduty.com"),
  PAGERDUTY_API_HOST: host.default("api.pagerduty.com"),
  PAGERDUTY_TIMEOUT_MS: z.coerce.number().int().min(100).max(60_000).default(10_000),
  PAGERDUTY_RETRY_ATTEMPTS: z.coerce.number().int().min(1).max(10).default(3),
  PAGERDUTY_RETRY_DELAY_SECONDS: z.coerce.number().min(0).max(600).default(30),
  PAGERDUTY_ACK_REMINDER_MINUTES: z.coerce.number().min(0.01).max(1440).default(5),
});

/** Everything `npm start` needs, validated once; a ConfigError names each missing or bad setting. */
export function loadBotConfig(env: NodeJS.ProcessEnv = process.env): BotConfig {
  const problems: string[] = [];
  let base: Config | undefined;
  try {
    base = loadConfig(env);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    problems.push(...error.problems);
  }
  const blankToUndefined = Object.fromEntries(
    Object.entries(env).map(([name, value]) => [name, value?.trim() === "" ? undefined : value]),
  );
  const parsed = schema.safeParse(blankToUndefined);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) problems.push(`${issue.path.join(".")} ${issue.message}`);
  }
  if (problems.length > 0 || !parsed.data || !base) throw new ConfigError(problems);
  const s = parsed.data;
  const severities = readSeverities(blankToUndefined, problems);
  const reportTokens = readReportTokens(blankToUndefined, problems);
  const metricsToken = s.KEYOPS_METRICS === "off" ? undefined : s.KEYOPS_METRICS.slice("bearer:".length);
  if (s.KEYOPS_METRICS_PORT && s.KEYOPS_METRICS_PORT.port !== 0 && s.KEYOPS_METRICS_PORT.port === s.PORT)
    problems.push("KEYOPS_METRICS_PORT must not be PORT: the Slack port serves /metrics only with a token");
  // The alert channel holds workflows' buttons (quarterly maintenance, alerts): a guard that
  // refused them there would leave those workflows unworkable.
  if (
    s.KEYOPS_ALERT_CHANNEL &&
    s.KEYOPS_ALLOWED_CHANNELS.length > 0 &&
    !s.KEYOPS_ALLOWED_CHANNELS.includes(s.KEYOPS_ALERT_CHANNEL)
  )
    problems.push(
      `KEYOPS_ALLOWED_CHANNELS must include KEYOPS_ALERT_CHANNEL (${s.KEYOPS_ALERT_CHANNEL}): the buttons KeyOps posts there would be refused`,
    );
  if (metricsToken && Object.values(reportTokens).includes(metricsToken))
    problems.push("KEYOPS_METRICS must not use a report token (KEYOPS_REPORT_TOKEN_<ENV>)");
  if (problems.length > 0) throw new ConfigError(problems);
  return {
    ...base,
    slack: {
      botToken: s.SLACK_BOT_TOKEN,
      signingSecret: s.SLACK_SIGNING_SECRET,
      appToken: s.SLACK_APP_TOKEN,
      apiUrl: s.SLACK_API_URL,
    },
    port: s.PORT,
    approvers: s.KEYOPS_APPROVERS,
    allowedChannels: s.KEYOPS_ALLOWED_CHANNELS,
    sharedEnvironments: s.KEYOPS_SHARED_ENVIRONMENTS,
    reportTokens,
    alertChannel: s.KEYOPS_ALERT_CHANNEL,
    alertFailuresPerHour: s.KEYOPS_ALERT_FAILURES_PER_HOUR,
    alertCheckIntervalMs: s.KEYOPS_ALERT_CHECK_SECONDS * 1000,
    takeoverSeconds: s.KEYOPS_TAKEOVER_SECONDS,
    drillPage: s.KEYOPS_DRILL_PAGE,
    metrics: { token: metricsToken, listen: s.KEYOPS_METRICS_PORT },
    pagerDuty: s.PAGERDUTY_ROUTING_KEY
      ? {
          routingKey: s.PAGERDUTY_ROUTING_KEY,
          apiToken: s.PAGERDUTY_API_TOKEN,
          escalationPolicyId: s.PAGERDUTY_ESCALATION_POLICY_ID,
          webhookSecret: s.PAGERDUTY_WEBHOOK_SECRET,
          eventsHost: s.PAGERDUTY_EVENTS_HOST,
          apiHost: s.PAGERDUTY_API_HOST,
          timeoutMs: s.PAGERDUTY_TIMEOUT_MS,
          retryAttempts: s.PAGERDUTY_RETRY_ATTEMPTS,
          retryDelayMs: s.PAGERDUTY_RETRY_DELAY_SECONDS * 1000,
          acknowledgeWithinMs: s.PAGERDUTY_ACK_REMINDER_MINUTES * 60_000,
          severities,
        }
      : undefined,
  };
}

/** KEYOPS_REPORT_TOKEN_<ENV>: long random strings, one per environment, never the same twice. */
function readReportTokens(
  env: Record<string, string | undefined>,
  problems: string[],
): Partial<Record<Environment, string>> {
  const tokens: Partial<Record<Environment, string>> = {};
  for (const environment of ENVIRONMENTS) {
    const name = `KEYOPS_REPORT_TOKEN_${environment.toUpperCase()}`;
    const value = env[name]?.trim();
    if (value === undefined) continue;
    if (value.length < 24 || /\s/.test(value))
      problems.push(`${name} must be at least 24 characters, no spaces`);
    else if (Object.values(tokens).includes(value))
      problems.push(`${name} is the same as another environment's token`);
    else tokens[environment] = value;
  }
  return tokens;
}

const PAGE_SEVERITIES: readonly PageSeverity[] = ["critical", "error", "warning", "info"];

/** PAGERDUTY_SEVERITY_<KIND>: e.g. PAGERDUTY_SEVERITY_OFFBOARD=error. */
function readSeverities(
  env: Record<string, string | undefined>,
  problems: string[],
): Partial<Record<string, PageSeverity>> {
  const severities: Partial<Record<string, PageSeverity>> = {};
  for (const definition of WORKFLOW_DEFINITIONS) {
    const name = `PAGERDUTY_SEVERITY_${definition.kind.toUpperCase().replace(/-/g, "_")}`;
    const value = env[name]?.trim().toLowerCase();
    if (value === undefined) continue;
    if ((PAGE_SEVERITIES as readonly string[]).includes(value))
      severities[definition.kind] = value as PageSeverity;
    else problems.push(`${name} must be one of ${PAGE_SEVERITIES.join(", ")}`);
  }
  return severities;
}
