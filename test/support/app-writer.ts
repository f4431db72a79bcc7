// The application writing legitimately while KeyOps rotates: a process of its own that opens its
// keys through keyops/client (keyring source) and, at WRITES_PER_SECOND, gives a random row a new
// secret, setting "updatedAt" as the application does; never the row SPARED_ID names (the one a
// test changes behind the application's back). Prints "writes <n>" on SIGTERM.
import { randomBytes } from "node:crypto";
import pg from "pg";
import { openCredentials } from "../../src/client/index.js";

const perSecond = Number(process.env.WRITES_PER_SECOND ?? "20");
const url = process.env.KEYOPS_DATABASE_URL as string;
const creds = await openCredentials({ environment: "production" });
const pool = new pg.Pool({ connectionString: url, max: 2 });
pool.on("error", () => undefined);
const { rows } = await pool.query<{ id: string }>(`SELECT id FROM "PlatformIntegration" ORDER BY id`);
const ids = rows.map((r) => r.id).filter((id) => id !== process.env.SPARED_ID);
let writes = 0;
let stopping = false;
process.once("SIGTERM", () => {
  stopping = true;
});
process.stdout.write("writing\n");
while (!stopping) {
  const id = ids[Math.floor(Math.random() * ids.length)] as string;
  const text = creds.encryptCredentials({ accessToken: `shpat_${randomBytes(12).toString("hex")}` });
  await pool
    .query(
      `UPDATE "PlatformIntegration" SET "credentials" = $1, "updatedAt" = now() AT TIME ZONE 'UTC' WHERE id = $2`,
      [text, id],
    )
    .then(() => {
      writes++;
    })
    .catch(() => undefined);
  await new Promise((resolve) => setTimeout(resolve, 1000 / perSecond));
}
process.stdout.write(`writes ${writes}\n`);
await creds.close();
await pool.end();
