import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { definitionOf } from "../../src/workflows/definitions/index.js";
import { REQUESTER, SECURITY_CHANNEL, startTestBot, type TestBot } from "../support/bot.js";

let app: TestBot;

beforeAll(async () => {
  app = await startTestBot({ rows: 5 });
});

afterAll(async () => {
  await app?.stop();
});

describe("two copies of one start", () => {
  it("the copy that finds the open workflow its twin just started returns it, never refuses it as already open", async () => {
    const definition = definitionOf("quarterly-maintenance");
    const inputs = definition.schedule?.inputs({
      kind: "quarter",
      at: new Date(),
      timeZone: "Europe/Berlin",
    });
    if (!inputs) throw new Error("quarterly maintenance has no schedule");
    const start = () =>
      app.bot.service.start({
        kind: definition.kind,
        inputs,
        requestedBy: REQUESTER,
        channelId: SECURITY_CHANNEL,
        requestKey: "schedule:race",
      });
    // The first copy looks for its request key (nothing yet), then waits on Slack for the
    // requester's zone; meanwhile the second copy starts the workflow and commits it.
    const held = app.slack.holdNext("users.info");
    const first = start();
    await held.arrived;
    const second = await start();
    held.release();
    expect(second.created).toBe(true);
    await expect(first).resolves.toMatchObject({ created: false, workflow: { id: second.workflow.id } });
    // A start of the same period under another request is still refused while that one is open.
    await expect(
      app.bot.service.start({
        kind: definition.kind,
        inputs,
        requestedBy: REQUESTER,
        channelId: SECURITY_CHANNEL,
        requestKey: "schedule:another",
      }),
    ).rejects.toThrow(/is already open for/);
  });
});
