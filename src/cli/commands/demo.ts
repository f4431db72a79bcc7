import { demoSealer, seedPlatformIntegrations } from "../../demo/seed.js";
import { RefusedError } from "../../errors.js";
import { parsePositiveInteger } from "../args.js";
import { type Command, print, progressOf } from "../command.js";

export const demoSeed: Command = {
  path: ["demo", "seed"],
  usage: "keyops demo seed --rows N [--env E] [--json]",
  summary: "fill PlatformIntegration with N realistic rows under the active version",
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
    const sealer = await demoSealer(engine.keys, context.environment);
    const bar = progressOf(context);
    const started = performance.now();
    await seedPlatformIntegrations(pool, sealer.seal, {
      rows,
      onProgress: (done, total) => {
        const seconds = (performance.now() - started) / 1000;
        const rate = seconds > 0 ? Math.round(done / seconds) : 0;
        bar.update({
          phase: "seed",
          done,
          total,
          rate,
          etaSeconds: rate > 0 ? Math.round((total - done) / rate) : null,
        });
      },
    });
    bar.finish();
    print(
      context,
      {
        environment: context.environment,
        rows,
        keyVersion: sealer.version,
        keyFingerprint: sealer.fingerprint,
        format: sealer.format,
      },
      `seeded ${rows} PlatformIntegration rows for ${context.environment} ` +
        (sealer.format === "legacy"
          ? `in the legacy format (key ${sealer.fingerprint})`
          : `under the active version v${sealer.version} (key ${sealer.fingerprint})`),
    );
    return 0;
  },
};
