import { readFileSync } from "node:fs";
import { z } from "zod";
import type { Target } from "./engine/target.js";
import { ENVIRONMENTS, type Environment } from "./environments.js";

/** One configured target: a ciphertext column, and where its table lives (default: the environment's database). */
export interface TargetSetting extends Target {
  name: string;
  /** Its own database; default the environment's target database. */
  databaseUrl?: string;
}

const identifier = z
  .string()
  .trim()
  .min(1)
  .max(63)
  // biome-ignore lint/suspicious/noControlCharactersInRegex: NUL and control characters have no place in an identifier
  .refine((name) => !/[\u0000-\u001f]/.test(name), "must not hold control characters");

const targetSchema = z
  .object({
    name: z.string().trim().min(1).max(100).optional(),
    table: identifier,
    idColumn: identifier.default("id"),
    ciphertextColumn: identifier,
    bindToRow: z.boolean().optional(),
    writtenAtColumn: identifier.optional(),
    databaseUrl: z
      .string()
      .trim()
      .regex(/^postgres(ql)?:\/\//, "must be a postgresql:// connection string")
      .optional(),
  })
  .strict();

const fileSchema = z
  .object(Object.fromEntries(ENVIRONMENTS.map((e) => [e, z.array(targetSchema).max(100).optional()])))
  .strict();

/**
 * KEYOPS_TARGETS_FILE: the ciphertext columns of each environment, e.g.
 * `{"production": [{"table": "PlatformIntegration", "ciphertextColumn": "credentials", "writtenAtColumn": "updatedAt"},
 *                  {"name": "webhooks", "table": "Webhook", "ciphertextColumn": "secret"}]}`.
 * Problems are named by path; values (a database URL) never appear.
 */
export function readTargetsFile(
  file: string,
  problems: string[],
): Partial<Record<Environment, TargetSetting[]>> {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(file, "utf8"));
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    problems.push(
      `KEYOPS_TARGETS_FILE: ${code ? `cannot read ${file} (${code})` : `${file} is not valid JSON`}`,
    );
    return {};
  }
  const parsed = fileSchema.safeParse(json);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      problems.push(`KEYOPS_TARGETS_FILE ${issue.path.join(".")}: ${issue.message}`);
    }
    return {};
  }
  const targets: Partial<Record<Environment, TargetSetting[]>> = {};
  for (const environment of ENVIRONMENTS) {
    const list = parsed.data[environment] as z.infer<typeof targetSchema>[] | undefined;
    if (!list) continue;
    const named = list.map((t) => ({ ...t, name: t.name ?? `${t.table}.${t.ciphertextColumn}` }));
    const seen = new Set<string>();
    for (const t of named) {
      if (seen.has(t.name))
        problems.push(`KEYOPS_TARGETS_FILE ${environment}: the target "${t.name}" is listed twice`);
      seen.add(t.name);
    }
    targets[environment] = named;
  }
  return targets;
}
