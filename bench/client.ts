// keyops/client throughput (npm run bench:client -- [--rounds N] [--round-ms MS] [--source]).
//
// Decrypt and encrypt per second through keyops/client against the key management guide's own
// encryptCredentials/decryptCredentials written plainly on node:crypto (JSON.stringify, AES-256-GCM
// with a random 12-byte IV, hex `iv:tag:ct`, and back with JSON.parse), on the same ~150-byte
// credential payloads in the same process. Each round runs raw and client back to back (their
// 1000-operation batches interleaved, their order alternating), after a warm-up; rates are the
// medians over the rounds, the share of raw the median of each round's client/raw ratio.
//
// By default it measures the compiled client applications run: dist/client/index.js, built first
// (npm run build:client) when missing or older than its sources. --source measures
// src/client/index.ts through tsx instead.
//
// The last line: `client: decrypt <n>/s (<p>% of raw), encrypt <n>/s (<q>% of raw)`. The key is
// random per run and never printed.
import { spawnSync } from "node:child_process";
import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";
import { existsSync, readdirSync, statSync } from "node:fs";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { parseArgs } from "node:util";

type ClientModule = typeof import("../src/client/index.ts");

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const DIST_ENTRY = path.join(ROOT, "dist/client/index.js");
const PAYLOADS = 1000;

const { values } = parseArgs({
  options: {
    rounds: { type: "string", default: "7" },
    "round-ms": { type: "string", default: "400" },
    "warmup-ms": { type: "string", default: "1500" },
    source: { type: "boolean", default: false },
  },
  strict: true,
});
const ROUNDS = positive(values.rounds, "--rounds");
const ROUND_MS = positive(values["round-ms"], "--round-ms");
const WARMUP_MS = positive(values["warmup-ms"], "--warmup-ms");

function positive(text: string | undefined, name: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${name} must be a positive integer`);
  return n;
}

/** The newest modification time of the files the compiled client is built from. */
function newestSource(): number {
  let newest = 0;
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const file = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(file);
      else if (file.endsWith(".ts")) newest = Math.max(newest, statSync(file).mtimeMs);
    }
  };
  for (const dir of ["src/client", "src/crypto"]) walk(path.join(ROOT, dir));
  for (const file of ["src/environments.ts", "src/errors.ts"]) {
    const full = path.join(ROOT, file);
    if (existsSync(full)) newest = Math.max(newest, statSync(full).mtimeMs);
  }
  return newest;
}

async function loadClient(): Promise<{ module: ClientModule; from: string }> {
  if (values.source) {
    return { module: await import("../src/client/index.ts"), from: "src/client/index.ts (tsx)" };
  }
  if (!existsSync(DIST_ENTRY) || statSync(DIST_ENTRY).mtimeMs < newestSource()) {
    console.log("building dist/ (npm run build:client) ...");
    const built = spawnSync("npm", ["run", "--silent", "build:client"], { cwd: ROOT, stdio: "inherit" });
    if (built.status !== 0) throw new Error("npm run build:client failed");
  }
  return {
    module: (await import(pathToFileURL(DIST_ENTRY).href)) as ClientModule,
    from: "dist/client/index.js (compiled)",
  };
}

// --- The guide's functions, as the existing API has them ------------------------------------

function guideEncryptCredentials(key: Buffer, credentials: unknown): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv("aes-256-gcm", key, iv);
  let encrypted = cipher.update(JSON.stringify(credentials), "utf8", "hex");
  encrypted += cipher.final("hex");
  const authTag = cipher.getAuthTag();
  return `${iv.toString("hex")}:${authTag.toString("hex")}:${encrypted}`;
}

function guideDecryptCredentials(key: Buffer, encryptedData: string): unknown {
  const [ivHex, authTagHex, encrypted] = encryptedData.split(":") as [string, string, string];
  const decipher = createDecipheriv("aes-256-gcm", key, Buffer.from(ivHex, "hex"));
  decipher.setAuthTag(Buffer.from(authTagHex, "hex"));
  let decrypted = decipher.update(encrypted, "hex", "utf8");
  decrypted += decipher.final("utf8");
  return JSON.parse(decrypted);
}

// --- Payloads --------------------------------------------------------------------------------

const STORES = ["acme", "blue-fern", "northwind", "copper-kettle", "lumen", "tidewater", "atlas", "juniper"];

function payload(i: number): Record<string, string> {
  if (i % 3 === 2) {
    return {
      sellerId: `A${randomBytes(6).toString("hex").toUpperCase()}`,
      marketplaceId: "ATVPDKIKX0DER",
      refreshToken: `Atzr|${randomBytes(39).toString("base64url")}`,
      region: "us-east-1",
    };
  }
  return {
    shopDomain: `${STORES[i % STORES.length]}-outfitters-${i}.myshopify.com`,
    accessToken: `shpat_${randomBytes(16).toString("hex")}`,
    scope: "read_products,write_products,read_orders",
  };
}

// --- Measurement -----------------------------------------------------------------------------

let sink = 0;

/** Operations per second of `op` over the payload indexes, run for about `ms`. */
function measure(ms: number, op: (i: number) => unknown): number {
  let done = 0;
  const start = performance.now();
  let elapsed = 0;
  do {
    batch(op);
    done += PAYLOADS;
    elapsed = performance.now() - start;
  } while (elapsed < ms);
  return (done / elapsed) * 1000;
}

function batch(op: (i: number) => unknown): number {
  const start = performance.now();
  for (let i = 0; i < PAYLOADS; i++) {
    if (op(i) === undefined) sink++;
  }
  return performance.now() - start;
}

/**
 * One round of a pair: batches of raw and client alternate for about `ms` each, so both sides
 * meet the same machine (other processes on a 2-core box come and go within a round).
 */
function measurePair(ms: number, raw: (i: number) => unknown, client: (i: number) => unknown) {
  let rawMs = 0;
  let clientMs = 0;
  let batches = 0;
  while (rawMs < ms || clientMs < ms) {
    if (batches % 2 === 0) {
      rawMs += batch(raw);
      clientMs += batch(client);
    } else {
      clientMs += batch(client);
      rawMs += batch(raw);
    }
    batches++;
  }
  const ops = batches * PAYLOADS;
  return { raw: (ops / rawMs) * 1000, client: (ops / clientMs) * 1000 };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

const fmt = (n: number) => String(Math.round(n));

async function main(): Promise<void> {
  const { module: client, from } = await loadClient();
  const keyBytes = randomBytes(32);
  const creds = await client.openCredentials({
    environment: "production",
    env: { ENCRYPTION_KEY: keyBytes.toString("base64"), KEYOPS_REPORTING: "off" },
  });
  const payloads = Array.from({ length: PAYLOADS }, (_, i) => payload(i));
  const bytes = payloads.reduce((sum, p) => sum + Buffer.byteLength(JSON.stringify(p)), 0) / PAYLOADS;
  const rawTexts = payloads.map((p) => guideEncryptCredentials(keyBytes, p));
  const clientTexts = payloads.map((p) => creds.encryptCredentials(p));
  // Both sides read what the other wrote: the same cipher, the same key.
  if (JSON.stringify(creds.decryptCredentials(rawTexts[0] as string)) !== JSON.stringify(payloads[0])) {
    throw new Error("the client does not read the guide's format");
  }
  if (
    JSON.stringify(guideDecryptCredentials(keyBytes, (clientTexts[0] as string).slice(3))) !==
    JSON.stringify(payloads[0])
  ) {
    throw new Error("the guide's code does not read the client's ciphertext");
  }

  const ops = {
    rawDecrypt: (i: number) => guideDecryptCredentials(keyBytes, rawTexts[i] as string),
    clientDecrypt: (i: number) => creds.decryptCredentials(clientTexts[i] as string),
    rawEncrypt: (i: number) => guideEncryptCredentials(keyBytes, payloads[i]),
    clientEncrypt: (i: number) => creds.encryptCredentials(payloads[i]),
  };
  console.log(`keyops/client from ${from}; node ${process.version}`);
  console.log(
    `${PAYLOADS} payloads of ${Math.round(bytes)} bytes of JSON on average; ${ROUNDS} rounds of ${ROUND_MS} ms per side after ${WARMUP_MS} ms of warm-up each`,
  );
  for (const op of Object.values(ops)) measure(WARMUP_MS, op);

  const results: Record<keyof typeof ops, number[]> = {
    rawDecrypt: [],
    clientDecrypt: [],
    rawEncrypt: [],
    clientEncrypt: [],
  };
  const ratios = { decrypt: [] as number[], encrypt: [] as number[] };
  for (let round = 1; round <= ROUNDS; round++) {
    const decrypt = measurePair(ROUND_MS, ops.rawDecrypt, ops.clientDecrypt);
    const encrypt = measurePair(ROUND_MS, ops.rawEncrypt, ops.clientEncrypt);
    results.rawDecrypt.push(decrypt.raw);
    results.clientDecrypt.push(decrypt.client);
    results.rawEncrypt.push(encrypt.raw);
    results.clientEncrypt.push(encrypt.client);
    ratios.decrypt.push(decrypt.client / decrypt.raw);
    ratios.encrypt.push(encrypt.client / encrypt.raw);
    console.log(
      `round ${round}: decrypt raw ${fmt(decrypt.raw)}/s client ${fmt(decrypt.client)}/s; ` +
        `encrypt raw ${fmt(encrypt.raw)}/s client ${fmt(encrypt.client)}/s`,
    );
  }
  await creds.close();
  if (sink < 0) console.log(sink);

  const m = Object.fromEntries(Object.entries(results).map(([k, v]) => [k, median(v)])) as Record<
    keyof typeof ops,
    number
  >;
  console.log(
    `raw node:crypto (the guide's functions): decrypt ${fmt(m.rawDecrypt)}/s, encrypt ${fmt(m.rawEncrypt)}/s`,
  );
  // The share of raw is the median of each round's own ratio (raw and client ran interleaved).
  const pct = (ratios: number[]) => Math.round(median(ratios) * 100);
  console.log(
    `client: decrypt ${fmt(m.clientDecrypt)}/s (${pct(ratios.decrypt)}% of raw), ` +
      `encrypt ${fmt(m.clientEncrypt)}/s (${pct(ratios.encrypt)}% of raw)`,
  );
}

await main();
