// A small credentials API in the style of the key management guide's, reading and writing the
// encrypted "PlatformIntegration" rows through keyops/client. Plain Node: node:http and pg.
//
//   GET /api/platforms        every integration, decrypted (500 if any row fails to decrypt)
//   GET /api/platforms/:id    one integration
//   PUT /api/platforms/:id    new credentials (JSON body), encrypted with the active key version
//   GET /healthz              the guide's encryption health check and the client's status
import http from "node:http";
import { openCredentials } from "keyops/client";
import pg from "pg";

const MAX_BODY_BYTES = 64 * 1024;

function fail(message) {
  process.stderr.write(`api-service: ${message}\n`);
  process.exit(2);
}

const databaseUrl = process.env.DATABASE_URL;
if (!databaseUrl) fail("DATABASE_URL (the application's database) is required");
const port = Number(process.env.PORT ?? 3000);
if (!Number.isInteger(port) || port < 0 || port > 65535) fail("PORT must be a port number (0 for any)");

// Settings come from process.env: KEYOPS_ENVIRONMENT, ENCRYPTION_KEY / ENCRYPTION_KEY_V<n> (env
// source) or KEYOPS_DATABASE_URL and KEYOPS_MASTER_KEY (keyring source), and the reporting ones.
let creds;
try {
  creds = await openCredentials();
} catch (error) {
  // The client's errors name the setting, never a value.
  fail(`${error.name}: ${error.message}`);
}

const pool = new pg.Pool({ connectionString: databaseUrl, max: 10, application_name: "api-service" });
pool.on("error", (error) =>
  process.stderr.write(`api-service: database connection lost: ${error.message}\n`),
);

/** Decryption failures since start: a load test or an alert reads them from /healthz. */
let decryptFailures = 0;
let stopping = false;

const COLUMNS = `"id", "platform", "displayName", "credentials", "createdAt", "updatedAt"`;

async function view(row) {
  return {
    id: row.id,
    platform: row.platform,
    displayName: row.displayName,
    // decrypt (not decryptCredentials): a row already re-encrypted to a version this instance has
    // not loaded yet makes it read the keyring again first.
    credentials: await creds.decrypt(row.credentials),
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
  };
}

function send(res, status, body) {
  const text = JSON.stringify(body);
  const headers = { "content-type": "application/json", "content-length": Buffer.byteLength(text) };
  if (stopping) headers.connection = "close";
  res.writeHead(status, headers);
  res.end(text);
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    req.on("data", (chunk) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        reject(Object.assign(new Error("request body too large"), { status: 413 }));
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

async function listPlatforms(res) {
  const { rows } = await pool.query(`SELECT ${COLUMNS} FROM "PlatformIntegration" ORDER BY "id"`);
  const platforms = [];
  const failed = [];
  for (const row of rows) {
    try {
      platforms.push(await view(row));
    } catch (error) {
      failed.push({ id: row.id, error: error.name });
    }
  }
  if (failed.length > 0) {
    decryptFailures += failed.length;
    send(res, 500, {
      error: `${failed.length} of ${rows.length} integrations could not be decrypted`,
      failed: failed.slice(0, 10),
    });
    return;
  }
  send(res, 200, { platforms });
}

async function getPlatform(res, id) {
  const { rows } = await pool.query(`SELECT ${COLUMNS} FROM "PlatformIntegration" WHERE "id" = $1`, [id]);
  if (rows.length === 0) return send(res, 404, { error: "no such integration" });
  let platform;
  try {
    platform = await view(rows[0]);
  } catch (error) {
    decryptFailures += 1;
    return send(res, 500, { error: `the integration could not be decrypted (${error.name})` });
  }
  send(res, 200, platform);
}

async function putPlatform(req, res, id) {
  let credentials;
  try {
    credentials = JSON.parse(await readBody(req));
  } catch (error) {
    return send(res, error.status ?? 400, { error: error.status ? error.message : "the body must be JSON" });
  }
  if (typeof credentials !== "object" || credentials === null || Array.isArray(credentials)) {
    return send(res, 400, { error: "the credentials must be a JSON object" });
  }
  const ciphertext = creds.encryptCredentials(credentials);
  // A single statement commits before pg answers: the 200 below means the row is stored.
  const { rowCount } = await pool.query(
    `UPDATE "PlatformIntegration" SET "credentials" = $2, "updatedAt" = now() WHERE "id" = $1`,
    [id, ciphertext],
  );
  if (rowCount === 0) return send(res, 404, { error: "no such integration" });
  send(res, 200, { id, version: creds.status().encryptsVersion });
}

function healthz(res) {
  const health = creds.healthCheckEncryption();
  send(res, health.status === "healthy" ? 200 : 503, { ...health, decryptFailures, client: creds.status() });
}

async function route(req, res) {
  const url = new URL(req.url, "http://localhost");
  const match = /^\/api\/platforms(?:\/([^/]+))?\/?$/.exec(url.pathname);
  if (url.pathname === "/healthz" && req.method === "GET") return healthz(res);
  if (!match) return send(res, 404, { error: "not found" });
  const id = match[1] === undefined ? undefined : decodeURIComponent(match[1]);
  if (id === undefined) {
    if (req.method === "GET") return listPlatforms(res);
  } else if (req.method === "GET") {
    return getPlatform(res, id);
  } else if (req.method === "PUT") {
    return putPlatform(req, res, id);
  }
  send(res, 405, { error: "method not allowed" });
}

const server = http.createServer((req, res) => {
  route(req, res).catch((error) => {
    process.stderr.write(`api-service: ${req.method} ${req.url} failed: ${error.name}: ${error.message}\n`);
    if (!res.headersSent) send(res, 500, { error: "internal error" });
    else res.destroy();
  });
});
server.keepAliveTimeout = 5000;

server.listen(port, () => {
  process.stdout.write(`listening on ${server.address().port}\n`);
});

// SIGTERM: stop accepting, let in-flight requests finish, then close the keys and the database.
async function shutdown() {
  if (stopping) return;
  stopping = true;
  const closed = new Promise((resolve) => server.close(resolve));
  server.closeIdleConnections();
  await closed;
  await creds.close();
  await pool.end();
  process.exit(0);
}
process.on("SIGTERM", () => {
  shutdown().catch((error) => {
    process.stderr.write(`api-service: shutdown failed: ${error.message}\n`);
    process.exit(1);
  });
});
process.on("SIGINT", () => process.kill(process.pid, "SIGTERM"));
