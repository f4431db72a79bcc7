import { open } from "node:fs/promises";
import { hostname, userInfo } from "node:os";
import path from "node:path";
import { UserError } from "../../errors.js";
import { AUDITED_TRANSACTION, appendAuditEvents } from "../../workflows/audit-log.js";
import { parseVersion } from "../args.js";
import { type Command, print } from "../command.js";

/**
 * Writes one key version, base64, to a new file only its owner can read: for the env source's
 * `ENCRYPTION_KEY_V<n>` and for the password-manager backup. The key is never printed; the
 * export is an audit event (who, when, which version, never the key).
 */
export const keysExport: Command = {
  path: ["keys", "export"],
  usage: "keyops keys export <version> --out FILE [--env E] [--json]",
  summary: "write a version's key to a new 0600 file (for ENCRYPTION_KEY_V<n> and the backup)",
  positionals: { min: 1, max: 1 },
  options: { out: { type: "string" } },
  async run(context) {
    const version = parseVersion(context.positionals[0]);
    const out = context.values.out;
    if (typeof out !== "string" || out.trim() === "") throw new UserError("--out FILE is required");
    const file = path.resolve(out);
    const runtime = await context.runtime();
    const { info, key } = await runtime.engine.keys.exportKey(context.environment, version);
    let handle: Awaited<ReturnType<typeof open>>;
    try {
      handle = await open(file, "wx", 0o600);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === "EEXIST") throw new UserError(`${file} already exists; choose a new file`);
      throw new UserError(`cannot create ${file} (${code ?? "error"})`);
    }
    try {
      await handle.writeFile(`${key.exposeBase64()}\n`);
      await handle.chmod(0o600);
    } finally {
      await handle.close();
    }
    const actor = cliActor();
    await runtime.db.prisma.$transaction(
      (tx) =>
        appendAuditEvents(tx, [
          {
            actor,
            action: "key.exported",
            detail: {
              environment: info.environment,
              version: info.version,
              fingerprint: info.fingerprint,
              file,
            },
          },
        ]),
      AUDITED_TRANSACTION,
    );
    print(
      context,
      { environment: info.environment, version: info.version, fingerprint: info.fingerprint, file },
      `wrote v${info.version} of ${info.environment} (fingerprint ${info.fingerprint}) to ${file} (mode 0600)\n` +
        `set it as ENCRYPTION_KEY_V${info.version} where the application reads its keys, store it in the ` +
        "password manager, then delete the file",
    );
    return 0;
  },
};

/** How the audit log names a person at the CLI: `cli:user@host`. */
export function cliActor(): string {
  return `cli:${safeUser()}@${hostname()}`;
}

function safeUser(): string {
  try {
    return userInfo().username;
  } catch {
    return String(process.getuid?.() ?? "unknown");
  }
}
