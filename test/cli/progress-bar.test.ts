import { PassThrough } from "node:stream";
import { describe, expect, it, vi } from "vitest";
import { createProgressBar, formatDuration, renderProgressLine } from "../../src/cli/progress-bar.js";

/** A stream that keeps what is written; `isTTY` says whether it pretends to be a terminal. */
function fakeStream(isTTY: boolean): { stream: NodeJS.WriteStream; written: () => string } {
  const stream = new PassThrough() as PassThrough & { isTTY?: boolean };
  if (isTTY) stream.isTTY = true;
  let text = "";
  stream.on("data", (chunk: Buffer) => {
    text += chunk.toString("utf8");
  });
  return { stream: stream as unknown as NodeJS.WriteStream, written: () => text };
}

describe("renderProgressLine", () => {
  it("shows 0% with no rate yet and no ETA", () => {
    expect(
      renderProgressLine({ phase: "reencrypt", done: 0, total: 200_000, rate: 0, etaSeconds: null }, 10),
    ).toBe("re-encrypt      ░░░░░░░░░░   0% 0/200,000 rows, 0 rows/s");
  });

  it("ends with what the phase waits for or how it paces itself", () => {
    expect(
      renderProgressLine(
        {
          phase: "reencrypt",
          done: 399,
          total: 400,
          rate: 200,
          etaSeconds: 0,
          note: "waiting on 1 locked row",
        },
        4,
      ),
    ).toBe("re-encrypt      ████  99% 399/400 rows, 200 rows/s, ETA 0s · waiting on 1 locked row");
  });

  it("shows a partial run with counts, rate and ETA", () => {
    expect(
      renderProgressLine(
        { phase: "reencrypt", done: 50_000, total: 200_000, rate: 45_000, etaSeconds: 3 },
        10,
      ),
    ).toBe("re-encrypt      ███░░░░░░░  25% 50,000/200,000 rows, 45,000 rows/s, ETA 3s");
    expect(
      renderProgressLine({ phase: "verify-before", done: 1234, total: 5000, rate: 250, etaSeconds: 125 }, 20),
    ).toBe("verify (before) █████░░░░░░░░░░░░░░░  24% 1,234/5,000 rows, 250 rows/s, ETA 2m05s");
    // The default width is 30 cells.
    const line = renderProgressLine({ phase: "verify", done: 1, total: 3, rate: 1, etaSeconds: 3725 });
    expect(line).toBe(
      `verify          ${"█".repeat(10)}${"░".repeat(20)}  33% 1/3 rows, 1 rows/s, ETA 1h02m`,
    );
  });

  it("shows a finished phase as a full bar at 100%, never above", () => {
    expect(
      renderProgressLine({ phase: "verify-after", done: 10, total: 10, rate: 10, etaSeconds: 0 }, 4),
    ).toBe("verify (after)  ████ 100% 10/10 rows, 10 rows/s, ETA 0s");
    expect(renderProgressLine({ phase: "seed", done: 12, total: 10, rate: 5, etaSeconds: 0 }, 4)).toBe(
      "seed            ████ 100% 12/10 rows, 5 rows/s, ETA 0s",
    );
  });

  it("shows an unknown rate (no ETA) and an empty table", () => {
    expect(renderProgressLine({ phase: "seed", done: 3, total: 12, rate: 0, etaSeconds: null }, 4)).toBe(
      "seed            █░░░  25% 3/12 rows, 0 rows/s",
    );
    expect(renderProgressLine({ phase: "seed", done: 0, total: 0, rate: 0, etaSeconds: null }, 2)).toBe(
      "seed            ██ 100% 0/0 rows, 0 rows/s",
    );
  });

  it("formats durations for people", () => {
    expect([0, 42, 60, 125, 3599, 3600, 3 * 3600 + 5 * 60].map((s) => formatDuration(s))).toEqual([
      "0s",
      "42s",
      "1m00s",
      "2m05s",
      "59m59s",
      "1h00m",
      "3h05m",
    ]);
  });
});

describe("createProgressBar", () => {
  it("writes nothing to a stream that is not a terminal", () => {
    const { stream, written } = fakeStream(false);
    const bar = createProgressBar(stream, 0);
    bar.update({ phase: "verify", done: 1, total: 2, rate: 1, etaSeconds: 1 });
    bar.update({ phase: "reencrypt", done: 2, total: 2, rate: 1, etaSeconds: 0 });
    bar.finish();
    expect(written()).toBe("");
  });

  it("redraws one line on a terminal at most once per interval, a new line per phase, a newline at the end", () => {
    const { stream, written } = fakeStream(true);
    let now = 1_000_000;
    const clock = vi.spyOn(performance, "now").mockImplementation(() => now);
    try {
      const bar = createProgressBar(stream, 100);
      const first = { phase: "verify-before", done: 1, total: 4, rate: 1, etaSeconds: 3 };
      const throttled = { ...first, done: 2, etaSeconds: 2 };
      const later = { ...first, done: 3, etaSeconds: 1 };
      const last = { ...first, done: 4, etaSeconds: 0 };
      const next = { phase: "reencrypt", done: 1, total: 4, rate: 1, etaSeconds: 3 };
      bar.update(first);
      now += 50;
      bar.update(throttled); // within the interval: skipped
      now += 100;
      bar.update(later);
      now += 1;
      bar.update(last); // the phase's end is always drawn
      now += 1;
      bar.update(next); // a new phase is always drawn, on a line of its own
      bar.finish();
      bar.finish(); // a second finish adds nothing
      const draw = (p: typeof first) => `\r${renderProgressLine(p)}\x1b[K`;
      expect(written()).toBe(`${draw(first)}${draw(later)}${draw(last)}\n${draw(next)}\n`);
    } finally {
      clock.mockRestore();
    }
  });
});
