import type { Pager } from "../workflows/pager.js";

/** Not a delivery: who is on call is a look-up, and `enabled` is no call at all. */
const NOT_DELIVERIES = new Set<PropertyKey>(["onCall", "enabled", "constructor"]);

/**
 * The same pager, each failed send counted (every try: the caller's retries call it again).
 * Every method but onCall is a delivery, so a send added to Pager later is counted too.
 */
export function countDeliveryFailures<P extends Pager>(pager: P, failed: (operation: string) => void): P {
  return new Proxy(pager, {
    get(target, property) {
      const value = Reflect.get(target, property, target) as unknown;
      if (typeof value !== "function" || NOT_DELIVERIES.has(property)) return value;
      return async (...args: unknown[]) => {
        try {
          return await (value as (...a: unknown[]) => Promise<unknown>).apply(target, args);
        } catch (error) {
          failed(String(property));
          throw error;
        }
      };
    },
  });
}
