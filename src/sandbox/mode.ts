import { ConfigError } from "../config.js";

/** `npm start` runs the Slack bot, or the sandbox on loopback. */
export type StartMode = { kind: "bot" } | { kind: "sandbox"; port: number };

/** Any of these means someone is setting up a real Slack app: never a sandbox by default. */
export const SLACK_SETTINGS = [
  "SLACK_BOT_TOKEN",
  "SLACK_SIGNING_SECRET",
  "SLACK_APP_TOKEN",
  "SLACK_API_URL",
  "KEYOPS_APPROVERS",
  "KEYOPS_ALLOWED_CHANNELS",
] as const;

const SWITCH = "KEYOPS_SANDBOX";
const ALLOW_DATABASE = "KEYOPS_SANDBOX_ALLOW_DATABASE_URL";
export const DEFAULT_SANDBOX_PORT = 3000;

const isSet = (env: NodeJS.ProcessEnv, name: string) => (env[name]?.trim() ?? "") !== "";

/**
 * Which mode `npm start [-- --sandbox]` runs in. The sandbox when asked for (`--sandbox`,
 * KEYOPS_SANDBOX=on), or by default when nothing about Slack, a database or production is set.
 * Anything else is the bot, which stops naming each missing setting: a deployment that forgot a
 * setting never falls into a sandbox. A ConfigError names what is wrong.
 */
export function startMode(argv: readonly string[], env: NodeJS.ProcessEnv): StartMode {
  const problems: string[] = [];
  const unknown = argv.filter((arg) => arg !== "--sandbox");
  if (unknown.length > 0)
    problems.push(`unknown argument ${unknown.join(" ")} (npm start takes only --sandbox)`);
  const switchValue = env[SWITCH]?.trim().toLowerCase() ?? "";
  if (!["", "on", "off"].includes(switchValue)) problems.push(`${SWITCH} must be on or off`);
  if (problems.length > 0) throw new ConfigError(problems);

  const asked = argv.includes("--sandbox") || switchValue === "on";
  const production = env.NODE_ENV?.trim() === "production";
  const slackSettings = SLACK_SETTINGS.filter((name) => isSet(env, name));
  const databases = Object.keys(env).filter(
    (name) => (name === "DATABASE_URL" || name.startsWith("KEYOPS_TARGET_DATABASE_URL_")) && isSet(env, name),
  );
  if (!asked) {
    const byDefault =
      switchValue === "" && !production && slackSettings.length === 0 && databases.length === 0;
    return byDefault ? { kind: "sandbox", port: sandboxPort(env) } : { kind: "bot" };
  }
  if (switchValue === "off") problems.push(`--sandbox contradicts ${SWITCH}=off`);
  if (production) problems.push("the sandbox does not run with NODE_ENV=production");
  if (slackSettings.length > 0)
    problems.push(
      `the sandbox stands in for Slack itself: unset ${slackSettings.join(", ")}, or start without --sandbox`,
    );
  if (databases.length > 0 && env[ALLOW_DATABASE]?.trim() !== "yes")
    problems.push(
      `the sandbox refuses ${databases.join(", ")}: it would rotate that database's tables; unset it, or set ${ALLOW_DATABASE}=yes`,
    );
  if (problems.length > 0) throw new ConfigError(problems);
  return { kind: "sandbox", port: sandboxPort(env) };
}

/** PORT, default 3000 (0: any free port). */
function sandboxPort(env: NodeJS.ProcessEnv): number {
  const text = env.PORT?.trim() ?? "";
  if (text === "") return DEFAULT_SANDBOX_PORT;
  const port = Number(text);
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new ConfigError(["PORT must be a port number (0-65535)"]);
  return port;
}
