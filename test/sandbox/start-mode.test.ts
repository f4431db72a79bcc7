import { describe, expect, it } from "vitest";
import { ConfigError } from "../../src/config.js";
import { startMode } from "../../src/sandbox/mode.js";
import { type CliResult, runNode } from "../support/cli.js";
import { ROOT } from "./sandbox-process.js";

function problems(argv: string[], env: NodeJS.ProcessEnv): string[] {
  try {
    startMode(argv, env);
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  return [];
}

describe("which mode npm start runs in", () => {
  it("nothing set: the sandbox on PORT, default 3000", () => {
    expect(startMode([], {})).toEqual({ kind: "sandbox", port: 3000 });
    expect(startMode([], { PORT: "4100" })).toEqual({ kind: "sandbox", port: 4100 });
    expect(startMode(["--sandbox"], { KEYOPS_SANDBOX: "on", PORT: "0" })).toEqual({
      kind: "sandbox",
      port: 0,
    });
  });

  it("any Slack setting, a database, NODE_ENV=production or KEYOPS_SANDBOX=off: the bot (which names what is missing)", () => {
    for (const env of [
      { SLACK_BOT_TOKEN: "xoxb-1" },
      { SLACK_SIGNING_SECRET: "secret-secret" },
      { KEYOPS_APPROVERS: "U0AVERY" },
      { DATABASE_URL: "postgresql://db/keyops" },
      { KEYOPS_TARGET_DATABASE_URL_PRODUCTION: "postgresql://db/app" },
      { NODE_ENV: "production" },
      { KEYOPS_SANDBOX: "off" },
    ]) {
      expect(startMode([], env), JSON.stringify(env)).toEqual({ kind: "bot" });
    }
    // Blank counts as unset, as everywhere else.
    expect(startMode([], { SLACK_BOT_TOKEN: " " })).toEqual({ kind: "sandbox", port: 3000 });
  });

  it("asked for explicitly, it still refuses production, Slack settings and a database unless allowed", () => {
    expect(problems(["--sandbox"], { NODE_ENV: "production" })).toEqual([
      "the sandbox does not run with NODE_ENV=production",
    ]);
    expect(problems(["--sandbox"], { SLACK_BOT_TOKEN: "xoxb-1", KEYOPS_APPROVERS: "U0A" })[0]).toContain(
      "unset SLACK_BOT_TOKEN, KEYOPS_APPROVERS",
    );
    expect(problems([], { KEYOPS_SANDBOX: "on", DATABASE_URL: "postgresql://db/k" })).toEqual([
      "the sandbox refuses DATABASE_URL: it would rotate that database's tables; unset it, or set KEYOPS_SANDBOX_ALLOW_DATABASE_URL=yes",
    ]);
    expect(
      startMode(["--sandbox"], {
        DATABASE_URL: "postgresql://db/k",
        KEYOPS_SANDBOX_ALLOW_DATABASE_URL: "yes",
      }),
    ).toEqual({ kind: "sandbox", port: 3000 });
    expect(problems(["--sandbox"], { KEYOPS_SANDBOX: "off" })).toEqual([
      "--sandbox contradicts KEYOPS_SANDBOX=off",
    ]);
  });

  it("bad input is named", () => {
    expect(problems(["--sandbx"], {})).toEqual([
      "unknown argument --sandbx (npm start takes only --sandbox)",
    ]);
    expect(problems([], { KEYOPS_SANDBOX: "maybe" })).toEqual(["KEYOPS_SANDBOX must be on or off"]);
    expect(problems([], { PORT: "70000" })).toEqual(["PORT must be a port number (0-65535)"]);
  });
});

function runMain(args: string[], env: Record<string, string | undefined>): Promise<CliResult> {
  return runNode(["--import", "tsx", "src/main.ts", ...args], env, { cwd: ROOT });
}

describe("a deployment that forgot a setting never falls into a sandbox", () => {
  it("some Slack settings but not all: exit 2 naming what is missing, nothing started", async () => {
    const result = await runMain([], {
      SLACK_BOT_TOKEN: "xoxb-forgot-the-rest",
      KEYOPS_DATA_DIR: "/nonexistent/keyops",
    });
    expect(result.code).toBe(2);
    expect(result.stdout).toBe("");
    expect(result.stderr).toContain("SLACK_SIGNING_SECRET is required");
    expect(result.stderr).toContain("KEYOPS_APPROVERS is required");
    expect(result.stderr).not.toContain("sandbox:");
  }, 60_000);

  it("--sandbox against a DATABASE_URL: exit 2, refused, nothing started", async () => {
    const result = await runMain(["--sandbox"], { DATABASE_URL: "postgresql://keyops@127.0.0.1:1/keyops" });
    expect(result.code).toBe(2);
    expect(result.stdout).toBe("");
    expect(result.stderr).toContain("the sandbox refuses DATABASE_URL");
    expect(result.stderr).not.toMatch(/\n\s+at /);
  }, 60_000);
});
