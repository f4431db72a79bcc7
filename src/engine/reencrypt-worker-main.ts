import { parentPort, workerData } from "node:worker_threads";
import { Keyring, type KeyState } from "../crypto/keyring.js";
import { SecretKey } from "../crypto/secret-key.js";
import { reencryptCiphertexts } from "./reencrypt.js";
import type { WorkerKeyring } from "./reencrypt-workers.js";

const data = workerData as WorkerKeyring;
const keyring = new Keyring(
  data.environment,
  data.versions.map((v) => ({
    version: v.version,
    state: v.state as KeyState,
    legacy: v.legacy,
    key: SecretKey.fromBytes(Buffer.from(v.key.buffer, v.key.byteOffset, v.key.byteLength)),
  })),
);

parentPort?.on(
  "message",
  ({ id, ids, ciphertexts }: { id: number; ids: string[]; ciphertexts: string[] }) => {
    try {
      parentPort?.postMessage({
        id,
        ciphertexts: reencryptCiphertexts(keyring, data.target, ids, ciphertexts),
      });
    } catch (error) {
      parentPort?.postMessage({ id, error: (error as Error).message });
    }
  },
);
// SecretKey copied the bytes: wipe the transferred ones.
for (const v of data.versions) v.key.fill(0);
