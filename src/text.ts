/** Plain text cut to a length, for Slack and PagerDuty alike. */

export const ELLIPSIS = "…";

/** Cuts text to at most `max` characters, marking the cut; never splits a surrogate pair. */
export function truncate(text: string, max: number): string {
  if (text.length <= max) return text;
  return `${text.slice(0, cutBefore(text, Math.max(0, max - ELLIPSIS.length)))}${ELLIPSIS}`;
}

/** `cut`, moved back one when it would leave half a surrogate pair before it. */
export function cutBefore(text: string, cut: number): number {
  const code = text.charCodeAt(cut - 1);
  return cut > 0 && code >= 0xd800 && code <= 0xdbff ? cut - 1 : cut;
}
