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

/** How seeded rows are encrypted: a key (the guide's legacy format) or a function that seals a plaintext. */
export type RowSealer = SecretKey | ((plaintext: string) => string);

/** Fills "PlatformIntegration" with realistic rows, each sealed by `sealer` (a key: the legacy format). */
export async function seedPlatformIntegrations(
  pool: pg.Pool,
  sealer: RowSealer,
  options: SeedOptions,
): Promise<number> {
  const seal =
    typeof sealer === "function" ? sealer : (plaintext: string) => encryptLegacy(sealer, plaintext);
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
        rows.map((r) => seal(r.credentials)),
      ],
    );
    done += count;
    options.onProgress?.(done, options.rows);
  }
  return done;
}

export interface DemoSealer {
  seal: (plaintext: string) => string;
  version: number;
  fingerprint: string;
  /** "legacy" (the guide's `iv:tag:ct`) while the adopted legacy key is active, else "versioned". */
  format: "legacy" | "versioned";
}

/**
 * How the demo writes rows: with the environment's active version only, as the application does
 * (never a compromised, decrypt-only or retired one). While the adopted legacy key is the active
 * version, in the guide's legacy format (an environment with no versions adopts a fresh key first);
 * after a rotation, in the versioned format under the new active version.
 */
export async function demoSealer(keys: KeyStore, environment: Environment): Promise<DemoSealer> {
  if ((await keys.list(environment)).length === 0)
    await keys.adoptLegacyKey(environment, SecretKey.generate());
  const keyring = await keys.loadKeyring(environment);
  const active = keyring.activeVersion;
  const entry = keyring.versions.find((v) => v.version === active);
  if (active === null || !entry) {
    throw new RefusedError(
      `${environment} has no active key version to write with (keyops keys generate, then keyops keys activate)`,
    );
  }
  const { key, legacy } = entry;
  return legacy
    ? {
        seal: (plaintext) => encryptLegacy(key, plaintext),
        version: active,
        fingerprint: key.fingerprint,
        format: "legacy",
      }
    : {
        seal: (plaintext) => keyring.encrypt(plaintext),
        version: active,
        fingerprint: key.fingerprint,
        format: "versioned",
      };
}
