import {
  escapeHtml,
  homeToHtml,
  messageBodyToHtml,
  modalToHtml,
  type RenderContext,
} from "./block-kit-html.js";
import type { SandboxIncident } from "./pagerduty.js";
import { PERSONA_LIST, SANDBOX_CHANNEL, SANDBOX_WORKSPACE, userNames } from "./people.js";
import type { ChannelMessage, SharedFile, SlackWorkspace } from "./slack-api.js";

/** What one person's page shows now, each part as HTML. */
export interface PageState {
  channel: string;
  home: string;
  homeViewId: string | null;
  modal: string | null;
  modalId: string | null;
  pagerduty: string;
}

export function renderContext(): RenderContext {
  return {
    users: userNames(),
    channels: { [SANDBOX_CHANNEL.id]: SANDBOX_CHANNEL.name },
    members: PERSONA_LIST.map((p) => p.id),
  };
}

function clock(ts: string): string {
  const date = new Date(Number(ts.split(".")[0]) * 1000);
  return date.toISOString().slice(11, 16);
}

function fileHtml(file: SharedFile | undefined): string {
  if (!file) return "";
  return `<a class="sb-file" href="/files/${encodeURIComponent(file.id)}" target="_blank" rel="noopener"><span class="sb-file-icon">📄</span><span><b>${escapeHtml(file.title)}</b><br><small>${escapeHtml(file.filename)} · ${file.content.length.toLocaleString("en-US")} bytes</small></span></a>`;
}

function messageHtml(
  m: ChannelMessage,
  files: Map<string, SharedFile>,
  ctx: RenderContext,
  replies = "",
): string {
  const author = ctx.users[m.user] ?? m.user;
  const bot = m.user === SANDBOX_WORKSPACE.botUserId ? ` <span class="sb-app">APP</span>` : "";
  const ephemeral = m.visibleTo ? `<div class="sb-ephemeral-note">👁 Only visible to you</div>` : "";
  const edited = m.edited ? ` <span class="sb-edited">(edited)</span>` : "";
  const attached = (m.fileIds ?? []).map((id) => fileHtml(files.get(id))).join("");
  const body = m.text || m.blocks ? messageBodyToHtml(m, ctx) : "";
  return (
    `<div class="sb-message${m.visibleTo ? " sb-ephemeral" : ""}" data-ts="${escapeHtml(m.ts)}"${m.threadTs ? ` data-thread-ts="${escapeHtml(m.threadTs)}"` : ""}>` +
    `${ephemeral}<div class="sb-meta"><b>${escapeHtml(author)}</b>${bot} <span class="sb-time">${clock(m.ts)}</span>${edited}</div>` +
    `<div class="sb-body">${body}${attached}</div>${replies}</div>`
  );
}

/** The channel as `user` sees it: everyone's messages, their own ephemerals, threads under their parent. */
export function channelHtml(workspace: SlackWorkspace, user: string, ctx: RenderContext): string {
  const visible = [...workspace.messages.values()].filter((m) => !m.visibleTo || m.visibleTo === user);
  const replies = new Map<string, ChannelMessage[]>();
  for (const m of visible) {
    if (m.threadTs && m.threadTs !== m.ts) replies.set(m.threadTs, [...(replies.get(m.threadTs) ?? []), m]);
  }
  const topLevel = visible.filter(
    (m) => !m.threadTs || m.threadTs === m.ts || !workspace.messages.has(m.threadTs),
  );
  if (topLevel.length === 0) {
    return `<div class="sb-empty">No messages yet. Type <code>/key-rotate</code>, <code>/key-compromised</code>, <code>/offboard @Lee</code> or <code>/keyops help</code> below.</div>`;
  }
  return topLevel
    .map((m) => {
      const thread = replies.get(m.ts) ?? [];
      const threadHtml = thread.length
        ? `<details class="sb-thread" data-thread="${escapeHtml(m.ts)}"><summary>${thread.length} ${thread.length === 1 ? "reply" : "replies"}</summary>${thread
            .map((r) => messageHtml(r, workspace.files, ctx))
            .join("")}</details>`
        : "";
      return messageHtml(m, workspace.files, ctx, threadHtml);
    })
    .join("");
}

export function pagerDutyHtml(incidents: SandboxIncident[]): string {
  if (incidents.length === 0)
    return `<div class="sb-empty">No incidents. Workflows page on-call when they start.</div>`;
  return [...incidents]
    .reverse()
    .map((i) => {
      const buttons =
        i.status === "resolved"
          ? ""
          : `${i.status === "triggered" ? `<button type="button" class="bk-button" data-pd-incident="${escapeHtml(i.id)}" data-pd-action="acknowledge">Acknowledge</button>` : ""}<button type="button" class="bk-button" data-pd-incident="${escapeHtml(i.id)}" data-pd-action="resolve">Resolve</button>`;
      const change = i.lastChange ? ` · by ${escapeHtml(i.lastChange.by)}` : "";
      return (
        `<div class="pd-incident pd-${i.status}" data-pd-id="${escapeHtml(i.id)}">` +
        `<div><span class="pd-status">${i.status}</span> <span class="pd-severity">${escapeHtml(i.severity)}</span> #${i.number}${change}</div>` +
        `<div class="pd-summary">${escapeHtml(i.summary)}</div><div class="pd-actions">${buttons}</div></div>`
      );
    })
    .join("");
}

export function pageState(workspace: SlackWorkspace, incidents: SandboxIncident[], user: string): PageState {
  const ctx = renderContext();
  const modal = workspace.modalOf(user);
  const home = workspace.homes.get(user);
  return {
    channel: channelHtml(workspace, user, ctx),
    home: home ? homeToHtml(home, ctx) : `<div class="sb-empty">Opening the App Home…</div>`,
    homeViewId: typeof home?.id === "string" ? home.id : null,
    modal: modal ? modalToHtml(modal.view, ctx, modal.errors) : null,
    modalId: modal?.viewId ?? null,
    pagerduty: pagerDutyHtml(incidents),
  };
}
