import { spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { chmod, mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import { startEmbeddedPostgres } from "../../src/db/embedded.js";
import { silentLogger } from "../../src/logger.js";
import { freePort } from "../../src/net.js";
import { recordOutput } from "../support/artifacts.js";

const dirs: string[] = [];

async function tempDataDir(): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), "keyops-embedded-"));
  await chmod(dir, 0o755);
  dirs.push(dir);
  return dir;
}

function postmasterPid(dataDir: string): number | undefined {
  const file = path.join(dataDir, "postgres", "postmaster.pid");
  return existsSync(file) ? Number(readFileSync(file, "utf8").split("\n")[0]) : undefined;
}

async function query(url: string, sql: string) {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query(sql)).rows;
  } finally {
    await client.end();
  }
}

afterAll(async () => {
  for (const dir of dirs) {
    const pid = postmasterPid(dir);
    if (pid) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // already gone
      }
    }
    await rm(dir, { recursive: true, force: true });
  }
});

describe("embedded PostgreSQL", () => {
  it("keeps its data across a stop and a start", async () => {
    const dataDir = await tempDataDir();
    const port = await freePort();
    const first = await startEmbeddedPostgres({ dataDir, port, log: silentLogger });
    await query(first.url, "CREATE TABLE kept (note text); INSERT INTO kept VALUES ('still here')");
    await first.stop();
    expect(postmasterPid(dataDir)).toBeUndefined();
    const second = await startEmbeddedPostgres({ dataDir, port, log: silentLogger });
    expect(await query(second.url, "SELECT note FROM kept")).toEqual([{ note: "still here" }]);
    await second.stop();
  });

  it("recovers from a SIGKILLed owner: reuses the stray server, then stops it", async () => {
    const dataDir = await tempDataDir();
    const port = await freePort();
    const script = `
      import { startEmbeddedPostgres } from "./src/db/embedded.ts";
      import { silentLogger } from "./src/logger.ts";
      const server = await startEmbeddedPostgres({ dataDir: ${JSON.stringify(dataDir)}, port: ${port}, log: silentLogger });
      console.log("READY " + server.url.replace(/:[^:@/]+@/, ":***@"));
      setInterval(() => {}, 1000);`;
    const child = spawn(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], {
      cwd: path.resolve(import.meta.dirname, "../.."),
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    child.stdout.on("data", (chunk: Buffer) => {
      output += chunk;
      recordOutput(chunk);
    });
    child.stderr.on("data", (chunk: Buffer) => recordOutput(chunk));
    for (let waited = 0; !output.includes("READY") && waited < 60_000; waited += 50) await sleep(50);
    expect(output).toContain("READY");
    child.kill("SIGKILL");
    await new Promise((resolve) => child.on("exit", resolve));

    const strayPid = postmasterPid(dataDir);
    expect(strayPid).toBeGreaterThan(0);
    expect(() => process.kill(strayPid as number, 0)).not.toThrow(); // measured: the server outlives its owner

    const recovered = await startEmbeddedPostgres({ dataDir, port: await freePort(), log: silentLogger });
    expect(new URL(recovered.url).port).toBe(String(port)); // the stray server's port, from postmaster.pid
    expect(await query(recovered.url, "SELECT 1 AS ok")).toEqual([{ ok: 1 }]);
    await recovered.stop();
    expect(() => process.kill(strayPid as number, 0)).toThrow();
    for (let waited = 0; postmasterPid(dataDir) && waited < 10_000; waited += 50) await sleep(50);
    expect(postmasterPid(dataDir)).toBeUndefined();
    await expect(query(recovered.url, "SELECT 1")).rejects.toThrow();
  });
});
