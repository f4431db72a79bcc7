import { PassThrough } from "node:stream";
import { describe, expect, it } from "vitest";
import { createProgressBar, formatDuration, renderProgressLine } from "../../src/cli/progress-bar.js";

describe("progress bar", () => {
  it("renders phase, bar, percentage, counts, rate and ETA as one line", () => {
    expect(
      renderProgressLine({ phase: "reencrypt", done: 0, total: 200_000, rate: 0, etaSeconds: null }, 10),
    ).toBe("re-encrypt      ░░░░░░░░░░   0% 0/200,000 rows, 0 rows/s");
    expect(
      renderProgressLine(
        { phase: "reencrypt", done: 50_000, total: 200_000, rate: 45_000, etaSeconds: 3 },
        10,
      ),
    ).toBe("re-encrypt      ███░░░░░░░  25% 50,000/200,000 rows, 45,000 rows/s, ETA 3s");
    expect(
      renderProgressLine({ phase: "verify-after", done: 10, total: 10, rate: 10, etaSeconds: 0 }, 4),
    ).toBe("verify (after)  ████ 100% 10/10 rows, 10 rows/s, ETA 0s");
    expect(renderProgressLine({ phase: "seed", done: 0, total: 0, rate: 0, etaSeconds: null }, 2)).toBe(
      "seed            ██ 100% 0/0 rows, 0 rows/s",
    );
  });

  it("formats durations for people", () => {
    expect([formatDuration(42), formatDuration(125), formatDuration(3 * 3600 + 5 * 60)]).toEqual([
      "42s",
      "2m05s",
      "3h05m",
    ]);
  });

  it("writes nothing when the stream is not a terminal", () => {
    const stream = new PassThrough() as unknown as NodeJS.WriteStream;
    let written = "";
    (stream as unknown as PassThrough).on("data", (chunk) => {
      written += chunk;
    });
    const bar = createProgressBar(stream);
    bar.update({ phase: "verify", done: 1, total: 2, rate: 1, etaSeconds: 1 });
    bar.finish();
    expect(written).toBe("");
  });
});
