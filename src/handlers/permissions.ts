import type { Middleware, SlackCommandMiddlewareArgs } from "@slack/bolt";

/** Sensitive commands only in the configured channels (KEYOPS_ALLOWED_CHANNELS); anywhere when none. */
export function commandsOnlyIn(allowedChannels: string[]): Middleware<SlackCommandMiddlewareArgs> {
  return async ({ command, ack, next }) => {
    if (allowedChannels.length === 0 || allowedChannels.includes(command.channel_id)) {
      await next();
      return;
    }
    const where = allowedChannels.map((id) => `<#${id}>`).join(", ");
    await ack({ response_type: "ephemeral", text: `KeyOps commands work only in ${where}.` });
  };
}
