import type { WebClient } from "@slack/web-api";
import type { AlertChannel } from "../alerts/client-alerts.js";

/** The guide's alerts as plain lines in the security channel (KEYOPS_ALERT_CHANNEL). */
export function slackAlertChannel(client: WebClient, channel: string): AlertChannel {
  return {
    async post(text) {
      await client.chat.postMessage({ channel, text, unfurl_links: false });
    },
  };
}
