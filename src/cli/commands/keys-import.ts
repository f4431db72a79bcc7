import { open } from "node:fs/promises";
import path from "node:path";
import { SecretKey } from "../../crypto/secret-key.js";
import { UserError } from "../../errors.js";
import { AUDITED_TRANSACTION, appendAuditEvents } from "../../workflows/audit-log.js";
import { parseVersion } from "../args.js";
import { type Command, print } from "../command.js";
import { cliActor } from "./keys-export.js";

/** More than any base64 key with its newline: a longer input is not a key. */
const MAX_KEY_INPUT = 1024;
const LABEL = "the imported key";

/**
 * Takes a lost version's key back from a backup (the guide's "Key Lost", found): read from stdin
 * or a file only its owner can read, never from the command line; accepted only when it is that
 * version's key (its fingerprint), then wrapped under the master key again and audited.
 */
export const keysImport: Command = {
  path: ["keys", "import"],
  usage:
    "keyops keys import --version N [--key-file FILE] [--env E] [--json]   (the key on stdin, or in a 0600 FILE)",
  summary: "take a lost version's key back from a backup (checked against its fingerprint; never from argv)",
  options: { version: { type: "string" }, "key-file": { type: "string" } },
  async run(context) {
    const version = parseVersion(requiredString(context.values.version, "--version N"));
    const file = context.values["key-file"];
    const text =
      typeof file === "string" ? await readKeyFile(file) : await readStdin(context.io.stdin ?? process.stdin);
    const key = SecretKey.fromBase64(text, LABEL);
    const runtime = await context.runtime();
    const imported = await runtime.engine.importKey(context.environment, version, key);
    await runtime.db.prisma.$transaction(
      (tx) =>
        appendAuditEvents(tx, [
          {
            actor: cliActor(),
            action: "key.imported",
            detail: {
              environment: imported.environment,
              version: imported.version,
              fingerprint: imported.fingerprint,
              state: imported.state,
            },
          },
        ]),
      AUDITED_TRANSACTION,
    );
    const state = imported.state.toLowerCase().replace("_", "-");
    print(
      context,
      {
        environment: imported.environment,
        version: imported.version,
        fingerprint: imported.fingerprint,
        state: imported.state,
      },
      `imported v${imported.version} of ${imported.environment} (fingerprint ${imported.fingerprint}): ` +
        `wrapped under the master key again, ${state}; check its rows: keyops verify --env ${imported.environment}`,
    );
    return 0;
  },
};

function requiredString(value: string | boolean | undefined, what: string): string {
  if (typeof value !== "string" || value.trim() === "") throw new UserError(`${what} is required`);
  return value;
}

/** A key file must be a regular file only its owner can read or write (mode 0600 or stricter). */
async function readKeyFile(name: string): Promise<string> {
  const file = path.resolve(name);
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await open(file, "r");
  } catch (error) {
    throw new UserError(`cannot read ${file} (${(error as NodeJS.ErrnoException).code ?? "error"})`);
  }
  try {
    const stat = await handle.stat();
    if (!stat.isFile()) throw new UserError(`${file} is not a regular file`);
    if ((stat.mode & 0o077) !== 0) {
      const mode = (stat.mode & 0o777).toString(8).padStart(4, "0");
      throw new UserError(
        `${file} can be read or written by others (mode ${mode}): chmod 600 ${file}, then import again`,
      );
    }
    if (stat.size > MAX_KEY_INPUT) throw new UserError(`${file} is not a key file (too large)`);
    return await handle.readFile("utf8");
  } finally {
    await handle.close();
  }
}

async function readStdin(stdin: NodeJS.ReadableStream & { isTTY?: boolean }): Promise<string> {
  if (stdin.isTTY) {
    throw new UserError(
      "give the key on stdin (keyops keys import --version N < FILE) or with --key-file FILE; never as an argument",
    );
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stdin) {
    const buffer = typeof chunk === "string" ? Buffer.from(chunk) : (chunk as Buffer);
    size += buffer.length;
    if (size > MAX_KEY_INPUT) throw new UserError("stdin is not a key (too long)");
    chunks.push(buffer);
  }
  const text = Buffer.concat(chunks).toString("utf8");
  if (text.trim() === "")
    throw new UserError("no key on stdin: pipe the key file in, or give --key-file FILE");
  return text;
}
