import { describe, expect, it } from "vitest";
import { REQUESTER, SECURITY_CHANNEL, useTestBot } from "../support/bot.js";

const app = useTestBot({ rows: 50 });

describe("smoke", () => {
  it("posts a workflow message for /key-rotate", async () => {
    const { client, slack } = app();
    const response = await client.command("/key-rotate", "production quarterly", {
      userId: REQUESTER,
      channelId: SECURITY_CHANNEL,
    });
    expect(response.status).toBe(200);
    const post = await slack.waitFor(
      (c) => c.method === "chat.postMessage" && c.args.channel === SECURITY_CHANNEL,
      "the message",
    );
    expect(JSON.stringify(post.args.blocks)).toContain("Production key rotation");
  });
});
