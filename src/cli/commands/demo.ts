import { demoLegacyKey, seedPlatformIntegrations } from "../../demo/seed.js";
import { RefusedError } from "../../errors.js";
import { parsePositiveInteger } from "../args.js";
import { type Command, print } from "../command.js";
import { createProgressBar } from "../progress-bar.js";

export const demoSeed: Command = {
  path: ["demo", "seed"],
  usage: "keyops demo seed --rows N [--env E] [--json]",
  summary: "fill PlatformIntegration with N realistic rows in the legacy format",
  options: { rows: { type: "string" } },
  async run(context) {
    const rows = parsePositiveInteger(context.values.rows as string | undefined, "--rows", 10_000_000);
    const { engine } = await context.runtime();
    const pool = engine.guideTablePool(context.environment);
    if (!pool) {
      throw new RefusedError(
        `${context.environment} has no "PlatformIntegration" table to seed (KEYOPS_TARGET_DATABASE_URL_${context.environment.toUpperCase()})`,
      );
    }
    const key = await demoLegacyKey(engine.keys, context.environment);
    const bar = context.json ? undefined : createProgressBar(context.io.stderr);
    const started = performance.now();
    await seedPlatformIntegrations(pool, key, {
      rows,
      onProgress: (done, total) => {
        const seconds = (performance.now() - started) / 1000;
        const rate = seconds > 0 ? Math.round(done / seconds) : 0;
        bar?.update({
          phase: "seed",
          done,
          total,
          rate,
          etaSeconds: rate > 0 ? Math.round((total - done) / rate) : null,
        });
      },
    });
    bar?.finish();
    print(
      context,
      { environment: context.environment, rows, keyFingerprint: key.fingerprint, format: "legacy" },
      `seeded ${rows} PlatformIntegration rows for ${context.environment} in the legacy format (key ${key.fingerprint})`,
    );
    return 0;
  },
};
