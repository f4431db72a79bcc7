import { statSync, writeFileSync } from "node:fs";
import { chmod, mkdir, mkdtemp } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { SecretKey } from "../../src/crypto/secret-key.js";
import { removeTree } from "../../src/db/embedded-host.js";
import { freePort } from "../../src/net.js";
import { recordKey } from "../support/artifacts.js";
import { runKeyops } from "../support/cli.js";

// Issue 9 #16: the embedded default's data directory keeps the mode its owner gave it (a new one is
// created private), and a master.key that group or others can read is refused with one line, exit 2.

const roots: string[] = [];
afterAll(async () => {
  for (const root of roots) await removeTree(root);
});

async function workspace(): Promise<string> {
  const root = await mkdtemp(path.join(os.tmpdir(), "keyops-datadir-"));
  await chmod(root, 0o755); // reachable by the server's user, so each data dir's own mode decides
  roots.push(root);
  return root;
}

const mode = (file: string) => statSync(file).mode & 0o777;

async function keyops(dataDir: string, args: string[]) {
  return runKeyops(
    args,
    {
      KEYOPS_DATA_DIR: dataDir,
      KEYOPS_EMBEDDED_PG_PORT: String(await freePort()),
      KEYOPS_LOG_LEVEL: "error",
    },
    { timeoutMs: 120_000 },
  );
}

describe("the data directory and master.key stay private", () => {
  it("creates a new data directory 0700 and its master.key 0600", async () => {
    const dataDir = path.join(await workspace(), "data");
    const result = await keyops(dataDir, ["keys", "status"]);
    expect({ code: result.code, stderr: result.stderr }).toEqual({ code: 0, stderr: "" });
    expect(mode(dataDir).toString(8)).toBe("700");
    expect(mode(path.join(dataDir, "master.key")).toString(8)).toBe("600");
  });

  it("keeps a data directory the user made 0750 at 0750", async () => {
    const dataDir = path.join(await workspace(), "data");
    await mkdir(dataDir, { mode: 0o750 });
    await chmod(dataDir, 0o750);
    const result = await keyops(dataDir, ["keys", "status"]);
    expect({ code: result.code, stderr: result.stderr }).toEqual({ code: 0, stderr: "" });
    expect(mode(dataDir).toString(8)).toBe("750");
  });

  it("refuses a master.key readable by group or others, and one that is not random (exit 2, one line)", async () => {
    const dataDir = path.join(await workspace(), "data");
    const file = path.join(dataDir, "master.key");
    await mkdir(dataDir, { mode: 0o700 });
    const key = SecretKey.generate();
    recordKey(key);
    writeFileSync(file, `${key.exposeBase64()}\n`, { mode: 0o600 });
    for (const loose of [0o644, 0o640, 0o604, 0o620]) {
      await chmod(file, loose);
      const result = await keyops(dataDir, ["keys", "status"]);
      const shown = loose.toString(8).padStart(4, "0");
      expect({ code: result.code, stdout: result.stdout, stderr: result.stderr }).toEqual({
        code: 2,
        stdout: "",
        stderr: `keyops: ${file} is readable or writable by group or others (mode ${shown}): the master key must be private: chmod 600 ${file}\n`,
      });
    }
    await chmod(file, 0o600);
    const fine = await keyops(dataDir, ["keys", "status"]);
    expect({ code: fine.code, stderr: fine.stderr }).toEqual({ code: 0, stderr: "" });

    writeFileSync(file, `${Buffer.alloc(32).toString("base64")}\n`, { mode: 0o600 });
    const weak = await keyops(dataDir, ["keys", "status"]);
    expect(weak.code).toBe(2);
    expect(weak.stdout).toBe("");
    expect(weak.stderr).toMatch(
      new RegExp(
        `^keyops: ${file.replace(/[.]/g, "\\.")} is not a random key \\(it is one byte repeated\\); generate one with: [^\\n]+\\n$`,
      ),
    );
  });
});
