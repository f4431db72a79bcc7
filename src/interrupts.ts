/** A signal to the process group can arrive twice at once: directly, and relayed by tsx or npm. */
const SAME_SIGNAL_MS = 1000;

/**
 * Calls `first` on the first of `signals`; the same signal again within a second is that one
 * arriving twice and is ignored, a later one exits at once with `exitCode(signal)`. Returns the
 * function that removes the handlers.
 */
export function onInterrupt(
  first: (signal: NodeJS.Signals) => void,
  {
    signals = ["SIGINT", "SIGTERM"],
    exitCode,
  }: { signals?: NodeJS.Signals[]; exitCode: (signal: NodeJS.Signals) => number },
): () => void {
  let firstAt: number | undefined;
  const handle = (signal: NodeJS.Signals) => {
    if (firstAt === undefined) {
      firstAt = performance.now();
      first(signal);
    } else if (performance.now() - firstAt > SAME_SIGNAL_MS) {
      process.exit(exitCode(signal));
    }
  };
  for (const signal of signals) process.on(signal, handle);
  return () => {
    for (const signal of signals) process.off(signal, handle);
  };
}
