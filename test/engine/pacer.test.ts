import { describe, expect, it } from "vitest";
import type { Progress } from "../../src/engine/progress.js";
import { AdaptivePacer, ProgressMeter } from "../../src/engine/progress.js";

function pacer() {
  const events: Progress[] = [];
  const meter = new ProgressMeter("reencrypt", 100_000, (p) => events.push(p));
  return { pacer: new AdaptivePacer(meter), meter, events };
}

async function pauseOf(p: AdaptivePacer): Promise<number> {
  const started = performance.now();
  await p.take(1000);
  return performance.now() - started;
}

describe("--max-rows-per-second auto", () => {
  it("runs at full speed while batches write as fast as the best seen", async () => {
    const { pacer: p, meter, events } = pacer();
    for (const ms of [20, 22, 19, 21, 24]) p.observe(1000, ms);
    expect(await pauseOf(p)).toBeLessThan(15);
    meter.add(1000);
    expect(events.at(-1)?.note).toBeUndefined();
  });

  it("backs off when the database slows, says so in the progress line, and recovers", async () => {
    const { pacer: p, meter, events } = pacer();
    for (const ms of [20, 20, 20]) p.observe(1000, ms);
    for (const ms of [120, 140, 160]) p.observe(1000, ms); // the application's load arrives
    expect(await pauseOf(p)).toBeGreaterThanOrEqual(150);
    meter.add(1000);
    expect(events.at(-1)?.note).toMatch(
      /^auto: backing off \(the database is \d+\.\dx slower than at its best; rotating at \d+% speed\)$/,
    );
    for (let i = 0; i < 20; i++) p.observe(1000, 20); // and goes away
    expect(await pauseOf(p)).toBeLessThan(15);
    meter.add(1000);
    expect(events.at(-1)?.note).toBeUndefined();
  });
});
