// The Slack stand-in of bench/ack.ts in its own process, so that answering the app's Web API
// calls does not share the measured app's event loop. Prints its URL, then serves until killed.
import { SlackStandin } from "../test/support/slack/standin.js";

const standin = await SlackStandin.start();
standin.setUser("U0BENCH0", { tz: "Europe/Berlin" });
process.stdout.write(`${standin.url}\n`);
process.on("SIGTERM", () => {
  standin.close().finally(() => process.exit(0));
});
