import { existsSync, readFileSync, statSync } from "node:fs";
import { chmod, mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { SecretKey } from "../../src/crypto/secret-key.js";
import { freePort } from "../../src/net.js";
import { recordKey } from "../support/artifacts.js";
import { runKeyops } from "../support/cli.js";

let dir = "";
const pidFile = () => path.join(dir, ".data", "postgres", "postmaster.pid");

afterAll(async () => {
  if (existsSync(pidFile())) {
    try {
      process.kill(Number(readFileSync(pidFile(), "utf8").split("\n")[0]), "SIGKILL");
    } catch {
      // gone already
    }
  }
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe("the embedded default (no DATABASE_URL, no master key)", () => {
  it("runs the README's demo: seed, rotate, verify; stops its server after each command", async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "keyops-cli-"));
    await chmod(dir, 0o755);
    const env = { KEYOPS_EMBEDDED_PG_PORT: String(await freePort()) };
    const run = (args: string[]) => runKeyops(args, env, { cwd: dir, timeoutMs: 120_000 });

    // Bad input is refused before anything is created: no cluster, no generated master key.
    for (const args of [
      ["demo", "seed"],
      ["rotate", "--batch-size", "0"],
      ["keys", "activate", "x"],
    ]) {
      expect((await run(args)).code).toBe(2);
    }
    expect(existsSync(path.join(dir, ".data"))).toBe(false);

    const seeded = await run(["demo", "seed", "--rows", "1000"]);
    expect(seeded.code).toBe(0);
    const masterFile = path.join(dir, ".data", "master.key");
    recordKey(SecretKey.fromBase64(readFileSync(masterFile, "utf8"), "generated master key"));
    expect(statSync(masterFile).mode & 0o777).toBe(0o600);
    expect(seeded.stderr).toMatch(/KEYOPS_MASTER_KEY is not set: generated a master key/);
    expect(existsSync(pidFile())).toBe(false);

    const rotated = await run(["rotate"]);
    expect(rotated.code).toBe(0);
    expect(rotated.stdout).toMatch(/rotation run #1 of development succeeded/);
    expect(rotated.stderr).not.toMatch(/generated a master key/);
    expect(existsSync(pidFile())).toBe(false);

    const verified = await run(["verify", "--json"]);
    expect(verified.code).toBe(0);
    expect(JSON.parse(verified.stdout)).toMatchObject({
      rows: 1000,
      failed: 0,
      perVersion: { "2": 1000 },
      activeVersion: 2,
    });
    expect(existsSync(pidFile())).toBe(false);
  });
});
