import { randomBytes } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { PERSONA_LIST, personaById, SANDBOX_CHANNEL, SANDBOX_WORKSPACE } from "./people.js";
import {
  authTestAnswer,
  channelAnswer,
  messageContent,
  messageJson,
  uploadedFileText,
  webApiCall,
} from "./web-api-wire.js";

/** A message in the sandbox's channel: the bot's, a thread reply, or an ephemeral for one person. */
export interface ChannelMessage {
  ts: string;
  channel: string;
  /** The bot, or the persona who sent it. */
  user: string;
  text?: string;
  blocks?: unknown[];
  threadTs?: string;
  /** Only this person sees it ("Only visible to you"). */
  visibleTo?: string;
  /** chat.update changed it after it was posted. */
  edited?: boolean;
  fileIds?: string[];
}

export interface SharedFile {
  id: string;
  filename: string;
  title: string;
  content: string;
  completed: boolean;
}

/** A modal open for one person, with the field errors of its last submission. */
export interface OpenModal {
  viewId: string;
  user: string;
  view: Record<string, unknown>;
  errors: Record<string, string>;
}

type Answer = { ok: true; [field: string]: unknown } | { ok: false; error: string };

/**
 * Slack's Web API as the sandbox's workspace: the methods the bot calls, answered in Slack's
 * published shapes (as test/support/slack/standin.ts does for tests), and the state they leave
 * (messages, threads, ephemerals, files, modals, App Homes) for the page. Every change is told
 * to `onChange` listeners; the page server turns that into server-sent events.
 */
export class SlackWorkspace {
  readonly messages = new Map<string, ChannelMessage>();
  readonly files = new Map<string, SharedFile>();
  readonly modals = new Map<string, OpenModal>();
  readonly homes = new Map<string, Record<string, unknown>>();
  private readonly triggers = new Map<string, string>();
  private readonly listeners = new Set<() => void>();
  private lastTs = 0;

  constructor(
    readonly origin: string,
    private readonly botToken: string,
  ) {}

  /** The base URL the bot's Web API client is pointed at. */
  get apiUrl(): string {
    return `${this.origin}/api/`;
  }

  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** A trigger_id for an interaction by `user`: a modal opened with it opens for that person. */
  newTrigger(user: string): string {
    const trigger = `${Date.now()}.${randomBytes(4).readUInt32BE()}.${randomBytes(8).toString("hex")}`;
    this.triggers.set(trigger, user);
    return trigger;
  }

  /** The page's own lines: what a person typed, as Slack shows it to them. */
  addMessage(message: Omit<ChannelMessage, "ts">): ChannelMessage {
    const posted = { ...message, ts: this.nextTs() };
    this.messages.set(posted.ts, posted);
    this.changed();
    return posted;
  }

  modalOf(user: string): OpenModal | undefined {
    return [...this.modals.values()].filter((m) => m.user === user).at(-1);
  }

  closeModal(viewId: string): void {
    if (this.modals.delete(viewId)) this.changed();
  }

  setModalErrors(viewId: string, errors: Record<string, string>): void {
    const modal = this.modals.get(viewId);
    if (!modal) return;
    modal.errors = errors;
    this.changed();
  }

  /** Answers /api/<method> and the upload URLs it hands out; false when the path is not its own. */
  async handle(req: IncomingMessage, res: ServerResponse, body: Buffer): Promise<boolean> {
    const url = new URL(req.url ?? "/", this.origin);
    if (req.method === "POST" && url.pathname.startsWith("/upload/")) {
      const file = this.files.get(url.pathname.slice("/upload/".length));
      if (!file) return reply(res, 404, { ok: false, error: "file_not_found" });
      file.content = await uploadedFileText(body, req.headers["content-type"]);
      res.writeHead(200, { "content-type": "text/plain" }).end(`OK - ${body.length}`);
      return true;
    }
    if (!url.pathname.startsWith("/api/")) return false;
    const { method, args, token } = webApiCall(url, req.headers, body);
    const answer: Answer =
      token === undefined
        ? { ok: false, error: "not_authed" }
        : token !== this.botToken
          ? { ok: false, error: "invalid_auth" }
          : this.answer(method, args);
    return reply(res, 200, answer);
  }

  private changed(): void {
    for (const listener of [...this.listeners]) listener();
  }

  /** Unique and increasing, shaped like Slack's message timestamps. */
  private nextTs(): string {
    const now = Math.floor(Date.now() / 1000);
    this.lastTs += 1;
    return `${now}.${String(this.lastTs).padStart(6, "0")}`;
  }

  private nextId(prefix: string): string {
    return `${prefix}${randomBytes(5).toString("hex").toUpperCase()}`;
  }

  private answer(method: string, a: Record<string, unknown>): Answer {
    const channel = typeof a.channel === "string" ? a.channel : undefined;
    switch (method) {
      case "auth.test":
        return authTestAnswer(SANDBOX_WORKSPACE);
      case "chat.postMessage":
      case "chat.postEphemeral": {
        if (channel !== SANDBOX_CHANNEL.id) return { ok: false, error: "channel_not_found" };
        if (a.text === undefined && a.blocks === undefined) return { ok: false, error: "no_text" };
        const ephemeral = method === "chat.postEphemeral";
        if (ephemeral && !personaById(String(a.user))) return { ok: false, error: "user_not_in_channel" };
        const message = this.addMessage({
          channel,
          user: SANDBOX_WORKSPACE.botUserId,
          ...messageContent(a),
          ...(typeof a.thread_ts === "string" ? { threadTs: a.thread_ts } : {}),
          ...(ephemeral ? { visibleTo: String(a.user) } : {}),
        });
        return ephemeral
          ? { ok: true, message_ts: message.ts }
          : {
              ok: true,
              channel,
              ts: message.ts,
              message: messageJson({ ...message, botId: SANDBOX_WORKSPACE.botId }),
            };
      }
      case "chat.update": {
        const existing = this.messages.get(String(a.ts));
        if (!existing || existing.channel !== channel || existing.visibleTo)
          return { ok: false, error: "message_not_found" };
        const updated: ChannelMessage = { ...existing, ...messageContent(a), edited: true };
        this.messages.set(existing.ts, updated);
        this.changed();
        return {
          ok: true,
          channel,
          ts: existing.ts,
          text: updated.text ?? "",
          message: messageJson({ ...updated, botId: SANDBOX_WORKSPACE.botId }),
        };
      }
      case "chat.delete": {
        if (!this.messages.delete(String(a.ts))) return { ok: false, error: "message_not_found" };
        this.changed();
        return { ok: true, channel, ts: a.ts };
      }
      case "chat.getPermalink":
        return {
          ok: true,
          channel,
          permalink: `${this.origin}/#${String(a.message_ts)}`,
        };
      case "views.open":
      case "views.push": {
        const user = this.triggers.get(String(a.trigger_id));
        if (!user) return { ok: false, error: "invalid_trigger_id" };
        this.triggers.delete(String(a.trigger_id));
        return this.showModal(this.nextId("V"), user, a.view);
      }
      case "views.update": {
        const modal = this.modals.get(String(a.view_id));
        if (!modal) return { ok: false, error: "not_found" };
        return this.showModal(modal.viewId, modal.user, a.view);
      }
      case "views.publish": {
        const user = String(a.user_id);
        if (!personaById(user)) return { ok: false, error: "user_not_found" };
        const view = { ...(a.view as object), id: this.nextId("V"), team_id: SANDBOX_WORKSPACE.teamId };
        this.homes.set(user, view);
        this.changed();
        return { ok: true, view };
      }
      case "users.info": {
        const person = personaById(String(a.user));
        return person ? { ok: true, user: userJson(person) } : { ok: false, error: "user_not_found" };
      }
      case "users.lookupByEmail": {
        const person = PERSONA_LIST.find((p) => p.email === a.email);
        return person ? { ok: true, user: userJson(person) } : { ok: false, error: "users_not_found" };
      }
      case "usergroups.users.list":
        return { ok: false, error: "no_such_subteam" };
      case "conversations.info":
        return channel === SANDBOX_CHANNEL.id
          ? channelAnswer(channel, SANDBOX_CHANNEL.name)
          : { ok: false, error: "channel_not_found" };
      case "files.getUploadURLExternal": {
        const id = this.nextId("F");
        const filename = String(a.filename ?? "");
        this.files.set(id, { id, filename, title: filename, content: "", completed: false });
        return { ok: true, upload_url: `${this.origin}/upload/${id}`, file_id: id };
      }
      case "files.completeUploadExternal": {
        const files = (Array.isArray(a.files) ? a.files : []) as { id: string; title?: string }[];
        if (files.some((f) => !this.files.has(f.id))) return { ok: false, error: "file_not_found" };
        const shared = files.map((f) => {
          const file = this.files.get(f.id) as SharedFile;
          file.completed = true;
          if (f.title) file.title = f.title;
          return file;
        });
        if (typeof a.channel_id === "string") {
          this.addMessage({
            channel: a.channel_id,
            user: SANDBOX_WORKSPACE.botUserId,
            ...(typeof a.initial_comment === "string" ? { text: a.initial_comment } : {}),
            ...(typeof a.thread_ts === "string" ? { threadTs: a.thread_ts } : {}),
            fileIds: shared.map((f) => f.id),
          });
        }
        return { ok: true, files: shared.map((f) => ({ id: f.id, name: f.filename, title: f.title })) };
      }
      default:
        return { ok: false, error: "unknown_method" };
    }
  }

  private showModal(viewId: string, user: string, view: unknown): Answer {
    const shown = { ...(view as Record<string, unknown>), id: viewId, team_id: SANDBOX_WORKSPACE.teamId };
    this.modals.set(viewId, { viewId, user, view: shown, errors: {} });
    this.changed();
    return { ok: true, view: shown };
  }
}

function reply(res: ServerResponse, status: number, body: unknown): true {
  res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body));
  return true;
}

function userJson(person: { id: string; name: string; email: string; tz: string }) {
  return {
    id: person.id,
    team_id: SANDBOX_WORKSPACE.teamId,
    name: person.name.toLowerCase(),
    real_name: person.name,
    deleted: false,
    is_bot: false,
    tz: person.tz,
    profile: { email: person.email, real_name: person.name, display_name: person.name },
  };
}
