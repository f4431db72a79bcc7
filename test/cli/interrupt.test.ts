import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { freePort } from "../../src/net.js";
import { eventually } from "../support/bot.js";
import { captureOutput, runKeyops, spawnKeyops } from "../support/cli.js";
import { portIsFree, postmasterPidFile, removeLeftoverServer } from "../support/embedded-leftovers.js";

// Ctrl-C or a SIGTERM (a terminal closed, a CI job cancelled) during a long command on the embedded
// default: one line, exit 130, and the embedded server the command started is stopped with it.

let dir = "";
const dataDir = () => path.join(dir, ".data");
const pidFile = () => postmasterPidFile(dataDir());

afterAll(async () => {
  if (!dir) return;
  await removeLeftoverServer(dataDir());
  await rm(dir, { recursive: true, force: true });
}, 60_000);

describe("an interrupted command on the embedded default", () => {
  it("SIGTERM during demo seed, SIGINT during verify: one line, exit 130, the server stopped; then it runs", async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "keyops-interrupt-"));
    const port = await freePort();
    const env = { KEYOPS_EMBEDDED_PG_PORT: String(port) };
    const interrupted = async (args: string[], signal: NodeJS.Signals, started: () => Promise<boolean>) => {
      const child = spawnKeyops(args, env, { cwd: dir });
      const output = captureOutput(child);
      const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
      await eventually(`${args.join(" ")} under way`, started, 120_000);
      child.kill(signal);
      const code = await exited;
      return { code, stderr: output.stderr(), stdout: output.stdout() };
    };
    const expectStopped = async () => {
      expect({ postmasterPid: existsSync(pidFile()), portFree: await portIsFree(port) }).toEqual({
        postmasterPid: false,
        portFree: true,
      });
    };

    // Interrupted once its server is up and seeding (the progress goes nowhere: no terminal).
    const seed = await interrupted(["demo", "seed", "--rows", "400000"], "SIGTERM", async () => {
      if (!existsSync(pidFile())) return false;
      await new Promise((resolve) => setTimeout(resolve, 1500));
      return true;
    });
    expect({ code: seed.code, stderr: seed.stderr }).toEqual({
      code: 130,
      // After the first start's warning that it generated a master key, one line.
      stderr: expect.stringMatching(
        /^[^\n]*KEYOPS_MASTER_KEY is not set[^\n]*\nkeyops: interrupted; [^\n]+\n$/,
      ),
    });
    expect(seed.stderr).not.toMatch(/^\s+at /m);
    await expectStopped();

    const seeded = await runKeyops(["demo", "seed", "--rows", "60000"], env, {
      cwd: dir,
      timeoutMs: 180_000,
    });
    expect(seeded.code, seeded.stderr).toBe(0);
    await expectStopped();

    const verify = await interrupted(["verify"], "SIGINT", async () => existsSync(pidFile()));
    expect(verify.code, verify.stderr).toBe(130);
    expect(verify.stderr).toMatch(/^keyops: interrupted; [^\n]+\n$/);
    await expectStopped();

    const again = await runKeyops(["verify", "--json"], env, { cwd: dir, timeoutMs: 180_000 });
    expect(again.code, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ failed: 0 });
    await expectStopped();
  }, 600_000);
});
