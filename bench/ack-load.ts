// The load generator of bench/ack.ts, in its own process so that it does not share the app's
// event loop: sends signed /key-rotate commands and prints the sorted latencies as JSON.
import { SlackClient } from "../test/support/slack/signed-requests.js";

const [url = "", signingSecret = "", total = "0", concurrency = "1"] = process.argv.slice(2);
const client = new SlackClient({ url, signingSecret });
const latencies: number[] = [];
let next = 0;
const worker = async () => {
  while (next < Number(total)) {
    const i = next++;
    const started = performance.now();
    const response = await client.command("/key-rotate", `staging bench ${i}`, {
      userId: `U0BENCH${i % 20}`,
      channelId: "C0BENCH",
    });
    latencies.push(performance.now() - started);
    if (response.status !== 200) throw new Error(`request ${i}: HTTP ${response.status}`);
  }
};
await Promise.all(Array.from({ length: Number(concurrency) }, worker));
process.stdout.write(JSON.stringify(latencies.sort((a, b) => a - b)));
