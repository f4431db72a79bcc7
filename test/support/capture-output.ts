import { recordOutput } from "./artifacts.js";

// Tee every write of this test worker (console and raw streams) into the output record.
for (const stream of [process.stdout, process.stderr]) {
  const original = stream.write.bind(stream) as (...args: unknown[]) => boolean;
  stream.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
    recordOutput(chunk);
    return original(chunk, ...rest);
  }) as typeof stream.write;
}
for (const method of ["log", "info", "warn", "error", "debug"] as const) {
  const original = console[method].bind(console);
  console[method] = (...args: unknown[]) => {
    recordOutput(`${args.map(String).join(" ")}\n`);
    original(...args);
  };
}
