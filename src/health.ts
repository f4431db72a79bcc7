import type { Database } from "./db/database.js";
import type { RotationEngine } from "./engine/engine.js";
import { ENVIRONMENTS } from "./environments.js";

export interface HealthReport {
  ok: boolean;
  database: "ok" | "unreachable";
  /** Per environment with an active key: an encrypt/decrypt round trip. */
  encryption: Record<string, "healthy" | "unhealthy">;
  /** Live application instances holding a key that is not KeyOps's for its version (the guide's "mismatched key"). */
  mismatchedClients: string[];
}

/** /healthz: the database answers and every active key round-trips. Never names a key. */
export async function checkHealth(db: Database, engine: RotationEngine): Promise<HealthReport> {
  try {
    await db.pool.query("SELECT 1");
  } catch {
    return { ok: false, database: "unreachable", encryption: {}, mismatchedClients: [] };
  }
  const encryption: HealthReport["encryption"] = {};
  for (const environment of ENVIRONMENTS) {
    const versions = await engine.keys.list(environment).catch(() => null);
    if (versions === null) {
      encryption[environment] = "unhealthy";
      continue;
    }
    if (!versions.some((v) => v.state === "ACTIVE")) continue;
    encryption[environment] = (await engine.healthCheckEncryption(environment)).status;
  }
  const mismatchedClients: string[] = [];
  for (const environment of ENVIRONMENTS) {
    const found = await engine.mismatchedClients(environment).catch(() => []);
    mismatchedClients.push(...found.map((m) => `${environment}/${m.instance.instanceId}`));
  }
  const ok =
    Object.values(encryption).every((status) => status === "healthy") && mismatchedClients.length === 0;
  return { ok, database: "ok", encryption, mismatchedClients };
}
