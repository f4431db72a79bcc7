import { mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../../src/config.js";

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), "keyops-targets-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function withFile(content: string): Promise<string> {
  const file = path.join(dir, `targets-${Math.random().toString(36).slice(2)}.json`);
  await writeFile(file, content);
  return file;
}

function problems(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  return [];
}

describe("KEYOPS_TARGETS_FILE", () => {
  it("reads each environment's targets, naming them table.column by default", async () => {
    const file = await withFile(
      JSON.stringify({
        production: [
          { table: "PlatformIntegration", ciphertextColumn: "credentials", writtenAtColumn: "updatedAt" },
          {
            name: "webhooks",
            table: "Webhook",
            ciphertextColumn: "secret",
            databaseUrl: "postgresql://h/db",
          },
        ],
      }),
    );
    expect(loadConfig({ KEYOPS_TARGETS_FILE: file }).targets).toEqual({
      production: [
        {
          name: "PlatformIntegration.credentials",
          table: "PlatformIntegration",
          idColumn: "id",
          ciphertextColumn: "credentials",
          writtenAtColumn: "updatedAt",
        },
        {
          name: "webhooks",
          table: "Webhook",
          idColumn: "id",
          ciphertextColumn: "secret",
          databaseUrl: "postgresql://h/db",
        },
      ],
    });
  });

  it("refuses a missing file, bad JSON, unknown fields, a bad URL and a name listed twice, never showing a URL", async () => {
    expect(problems({ KEYOPS_TARGETS_FILE: path.join(dir, "missing.json") })).toEqual([
      `KEYOPS_TARGETS_FILE: cannot read ${path.join(dir, "missing.json")} (ENOENT)`,
    ]);
    const bad = await withFile("{ nope");
    expect(problems({ KEYOPS_TARGETS_FILE: bad })).toEqual([`KEYOPS_TARGETS_FILE: ${bad} is not valid JSON`]);
    const unknown = await withFile(
      JSON.stringify({ production: [{ table: "T", ciphertextColumn: "c", colour: 1 }] }),
    );
    expect(problems({ KEYOPS_TARGETS_FILE: unknown }).join(" ")).toMatch(/production\.0.*colour/);
    const url = await withFile(
      JSON.stringify({
        staging: [{ table: "T", ciphertextColumn: "c", databaseUrl: "mysql://secret@h/db" }],
      }),
    );
    const urlProblems = problems({ KEYOPS_TARGETS_FILE: url }).join(" ");
    expect(urlProblems).toContain("staging.0.databaseUrl: must be a postgresql:// connection string");
    expect(urlProblems).not.toContain("secret@");
    const twice = await withFile(
      JSON.stringify({
        production: [
          { table: "T", ciphertextColumn: "c" },
          { table: "T", ciphertextColumn: "c" },
        ],
      }),
    );
    expect(problems({ KEYOPS_TARGETS_FILE: twice })).toEqual([
      'KEYOPS_TARGETS_FILE production: the target "T.c" is listed twice',
    ]);
    const moon = await withFile(JSON.stringify({ moon: [] }));
    expect(problems({ KEYOPS_TARGETS_FILE: moon }).join(" ")).toContain("moon");
  });
});
