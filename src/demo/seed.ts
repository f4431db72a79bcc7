import { randomBytes, randomInt } from "node:crypto";
import type pg from "pg";
import { encrypt } from "../crypto/aes-gcm.js";
import { SecretKey } from "../crypto/secret-key.js";
import type { KeyStore } from "../engine/key-store.js";
import type { Environment } from "../environments.js";
import { RefusedError } from "../errors.js";

export interface SeedOptions {
  rows: number;
  /** Rows per INSERT statement. */
  batchSize?: number;
  onProgress?: (done: number, total: number) => void;
}

/** The guide's format, `iv:authTag:ciphertext` in hex, as the existing API writes it. */
export function encryptLegacy(key: SecretKey, plaintext: string): string {
  const parts = encrypt(key, plaintext);
  return `${parts.iv.toString("hex")}:${parts.tag.toString("hex")}:${parts.data.toString("hex")}`;
}

const STORES = ["Acme", "Blue Fern", "Northwind", "Copper Kettle", "Lumen", "Tidewater", "Atlas", "Juniper"];
const KINDS = ["Outfitters", "Supply Co.", "Goods", "Market", "Studio", "Provisions"];

function hex(bytes: number): string {
  return randomBytes(bytes).toString("hex");
}

/** A plausible but fake credential set for one integration. */
export function fakeIntegration(index: number): {
  id: string;
  platform: "SHOPIFY" | "AMAZON";
  displayName: string;
  credentials: string;
} {
  const name = `${STORES[randomInt(STORES.length)]} ${KINDS[randomInt(KINDS.length)]} ${index}`;
  const id = `demo_${randomBytes(12).toString("base64url")}`;
  if (index % 3 === 2) {
    return {
      id,
      platform: "AMAZON",
      displayName: name,
      credentials: JSON.stringify({
        sellerId: `A${hex(6).toUpperCase()}`,
        marketplaceId: "ATVPDKIKX0DER",
        clientId: `amzn1.application-oa2-client.${hex(16)}`,
        clientSecret: `amzn1.oa2-cs.v1.${hex(32)}`,
        refreshToken: `Atzr|${randomBytes(48).toString("base64url")}`,
        region: "us-east-1",
      }),
    };
  }
  return {
    id,
    platform: "SHOPIFY",
    displayName: name,
    credentials: JSON.stringify({
      shopDomain: `${name.toLowerCase().replace(/[^a-z0-9]+/g, "-")}.myshopify.com`,
      accessToken: `shpat_${hex(16)}`,
      scope: "read_products,write_products,read_orders",
    }),
  };
}

/** Fills "PlatformIntegration" with realistic rows encrypted in the legacy format under `legacyKey`. */
export async function seedPlatformIntegrations(
  pool: pg.Pool,
  legacyKey: SecretKey,
  options: SeedOptions,
): Promise<number> {
  const batchSize = options.batchSize ?? 5000;
  let done = 0;
  while (done < options.rows) {
    const count = Math.min(batchSize, options.rows - done);
    const rows = Array.from({ length: count }, (_, i) => fakeIntegration(done + i + 1));
    await pool.query(
      `INSERT INTO "PlatformIntegration" ("id", "platform", "displayName", "credentials", "updatedAt")
       SELECT id, platform::"Platform", name, credentials, now() - (random() * interval '30 days')
         FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) AS r(id, platform, name, credentials)`,
      [
        rows.map((r) => r.id),
        rows.map((r) => r.platform),
        rows.map((r) => r.displayName),
        rows.map((r) => encryptLegacy(legacyKey, r.credentials)),
      ],
    );
    done += count;
    options.onProgress?.(done, options.rows);
  }
  return done;
}

/**
 * The key the demo writes legacy rows with: the environment's adopted legacy key, or, for an
 * environment with no versions yet, a fresh key adopted as its legacy version 1.
 */
export async function demoLegacyKey(keys: KeyStore, environment: Environment): Promise<SecretKey> {
  let keyring = await keys.loadKeyring(environment);
  if (keyring.versions.length === 0 && (await keys.list(environment)).length === 0) {
    await keys.adoptLegacyKey(environment, SecretKey.generate());
    keyring = await keys.loadKeyring(environment);
  }
  const legacy = keyring.legacyVersion === null ? undefined : keyring.keyFor(keyring.legacyVersion);
  const retired = (await keys.list(environment)).find((v) => v.legacy && v.state === "RETIRED");
  if (!legacy && retired) {
    throw new RefusedError(
      `the legacy version v${retired.version} of ${environment} is retired, and the demo writes the guide's ` +
        "legacy format with it: seed another environment, or start from a fresh KEYOPS_DATA_DIR",
    );
  }
  if (!legacy) {
    throw new RefusedError(
      `${environment} has no legacy key version to write the guide's format with (set ENCRYPTION_KEY before its first start)`,
    );
  }
  return legacy;
}
