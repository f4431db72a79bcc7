/**
 * Slack escapes a mention in command text as `<@U123|name>` (manifest: should_escape); workflows
 * name a person `@U123` and know nothing of Slack's markup (views/format.ts turns it back).
 */
export function personRefs(text: string): string {
  return text.replace(/<@([UW][A-Z0-9]{2,})(?:\|[^<>]*)?>/g, "@$1");
}
