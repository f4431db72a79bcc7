import { parentPort, workerData } from "node:worker_threads";
import { Keyring, type KeyState } from "../crypto/keyring.js";
import { SecretKey } from "../crypto/secret-key.js";
import { decryptCiphertexts, reencryptCiphertexts } from "./reencrypt.js";
import type { WorkerData, WorkerKeyring, WorkerRequest } from "./reencrypt-workers.js";

function keyringOf(data: WorkerKeyring): Keyring {
  const keyring = new Keyring(
    data.environment,
    data.versions.map((v) => ({
      version: v.version,
      state: v.state as KeyState,
      legacy: v.legacy,
      key: SecretKey.fromBytes(Buffer.from(v.key.buffer, v.key.byteOffset, v.key.byteLength)),
    })),
  );
  // SecretKey copied the bytes: wipe the transferred ones.
  for (const v of data.versions) v.key.fill(0);
  return keyring;
}

const data = workerData as WorkerData;
let keyring = keyringOf(data.keyring);
const printKey = Buffer.from(data.printKey);
data.printKey.fill(0);

parentPort?.on("message", (request: WorkerRequest) => {
  try {
    if (request.op === "keyring") {
      keyring = keyringOf(request.keyring);
      return;
    }
    if (request.op === "decrypt") {
      const { plaintexts, lengths, prints } = decryptCiphertexts(
        keyring,
        request.target,
        request.ids,
        request.ciphertexts,
        request.prints ? printKey : undefined,
      );
      const transfer = [plaintexts.buffer as ArrayBuffer, lengths.buffer as ArrayBuffer];
      if (prints) transfer.push(prints.buffer as ArrayBuffer);
      parentPort?.postMessage({ id: request.id, plaintexts, lengths, prints }, transfer);
      return;
    }
    parentPort?.postMessage({
      id: request.id,
      ciphertexts: reencryptCiphertexts(keyring, request.target, request.ids, request.ciphertexts),
    });
  } catch (error) {
    if (request.op !== "keyring")
      parentPort?.postMessage({ id: request.id, error: (error as Error).message });
  }
});
