/**
 * Block Kit to HTML for the sandbox page: messages, modals and the App Home as Slack shows them.
 * Plain functions, no dependencies. Interactive elements carry what the page needs to send the
 * interaction back (data-action-id, data-block-id, data-value); anything this renderer does not
 * know becomes a visible placeholder naming its type (`data-unknown-type`), never nothing.
 */

type Json = Record<string, unknown>;

/** Who and what the text refers to: `<@U…>` shows the person's name, `<#C…>` the channel's. */
export interface RenderContext {
  users: Record<string, string>;
  channels: Record<string, string>;
  /** The people a users_select offers. */
  members: string[];
}

/** The attribute every placeholder carries; a page or test finds unknown types by it. */
export const UNKNOWN_MARK = "data-unknown-type";

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function placeholder(kind: "block" | "element" | "text", type: unknown): string {
  const name = typeof type === "string" && type ? type : "(no type)";
  return `<span class="bk-unknown" ${UNKNOWN_MARK}="${escapeHtml(name)}">unsupported ${kind}: ${escapeHtml(name)}</span>`;
}

const asObject = (value: unknown): Json | undefined =>
  typeof value === "object" && value !== null && !Array.isArray(value) ? (value as Json) : undefined;
const asArray = (value: unknown): unknown[] => (Array.isArray(value) ? value : []);
const asString = (value: unknown): string => (typeof value === "string" ? value : "");

/** Slack's `&amp;`, `&lt;` and `&gt;` are HTML's too; any other `&` is escaped. */
function slackEscapedToHtml(text: string): string {
  return text.replace(/&(?!(amp|lt|gt);)/g, "&amp;").replace(/[<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

const utc = (options: Intl.DateTimeFormatOptions) =>
  new Intl.DateTimeFormat("en-US", { timeZone: "UTC", hourCycle: "h23", ...options });
const LONG_DATE = utc({ month: "long", day: "numeric", year: "numeric" });
const SHORT_DATE = utc({ month: "short", day: "numeric", year: "numeric" });
const WEEKDAY_DATE = utc({ weekday: "long", month: "long", day: "numeric", year: "numeric" });
const TIME = utc({ hour: "2-digit", minute: "2-digit" });
const TIME_SECONDS = utc({ hour: "2-digit", minute: "2-digit", second: "2-digit" });
const DATE_TOKENS: Record<string, (at: Date) => string> = {
  date_num: (at) => at.toISOString().slice(0, 10),
  date: (at) => LONG_DATE.format(at),
  date_short: (at) => SHORT_DATE.format(at),
  date_long: (at) => WEEKDAY_DATE.format(at),
  date_pretty: (at) => LONG_DATE.format(at),
  date_short_pretty: (at) => SHORT_DATE.format(at),
  date_long_pretty: (at) => WEEKDAY_DATE.format(at),
  time: (at) => `${TIME.format(at)} UTC`,
  time_secs: (at) => `${TIME_SECONDS.format(at)} UTC`,
};

/** `<!date^<seconds>^<format>|fallback>`, in UTC: Slack shows the reader's own zone. */
function dateHtml(target: string, fallback: string | undefined): string {
  const [, seconds = "", format = ""] = target.split("^");
  const at = new Date(Number(seconds) * 1000);
  if (!seconds || Number.isNaN(at.getTime())) return slackEscapedToHtml(fallback ?? "");
  return escapeHtml(format.replace(/\{(\w+)\}/g, (token, name: string) => DATE_TOKENS[name]?.(at) ?? token));
}

/** `<@U1>`, `<#C1|name>`, `<!here>`, `<!date^…|fallback>`, `<https://…|label>`. */
function special(inner: string, ctx: RenderContext): string {
  const [target = "", label] = inner.split("|", 2) as [string, string | undefined];
  if (target.startsWith("@")) {
    const id = target.slice(1);
    return `<span class="bk-mention">@${escapeHtml(ctx.users[id] ?? label ?? id)}</span>`;
  }
  if (target.startsWith("#")) {
    const id = target.slice(1);
    return `<span class="bk-mention">#${escapeHtml(ctx.channels[id] ?? label ?? id)}</span>`;
  }
  if (target.startsWith("!")) {
    if (target.startsWith("!date")) return dateHtml(target, label);
    const name = target.slice(1).replace(/^subteam\^/, "");
    return `<span class="bk-mention">@${escapeHtml(label ?? name)}</span>`;
  }
  const href = target.replace(/&amp;/g, "&");
  if (!/^(https?|mailto):/i.test(href)) return slackEscapedToHtml(label ?? target);
  return `<a href="${escapeHtml(href)}" target="_blank" rel="noopener">${slackEscapedToHtml(label ?? target)}</a>`;
}

/** One run of mrkdwn without code: *bold*, _italic_, ~strike~ and the `<…>` specials. */
function inline(text: string, ctx: RenderContext): string {
  const parts: string[] = [];
  let last = 0;
  for (const match of text.matchAll(/<([^<>]+)>/g)) {
    parts.push(emphasis(slackEscapedToHtml(text.slice(last, match.index))));
    parts.push(special(match[1] ?? "", ctx));
    last = (match.index ?? 0) + match[0].length;
  }
  parts.push(emphasis(slackEscapedToHtml(text.slice(last))));
  return parts.join("");
}

/** `*b*`, `_i_`, `~s~`: opened after a space or start, closed before a space, punctuation or end. */
const around = (mark: string) =>
  new RegExp(`(^|[\\s(])\\${mark}([^\\s${mark}](?:[^\\n]*?[^\\s])?)\\${mark}(?=$|[\\s.,;:!?)&])`, "g");
const BOLD = around("*");
const ITALIC = around("_");
const STRIKE = around("~");

function emphasis(html: string): string {
  if (!/[*_~]/.test(html)) return html;
  return html.replace(BOLD, "$1<b>$2</b>").replace(ITALIC, "$1<i>$2</i>").replace(STRIKE, "$1<s>$2</s>");
}

/** Slack's mrkdwn: code blocks, inline code, quotes, emphasis, mentions and links; newlines kept. */
export function mrkdwnToHtml(text: string, ctx: RenderContext): string {
  const out: string[] = [];
  const blocks = text.split("```");
  blocks.forEach((chunk, index) => {
    if (index % 2 === 1 && index < blocks.length - 1) {
      out.push(`<pre class="bk-pre">${slackEscapedToHtml(chunk.replace(/^\n|\n$/g, ""))}</pre>`);
      return;
    }
    const lines = (index % 2 === 1 ? `\`\`\`${chunk}` : chunk).split("\n").map((line) => {
      const quoted = /^(&gt;|>)\s?/.exec(line);
      const body = quoted ? line.slice(quoted[0].length) : line;
      const html = body
        .split("`")
        .map((piece, i, all) =>
          i % 2 === 1 && i < all.length - 1
            ? `<code>${slackEscapedToHtml(piece)}</code>`
            : inline(i % 2 === 1 ? `\`${piece}` : piece, ctx),
        )
        .join("");
      return quoted ? `<span class="bk-quote">${html}</span>` : html;
    });
    out.push(lines.join("<br>"));
  });
  return out.join("");
}

/** A text object: mrkdwn or plain_text. */
export function textToHtml(value: unknown, ctx: RenderContext): string {
  const text = asObject(value);
  if (!text) return "";
  if (text.type === "mrkdwn") return mrkdwnToHtml(asString(text.text), ctx);
  if (text.type === "plain_text") return escapeHtml(asString(text.text)).replace(/\n/g, "<br>");
  return placeholder("text", text.type);
}

function dataAttributes(attributes: Record<string, string | undefined>): string {
  return Object.entries(attributes)
    .filter(([, value]) => value !== undefined)
    .map(([name, value]) => ` data-${name}="${escapeHtml(value ?? "")}"`)
    .join("");
}

function confirmAttributes(confirm: unknown, ctx: RenderContext): string {
  const c = asObject(confirm);
  if (!c) return "";
  return dataAttributes({
    "confirm-title": asString(asObject(c.title)?.text),
    "confirm-text": textToHtml(c.text, ctx),
    "confirm-yes": asString(asObject(c.confirm)?.text) || "Confirm",
    "confirm-no": asString(asObject(c.deny)?.text) || "Cancel",
  });
}

function option(o: unknown, selected: string | undefined): string {
  const opt = asObject(o) ?? {};
  const value = asString(opt.value);
  return `<option value="${escapeHtml(value)}"${value === selected ? " selected" : ""}>${escapeHtml(asString(asObject(opt.text)?.text))}</option>`;
}

/** An interactive or display element, in an actions block, a context, an accessory or an input. */
export function elementToHtml(value: unknown, ctx: RenderContext, blockId: string | undefined): string {
  const e = asObject(value) ?? {};
  const ids = { "block-id": blockId, "action-id": asString(e.action_id) || undefined };
  switch (e.type) {
    case "mrkdwn":
    case "plain_text":
      return `<span class="bk-context-text">${textToHtml(e, ctx)}</span>`;
    case "image":
      return `<img class="bk-image" src="${escapeHtml(asString(e.image_url))}" alt="${escapeHtml(asString(e.alt_text))}">`;
    case "button": {
      const style = e.style === "primary" || e.style === "danger" ? ` bk-${e.style}` : "";
      const attributes = dataAttributes({ ...ids, type: "button", value: asString(e.value) || undefined });
      return `<button type="button" class="bk-button${style}"${attributes}${confirmAttributes(e.confirm, ctx)}>${escapeHtml(asString(asObject(e.text)?.text))}</button>`;
    }
    case "users_select": {
      const initial = asString(e.initial_user) || undefined;
      const people = ctx.members
        .map((id) => [id, ctx.users[id] ?? id] as const)
        .map(
          ([id, name]) =>
            `<option value="${escapeHtml(id)}"${id === initial ? " selected" : ""}>${escapeHtml(name)}</option>`,
        )
        .join("");
      const prompt = escapeHtml(asString(asObject(e.placeholder)?.text) || "Select a person");
      return `<select class="bk-select"${dataAttributes({ ...ids, type: "users_select" })}><option value=""${initial ? "" : " selected"} disabled>${prompt}</option>${people}</select>`;
    }
    case "static_select": {
      const initial = asString(asObject(asObject(e.initial_option))?.value) || undefined;
      const prompt = escapeHtml(asString(asObject(e.placeholder)?.text) || "Select");
      const options = asArray(e.options)
        .map((o) => option(o, initial))
        .join("");
      return `<select class="bk-select"${dataAttributes({ ...ids, type: "static_select" })}><option value=""${initial ? "" : " selected"} disabled>${prompt}</option>${options}</select>`;
    }
    case "plain_text_input": {
      const initial = escapeHtml(asString(e.initial_value));
      const limits = `${typeof e.max_length === "number" ? ` maxlength="${e.max_length}"` : ""}${typeof e.min_length === "number" ? ` minlength="${e.min_length}"` : ""}`;
      const prompt = escapeHtml(asString(asObject(e.placeholder)?.text));
      const attributes = `class="bk-input"${dataAttributes({ ...ids, type: "plain_text_input" })}${limits} placeholder="${prompt}"`;
      return e.multiline === true
        ? `<textarea ${attributes} rows="3">${initial}</textarea>`
        : `<input type="text" ${attributes} value="${initial}">`;
    }
    default:
      return placeholder("element", e.type);
  }
}

/** One block; an `errors` entry for an input block shows under it, as Slack shows it. */
export function blockToHtml(value: unknown, ctx: RenderContext, errors: Record<string, string> = {}): string {
  const b = asObject(value) ?? {};
  const blockId = asString(b.block_id) || undefined;
  switch (b.type) {
    case "header":
      return `<div class="bk-header">${textToHtml(b.text, ctx)}</div>`;
    case "divider":
      return `<hr class="bk-divider">`;
    case "section": {
      const text = b.text ? `<div class="bk-text">${textToHtml(b.text, ctx)}</div>` : "";
      const fields = asArray(b.fields).length
        ? `<div class="bk-fields">${asArray(b.fields)
            .map((f) => `<div class="bk-field">${textToHtml(f, ctx)}</div>`)
            .join("")}</div>`
        : "";
      const accessory = b.accessory
        ? `<div class="bk-accessory">${elementToHtml(b.accessory, ctx, blockId)}</div>`
        : "";
      return `<div class="bk-section"><div class="bk-section-body">${text}${fields}</div>${accessory}</div>`;
    }
    case "context":
      return `<div class="bk-context">${asArray(b.elements)
        .map((e) => elementToHtml(e, ctx, blockId))
        .join("")}</div>`;
    case "actions":
      return `<div class="bk-actions">${asArray(b.elements)
        .map((e) => elementToHtml(e, ctx, blockId))
        .join("")}</div>`;
    case "image":
      return `<div class="bk-image-block">${elementToHtml({ ...b, type: "image" }, ctx, blockId)}</div>`;
    case "input": {
      const error = blockId ? errors[blockId] : undefined;
      const optional = b.optional === true ? ` <span class="bk-optional">(optional)</span>` : "";
      const hint = b.hint ? `<div class="bk-hint">${textToHtml(b.hint, ctx)}</div>` : "";
      return (
        `<div class="bk-input-block${error ? " bk-has-error" : ""}"${dataAttributes({ "block-id": blockId })}>` +
        `<label class="bk-label">${textToHtml(b.label, ctx)}${optional}</label>` +
        elementToHtml(b.element, ctx, blockId) +
        (error ? `<div class="bk-error" role="alert">${escapeHtml(error)}</div>` : "") +
        `${hint}</div>`
      );
    }
    default:
      return `<div class="bk-block">${placeholder("block", b.type)}</div>`;
  }
}

export function blocksToHtml(blocks: unknown, ctx: RenderContext, errors?: Record<string, string>): string {
  return asArray(blocks)
    .map((b) => blockToHtml(b, ctx, errors))
    .join("");
}

/** A message's body: its blocks, or its text (mrkdwn) when it has none. */
export function messageBodyToHtml(
  message: { text?: string; blocks?: unknown[] },
  ctx: RenderContext,
): string {
  if (message.blocks && message.blocks.length > 0) return blocksToHtml(message.blocks, ctx);
  return `<div class="bk-text">${mrkdwnToHtml(message.text ?? "", ctx)}</div>`;
}

/** A modal as Slack draws it: title, blocks with their field errors, Close and Submit. */
export function modalToHtml(view: unknown, ctx: RenderContext, errors: Record<string, string> = {}): string {
  const v = asObject(view) ?? {};
  if (v.type !== "modal") return placeholder("block", `view ${asString(v.type)}`);
  const submit = asObject(v.submit)
    ? `<button type="button" class="bk-button bk-primary" data-modal="submit">${escapeHtml(asString(asObject(v.submit)?.text))}</button>`
    : "";
  const close = `<button type="button" class="bk-button" data-modal="close">${escapeHtml(asString(asObject(v.close)?.text) || "Close")}</button>`;
  return (
    `<div class="bk-modal-title">${escapeHtml(asString(asObject(v.title)?.text))}</div>` +
    `<div class="bk-modal-body">${blocksToHtml(v.blocks, ctx, errors)}</div>` +
    `<div class="bk-modal-footer">${close}${submit}</div>`
  );
}

/** The App Home tab's view. */
export function homeToHtml(view: unknown, ctx: RenderContext): string {
  const v = asObject(view) ?? {};
  if (v.type !== "home") return placeholder("block", `view ${asString(v.type)}`);
  return blocksToHtml(v.blocks, ctx);
}
