import { execFileSync } from "node:child_process";
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from "node:fs";
import { mkdtemp } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort } from "../../src/net.js";
import { runKeyops } from "../support/cli.js";
import { newTestKey } from "../support/database.js";

// A small filesystem of its own for the embedded data directory (a tmpfs, which needs root): the
// disk that fills up is that one only.
let mountPoint: string | undefined;
let unavailable = "";
let env: Record<string, string> = {};
let dataDir = "";

beforeAll(async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), "keyops-diskfull-"));
  try {
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=160m,mode=0755", "tmpfs", dir], { stdio: "pipe" });
    mountPoint = dir;
  } catch (error) {
    unavailable = `cannot mount a tmpfs here (${(error as Error).message.split("\n")[0]})`;
    rmSync(dir, { recursive: true, force: true });
    return;
  }
  dataDir = path.join(mountPoint, "data");
  // Reachable by the postgres user, so that the cluster lives on this filesystem.
  mkdirSync(dataDir, { mode: 0o711 });
  env = {
    KEYOPS_DATA_DIR: dataDir,
    KEYOPS_EMBEDDED_PG_PORT: String(await freePort()),
    KEYOPS_MASTER_KEY: newTestKey().exposeBase64(),
    ENCRYPTION_KEY: newTestKey().exposeBase64(),
  };
});

afterAll(async () => {
  if (!mountPoint) return;
  await stopLeftoverServer();
  try {
    execFileSync("umount", [mountPoint], { stdio: "pipe" });
  } catch {
    execFileSync("umount", ["-l", mountPoint], { stdio: "pipe" });
  }
  rmSync(mountPoint, { recursive: true, force: true });
});

/** A server a failed run left behind (its lock files could not be written) must not outlive the test. */
async function stopLeftoverServer(): Promise<void> {
  let pid: number;
  try {
    pid = Number(readFileSync(path.join(dataDir, "postgres", "postmaster.pid"), "utf8").split("\n")[0]);
    process.kill(pid, "SIGINT");
  } catch {
    return;
  }
  for (let i = 0; i < 300; i++) {
    try {
      process.kill(pid, 0);
    } catch {
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/**
 * Fills the filesystem but for `spareBytes` (room for the small files a start writes, not for the
 * rows a rotation writes); returns the filler's path.
 */
function fillDisk(spareBytes: number): string {
  const spare = path.join(mountPoint as string, "spare");
  writeFileSync(spare, Buffer.alloc(spareBytes));
  const filler = path.join(mountPoint as string, "filler");
  const fd = openSync(filler, "w");
  const chunk = Buffer.alloc(64 * 1024);
  try {
    for (;;) writeSync(fd, chunk);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOSPC") throw error;
  } finally {
    closeSync(fd);
  }
  rmSync(spare);
  return filler;
}

describe("a full disk under the embedded database", () => {
  it("says what is full and what to do (exit 74); once there is room the same command resumes", async (context) => {
    if (unavailable) context.skip(unavailable);
    const seeded = await runKeyops(["demo", "seed", "--rows", "3000"], env, { timeoutMs: 120_000 });
    expect(seeded.code, seeded.stderr).toBe(0);
    const before = JSON.parse((await runKeyops(["verify", "--json"], env, { timeoutMs: 120_000 })).stdout);

    const filler = fillDisk(256 * 1024);
    const full = await runKeyops(["rotate"], env, { timeoutMs: 120_000 });
    expect(full.code, full.stderr).toBe(74);
    const lines = full.stderr.trim().split("\n");
    expect(lines.at(-1)).toMatch(
      new RegExp(
        `^keyops: the disk holding the embedded database is full \\(.*(No space left on device|could not extend file).*\\): free space where ${dataDir} \\(KEYOPS_DATA_DIR\\) lives or move it to a larger volume, then run the same command again to resume`,
        "i",
      ),
    );
    expect(full.stderr).not.toMatch(/internal error|^\s+at /m);

    rmSync(filler);
    const again = await runKeyops(["rotate", "--json"], env, { timeoutMs: 120_000 });
    expect(again.code, again.stderr).toBe(0);
    const after = JSON.parse((await runKeyops(["verify", "--json"], env, { timeoutMs: 120_000 })).stdout);
    expect(after).toMatchObject({ rows: 3000, failed: 0, notOnActive: 0 });
    expect(after.plaintextDigest).toBe(before.plaintextDigest);
  }, 300_000);
});
