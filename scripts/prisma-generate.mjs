// Runs `prisma generate` on machines that cannot download Prisma's native engines.
// The generator itself needs no engine (the Prisma 7 client talks to PostgreSQL through the
// pg driver adapter), but the CLI checks for the schema engine before generating; pointing
// PRISMA_SCHEMA_ENGINE_BINARY at any existing file satisfies that check. A real engine
// binary, when the environment provides one, is used as is.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";

// Installed as a dependency of an application (for keyops/client), KeyOps needs no Prisma client:
// npm runs this with the package as cwd and INIT_CWD where `npm install` was typed.
const packageRoot = fileURLToPath(new URL("..", import.meta.url));
if (process.env.INIT_CWD && path.resolve(process.env.INIT_CWD) !== path.resolve(packageRoot)) {
  process.exit(0);
}

const require = createRequire(import.meta.url);
const env = { ...process.env, PRISMA_HIDE_UPDATE_MESSAGE: "1", CHECKPOINT_DISABLE: "1" };
if (!env.PRISMA_SCHEMA_ENGINE_BINARY || !existsSync(env.PRISMA_SCHEMA_ENGINE_BINARY)) {
  env.PRISMA_SCHEMA_ENGINE_BINARY = process.execPath;
}
const cli = require.resolve("prisma/build/index.js");
const result = spawnSync(process.execPath, [cli, "generate"], { stdio: "inherit", env });
process.exit(result.status ?? 1);
