import { defineConfig } from "prisma/config";

// The Prisma CLI reads this file; the app itself connects through the pg driver adapter
// (src/db/prisma.ts) and applies migrations itself (src/db/migrate.ts).
export default defineConfig({
  schema: "prisma/schema.prisma",
  migrations: { path: "prisma/migrations" },
  datasource: { url: process.env.DATABASE_URL ?? "postgresql://localhost/keyops" },
});
