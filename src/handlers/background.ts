/**
 * Work that follows an ack, a few at a time. Under a burst of commands, starting every workflow
 * at once makes them all compete with new requests for the one event loop; a short queue keeps
 * acks quick and finishes the same work in the same time.
 */
export function backgroundQueue(concurrency: number) {
  let running = 0;
  const waiting: (() => void)[] = [];
  return async function run<T>(work: () => Promise<T>): Promise<T> {
    if (running >= concurrency) await new Promise<void>((resolve) => waiting.push(resolve));
    running += 1;
    try {
      return await work();
    } finally {
      running -= 1;
      waiting.shift()?.();
    }
  };
}
