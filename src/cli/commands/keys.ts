import type { KeyringStatus } from "../../engine/engine.js";
import { parseVersion } from "../args.js";
import { type Command, print } from "../command.js";

const state = (s: string) => s.toLowerCase().replace("_", "-");

export function renderKeyStatus(status: KeyringStatus): string {
  const lines = [`${status.environment}: ${status.target}`];
  if (status.versions.length === 0) {
    lines.push("  no key versions yet (set ENCRYPTION_KEY to adopt the legacy key, or keyops keys generate)");
  }
  for (const v of status.versions) {
    const tags = [v.legacy ? "legacy" : "", v.state === "ACTIVE" ? "encrypts" : ""]
      .filter(Boolean)
      .join(", ");
    lines.push(
      `  v${String(v.version).padEnd(4)} ${state(v.state).padEnd(13)} ${v.fingerprint}  ${String(v.rows).padStart(9)} rows${tags ? `  (${tags})` : ""}`,
    );
  }
  if (status.rowsUnderUnknownVersions > 0) {
    lines.push(`  ${status.rowsUnderUnknownVersions} rows name a version this keyring does not have`);
  }
  if (status.runningRun) {
    lines.push(
      `  rotation run #${status.runningRun.id} in progress (${status.runningRun.rowsDone} rows re-encrypted)`,
    );
  }
  return lines.join("\n");
}

export const keysStatus: Command = {
  path: ["keys", "status"],
  usage: "keyops keys status [--env E] [--json]",
  summary: "versions, state, fingerprint, rows under each version",
  async run(context) {
    const status = await (await context.runtime()).engine.status(context.environment);
    print(context, status, renderKeyStatus(status));
    return 0;
  },
};

export const keysGenerate: Command = {
  path: ["keys", "generate"],
  usage: "keyops keys generate [--env E] [--json]",
  summary: "new pending version (prints its fingerprint, never the key)",
  async run(context) {
    const created = await (await context.runtime()).engine.generate(context.environment);
    print(
      context,
      created,
      `generated v${created.version} of ${created.environment} (pending), fingerprint ${created.fingerprint}\n` +
        `activate it with: keyops keys activate ${created.version} --env ${created.environment}`,
    );
    return 0;
  },
};

export const keysActivate: Command = {
  path: ["keys", "activate"],
  usage: "keyops keys activate <version> [--env E] [--json]",
  summary: "make a version the one that encrypts (the old one becomes decrypt-only)",
  positionals: { min: 1, max: 1 },
  async run(context) {
    const version = parseVersion(context.positionals[0]);
    const { activated, previous } = await (await context.runtime()).engine.activate(
      context.environment,
      version,
    );
    const was = previous ? `; v${previous.version} is now decrypt-only` : "";
    print(
      context,
      { activated, previous: previous ?? null },
      `v${activated.version} of ${activated.environment} (${activated.fingerprint}) now encrypts${was}`,
    );
    return 0;
  },
};

export const keysRetire: Command = {
  path: ["keys", "retire"],
  usage: "keyops keys retire <version> [--env E] [--json]",
  summary: "stop a version decrypting (refused while rows still use it)",
  positionals: { min: 1, max: 1 },
  async run(context) {
    const version = parseVersion(context.positionals[0]);
    const retired = await (await context.runtime()).engine.retire(context.environment, version);
    print(context, retired, `retired v${retired.version} of ${retired.environment} (${retired.fingerprint})`);
    return 0;
  },
};

export const keysCompromised: Command = {
  path: ["keys", "compromised"],
  usage: "keyops keys compromised <version> [--env E] [--json]",
  summary: "flag a leaked version: it still decrypts until rotated away, never encrypts again",
  positionals: { min: 1, max: 1 },
  async run(context) {
    const version = parseVersion(context.positionals[0]);
    const flagged = await (await context.runtime()).engine.markCompromised(context.environment, version);
    print(
      context,
      flagged,
      `v${flagged.version} of ${flagged.environment} (${flagged.fingerprint}) marked compromised; rotate now: keyops rotate --env ${flagged.environment}`,
    );
    return 0;
  },
};
