import { describe, expect, it } from "vitest";
import { personRefs } from "../../src/handlers/commands/person-refs.js";
import { plainMentions, safeMrkdwn, slackMentions } from "../../src/views/format.js";

describe("people named by the workflows", () => {
  it("@U123 (how workflows name a person) becomes a mention only in the views", () => {
    expect(slackMentions("revoked @U0LEAVER's access to production")).toBe(
      "revoked <@U0LEAVER>'s access to production",
    );
    expect(slackMentions("@W0ENTERPR had no grants")).toBe("<@W0ENTERPR> had no grants");
    // Slack's own mention, an email, a lower-case handle and @here stay as they are.
    expect(slackMentions("<@U0ALICE> ona@U0EXAMPLE.com @alice @here")).toBe(
      "<@U0ALICE> ona@U0EXAMPLE.com @alice @here",
    );
    expect(safeMrkdwn("Offboarding @U0LEAVER <!channel>")).toBe("Offboarding <@U0LEAVER> &lt;!channel&gt;");
    expect(plainMentions(slackMentions("Offboarding @U0LEAVER"))).toBe("Offboarding @U0LEAVER");
  });

  it("Slack's escaped mention in command text reaches the workflows as @U123, and comes back as a mention", () => {
    expect(personRefs("<@U0LEAVER|leaver> 2026-12-05")).toBe("@U0LEAVER 2026-12-05");
    expect(personRefs("<@W0ENTERPR>")).toBe("@W0ENTERPR");
    expect(slackMentions(personRefs("<@U0LEAVER|leaver> and <@U0OTHER>"))).toBe("<@U0LEAVER> and <@U0OTHER>");
  });
});
