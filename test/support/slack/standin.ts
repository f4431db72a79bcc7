import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import {
  authTestAnswer,
  channelAnswer,
  messageContent,
  messageJson,
  uploadedFileText,
  webApiCall,
} from "../../../src/sandbox/web-api-wire.js";

/** The workspace the stand-in answers for; signed requests claim to come from it too. */
export const TEST_WORKSPACE = {
  teamId: "T0TEST",
  teamDomain: "keyops-test",
  teamName: "KeyOps Test",
  appId: "A0KEYOPS",
  botUserId: "U0KEYOPSBOT",
  botId: "B0KEYOPS",
} as const;

/** One Web API call as the stand-in received it; JSON-valued form fields are decoded. */
export interface RecordedCall {
  method: string;
  args: Record<string, unknown>;
  at: number;
  /** From the Authorization header, else the `token` field. */
  token?: string;
  /** Set when the call was refused: the error answered, "ratelimited" for an HTTP 429. */
  error?: string;
}

export interface StandinUser {
  tz?: string;
  email?: string;
  name?: string;
  /** Another app's bot user (users.info says is_bot). */
  isBot?: boolean;
  /** A deactivated account (someone who has left): users.info says deleted. */
  deleted?: boolean;
}

export interface StandinOptions {
  users?: Record<string, StandinUser>;
  userGroups?: Record<string, string[]>;
  /** The one bot token it accepts; any other answers invalid_auth, as Slack does. Any token when unset. */
  botToken?: string;
}

export interface PostedMessage {
  channel: string;
  ts: string;
  threadTs?: string;
  text?: string;
  blocks?: unknown[];
  /** Message metadata (event_type, event_payload) as chat.postMessage was given it. */
  metadata?: { event_type: string; event_payload: Record<string, unknown> };
}

export interface UploadedFile {
  fileId: string;
  filename: string;
  title?: string;
  content: string;
  channelId?: string;
  threadTs?: string;
}

type Answer = { ok: true; [field: string]: unknown } | { ok: false; error: string };
type CallMatcher = string | ((call: RecordedCall) => boolean);
/** A call kept waiting by holdNext. */
interface Hold {
  arrived: () => void;
  released: Promise<void>;
}

const DEFAULT_TZ = "America/New_York";

/**
 * Slack's Web API on loopback for tests: records every call and answers as Slack does
 * (ok, ts, channel; errors and 429 with Retry-After on request). Pass `.url` as slackApiUrl.
 */
export class SlackStandin {
  readonly calls: RecordedCall[] = [];
  private readonly users = new Map<string, StandinUser>();
  private readonly groups = new Map<string, string[]>();
  private readonly failures = new Map<string, string[]>();
  private readonly rateLimits = new Map<string, number[]>();
  private readonly uploads = new Map<string, UploadedFile & { completed: boolean }>();
  /** channel → ts → message, in the order posted. */
  private readonly channels = new Map<string, Map<string, PostedMessage>>();
  private readonly listeners = new Set<() => void>();
  private lastTs = 0;
  private outageStatus: number | undefined;
  /** Per method, one predicate per answer still to lose: the first call it accepts loses its answer. */
  private readonly lostAnswers = new Map<string, ((args: Record<string, unknown>) => boolean)[]>();
  private readonly holds = new Map<string, Hold[]>();
  /** When each message was posted, in Unix seconds (its ts is not a real time). */
  private readonly postedAt = new Map<string, number>();

  private constructor(
    private readonly server: Server,
    readonly origin: string,
    private readonly botToken: string | undefined,
  ) {}

  /** The base URL for the Web API client's slackApiUrl. */
  get url(): string {
    return `${this.origin}/api/`;
  }

  static async start(options: StandinOptions = {}): Promise<SlackStandin> {
    let standin: SlackStandin | undefined;
    const server = createServer((req, res) => {
      standin?.handle(req, res).catch((error: Error) => {
        if (!res.headersSent) res.writeHead(500, { "content-type": "text/plain" });
        res.end(error.stack ?? error.message);
      });
    });
    // Port 0: the kernel picks a free one, so there is no race between choosing and binding.
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as AddressInfo;
    standin = new SlackStandin(server, `http://127.0.0.1:${port}`, options.botToken);
    for (const [id, user] of Object.entries(options.users ?? {})) standin.setUser(id, user);
    for (const [id, members] of Object.entries(options.userGroups ?? {})) standin.setUserGroup(id, members);
    return standin;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  setUser(id: string, user: StandinUser): void {
    if (user.tz) zoneInfo(user.tz); // an unknown zone throws here, not as an HTTP 500 later
    this.users.set(id, user);
  }

  setUserGroup(id: string, members: string[]): void {
    this.groups.set(id, [...members]);
  }

  /** The next call of `method` answers `{ ok: false, error }` (queued: call again to fail more). */
  failNext(method: string, failure: string | { error: string }): void {
    const error = typeof failure === "string" ? failure : failure.error;
    this.failures.set(method, [...(this.failures.get(method) ?? []), error]);
  }

  /**
   * Slack is down: every Web API call answers this HTTP status (500 by default) until `restore()`.
   * The calls are recorded, with error `http_<status>`.
   */
  outage(status = 500): void {
    this.outageStatus = status;
  }

  restore(): void {
    this.outageStatus = undefined;
  }

  /**
   * The next `count` calls of `method` are carried out (a message is posted) but answered HTTP 500,
   * as if the answer were lost: the caller cannot know that the call took effect. With `matching`,
   * only calls whose arguments it accepts count (other work of a shared bot calls Slack too).
   */
  loseNextAnswers(
    method: string,
    count = 1,
    matching: (args: Record<string, unknown>) => boolean = () => true,
  ): void {
    const queued = this.lostAnswers.get(method) ?? [];
    for (let i = 0; i < count; i++) queued.push(matching);
    this.lostAnswers.set(method, queued);
  }

  /**
   * The next call of `method` waits, unanswered, until `release()`: `arrived` resolves when it
   * has come in, so that a test can act while the caller is waiting on Slack.
   */
  holdNext(method: string): { arrived: Promise<void>; release: () => void } {
    let arrive = () => {};
    let release = () => {};
    const hold: Hold = {
      arrived: () => arrive(),
      released: new Promise<void>((resolve) => {
        release = resolve;
      }),
    };
    const arrived = new Promise<void>((resolve) => {
      arrive = resolve;
    });
    this.holds.set(method, [...(this.holds.get(method) ?? []), hold]);
    return { arrived, release };
  }

  /** The next call of `method` answers HTTP 429 with this Retry-After (the client retries). */
  rateLimitNext(method: string, retryAfterSeconds: number): void {
    this.rateLimits.set(method, [...(this.rateLimits.get(method) ?? []), retryAfterSeconds]);
  }

  /** Every call of `method`, refused ones included (see `error`). */
  callsOf(method: string): RecordedCall[] {
    return this.calls.filter((c) => c.method === method);
  }

  lastCallOf(method: string): RecordedCall | undefined {
    return this.callsOf(method).at(-1);
  }

  /** Forgets the recorded calls; the messages in channels stay as they are. */
  clear(): void {
    this.calls.length = 0;
  }

  /** The first recorded call (earlier or yet to come) of a method or matching a predicate. */
  waitFor(match: CallMatcher, timeoutMs?: number): Promise<RecordedCall>;
  waitFor(match: CallMatcher, what: string, timeoutMs?: number): Promise<RecordedCall>;
  waitFor(match: CallMatcher, whatOrTimeout?: string | number, timeoutMs = 20_000): Promise<RecordedCall> {
    const matches = typeof match === "string" ? (c: RecordedCall) => c.method === match : match;
    const what =
      typeof whatOrTimeout === "string"
        ? whatOrTimeout
        : typeof match === "string"
          ? match
          : "a matching call";
    const timeout = typeof whatOrTimeout === "number" ? whatOrTimeout : timeoutMs;
    return new Promise((resolve, reject) => {
      const stop = () => {
        clearTimeout(timer);
        this.listeners.delete(check);
      };
      const check = () => {
        try {
          const call = this.calls.find(matches);
          if (call) {
            stop();
            resolve(call);
          }
        } catch (error) {
          stop();
          reject(error);
        }
      };
      const timer = setTimeout(() => {
        stop();
        const methods = this.calls.map((c) => (c.error ? `${c.method} (${c.error})` : c.method));
        reject(
          new Error(
            `timed out after ${timeout} ms waiting for ${what}; recorded: ${methods.join(", ") || "nothing"}`,
          ),
        );
      }, timeout);
      this.listeners.add(check);
      check();
    });
  }

  /** The modal opened with this callback_id (waiting for it). */
  async openedView(callbackId: string): Promise<{ privateMetadata: string; blocks: unknown[] }> {
    const call = await this.waitFor(
      (c) =>
        c.method === "views.open" &&
        !c.error &&
        (c.args.view as { callback_id?: string } | undefined)?.callback_id === callbackId,
      `the ${callbackId} modal`,
    );
    const view = call.args.view as { private_metadata?: string; blocks?: unknown[] };
    return { privateMetadata: view.private_metadata ?? "", blocks: view.blocks ?? [] };
  }

  /** Messages as they stand now (posts with later updates applied), oldest first, replies included. */
  messages(channel: string): PostedMessage[] {
    return [...(this.channels.get(channel)?.values() ?? [])].map((m) => ({ ...m }));
  }

  /** The current state of one message. */
  message(channel: string, ts: string): PostedMessage | undefined {
    const message = this.channels.get(channel)?.get(ts);
    return message && { ...message };
  }

  /** Replies in a message's thread, oldest first. */
  thread(channel: string, ts: string): PostedMessage[] {
    return this.messages(channel).filter((m) => m.threadTs === ts);
  }

  /** Files whose bytes arrived and whose upload was completed, oldest first. */
  uploadedFiles(): UploadedFile[] {
    return [...this.uploads.values()].filter((f) => f.completed).map(({ completed: _, ...file }) => file);
  }

  private record(call: RecordedCall): void {
    this.calls.push(call);
    for (const check of [...this.listeners]) check();
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readBody(req);
    const url = new URL(req.url ?? "/", this.origin);
    if (req.method === "POST" && url.pathname.startsWith("/upload/")) {
      const upload = this.uploads.get(url.pathname.slice("/upload/".length));
      if (!upload) return reply(res, 404, { ok: false, error: "file_not_found" });
      upload.content = await uploadedFileText(body, req.headers["content-type"]);
      res.writeHead(200, { "content-type": "text/plain" });
      res.end(`OK - ${body.length}`);
      return;
    }
    if (!url.pathname.startsWith("/api/")) return reply(res, 404, { ok: false, error: "unknown_method" });

    const { method, args, token } = webApiCall(url, req.headers, body);
    const call: RecordedCall = { method, args, at: Date.now(), ...(token ? { token } : {}) };
    const hold = this.holds.get(method)?.shift();
    if (hold) {
      hold.arrived();
      await hold.released;
    }

    if (this.outageStatus !== undefined) {
      this.record({ ...call, error: `http_${this.outageStatus}` });
      return reply(res, this.outageStatus, { ok: false, error: "internal_error" });
    }
    const retryAfter = this.rateLimits.get(method)?.shift();
    if (retryAfter !== undefined) {
      this.record({ ...call, error: "ratelimited" });
      return reply(res, 429, { ok: false, error: "ratelimited" }, { "retry-after": String(retryAfter) });
    }
    const failure = this.failures.get(method)?.shift();
    const answer: Answer = failure
      ? { ok: false, error: failure }
      : !token
        ? { ok: false, error: "not_authed" }
        : this.botToken !== undefined && token !== this.botToken
          ? { ok: false, error: "invalid_auth" }
          : this.answer(method, args);
    const queued = this.lostAnswers.get(method) ?? [];
    const lost = queued.findIndex((matches) => matches(args));
    if (lost >= 0) {
      queued.splice(lost, 1);
      this.record({ ...call, error: "answer_lost" });
      return reply(res, 500, { ok: false, error: "internal_error" });
    }
    this.record(answer.ok ? call : { ...call, error: answer.error });
    reply(res, 200, answer);
  }

  /** Unique and increasing, shaped like Slack's message timestamps. */
  private nextTs(): string {
    this.lastTs += 1;
    return `1700000000.${String(this.lastTs * 100).padStart(6, "0")}`;
  }

  private nextId(prefix: string): string {
    return `${prefix}${this.nextTs().replace(".", "")}`;
  }

  private answer(method: string, a: Record<string, unknown>): Answer {
    const channel = typeof a.channel === "string" ? a.channel : undefined;
    switch (method) {
      case "auth.test":
        return authTestAnswer(TEST_WORKSPACE);
      case "chat.postMessage": {
        if (!channel) return { ok: false, error: "channel_not_found" };
        if (a.text === undefined && a.blocks === undefined && a.attachments === undefined) {
          return { ok: false, error: "no_text" };
        }
        const message: PostedMessage = {
          channel,
          ts: this.nextTs(),
          ...(typeof a.thread_ts === "string" ? { threadTs: a.thread_ts } : {}),
          ...messageContent(a),
          ...metadataOf(a),
        };
        this.channelMessages(channel).set(message.ts, message);
        this.postedAt.set(message.ts, Date.now() / 1000);
        return { ok: true, channel, ts: message.ts, message: botMessageJson(message) };
      }
      case "chat.update": {
        const existing = channel ? this.channels.get(channel)?.get(String(a.ts)) : undefined;
        if (!channel || !existing) return { ok: false, error: "message_not_found" };
        const updated = { ...existing, ...messageContent(a) };
        this.channelMessages(channel).set(existing.ts, updated);
        return {
          ok: true,
          channel,
          ts: existing.ts,
          text: updated.text ?? "",
          message: botMessageJson(updated),
        };
      }
      case "chat.delete": {
        if (!channel || !this.channels.get(channel)?.delete(String(a.ts))) {
          return { ok: false, error: "message_not_found" };
        }
        return { ok: true, channel, ts: a.ts };
      }
      case "conversations.history":
      case "conversations.replies": {
        if (!channel) return { ok: false, error: "channel_not_found" };
        const all = [...(this.channels.get(channel)?.values() ?? [])];
        const found =
          method === "conversations.replies"
            ? all.filter((m) => m.ts === a.ts || m.threadTs === a.ts)
            : all
                .filter((m) => !m.threadTs && (this.postedAt.get(m.ts) ?? 0) >= Number(a.oldest ?? 0))
                .reverse();
        const withMetadata = a.include_all_metadata === true || a.include_all_metadata === "true";
        return {
          ok: true,
          messages: found.map((m) => ({
            ...botMessageJson(m),
            ...(withMetadata && m.metadata ? { metadata: m.metadata } : {}),
          })),
          has_more: false,
        };
      }
      case "chat.postEphemeral":
        return channel ? { ok: true, message_ts: this.nextTs() } : { ok: false, error: "channel_not_found" };
      case "chat.getPermalink":
        return {
          ok: true,
          channel,
          permalink: `https://${TEST_WORKSPACE.teamDomain}.slack.com/archives/${channel}/p${String(a.message_ts).replace(".", "")}`,
        };
      case "views.open":
      case "views.push":
      case "views.update":
      case "views.publish": {
        const id = typeof a.view_id === "string" ? a.view_id : this.nextId("V");
        const view = { ...(a.view as object), id, team_id: TEST_WORKSPACE.teamId, hash: this.nextTs() };
        return { ok: true, view };
      }
      case "users.info": {
        if (a.user === TEST_WORKSPACE.botUserId) return { ok: true, user: botUserJson() };
        const user = this.users.get(String(a.user));
        return user
          ? { ok: true, user: userJson(String(a.user), user) }
          : { ok: false, error: "user_not_found" };
      }
      case "users.lookupByEmail": {
        const found = [...this.users].find(([, u]) => u.email === a.email);
        return found ? { ok: true, user: userJson(...found) } : { ok: false, error: "users_not_found" };
      }
      case "usergroups.users.list": {
        const members = this.groups.get(String(a.usergroup));
        return members ? { ok: true, users: [...members] } : { ok: false, error: "no_such_subteam" };
      }
      case "conversations.info":
        return channel
          ? channelAnswer(channel, channel.toLowerCase())
          : { ok: false, error: "channel_not_found" };
      case "files.getUploadURLExternal": {
        const fileId = this.nextId("F");
        const filename = String(a.filename ?? "");
        this.uploads.set(fileId, { fileId, filename, content: "", completed: false });
        return { ok: true, upload_url: `${this.origin}/upload/${fileId}`, file_id: fileId };
      }
      case "files.completeUploadExternal": {
        const files = (Array.isArray(a.files) ? a.files : []) as { id: string; title?: string }[];
        if (files.some((f) => !this.uploads.has(f.id))) return { ok: false, error: "file_not_found" };
        const completed = files.map((f) => {
          const upload = this.uploads.get(f.id) as UploadedFile & { completed: boolean };
          upload.completed = true;
          if (f.title) upload.title = f.title;
          if (typeof a.channel_id === "string") upload.channelId = a.channel_id;
          if (typeof a.thread_ts === "string") upload.threadTs = a.thread_ts;
          return { id: upload.fileId, name: upload.filename, title: upload.title ?? upload.filename };
        });
        return { ok: true, files: completed };
      }
      default:
        return { ok: true };
    }
  }

  private channelMessages(channel: string): Map<string, PostedMessage> {
    let messages = this.channels.get(channel);
    if (!messages) {
      messages = new Map();
      this.channels.set(channel, messages);
    }
    return messages;
  }
}

function reply(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  res.writeHead(status, { "content-type": "application/json", ...headers });
  res.end(JSON.stringify(body));
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

function metadataOf(a: Record<string, unknown>): Pick<PostedMessage, "metadata"> {
  const raw = typeof a.metadata === "string" ? (JSON.parse(a.metadata) as unknown) : a.metadata;
  const m = raw as PostedMessage["metadata"] | undefined;
  return m && typeof m.event_type === "string" ? { metadata: m } : {};
}

function botMessageJson(m: PostedMessage) {
  return messageJson({ ...m, user: TEST_WORKSPACE.botUserId, botId: TEST_WORKSPACE.botId });
}

function userJson(id: string, user: StandinUser) {
  const tz = user.tz ?? DEFAULT_TZ;
  const name = user.name ?? id.toLowerCase();
  const email = user.email ?? `${id.toLowerCase()}@example.com`;
  return {
    id,
    team_id: TEST_WORKSPACE.teamId,
    name,
    real_name: name,
    deleted: user.deleted ?? false,
    is_bot: user.isBot ?? false,
    tz,
    ...zoneInfo(tz),
    profile: { email, real_name: name, display_name: name },
  };
}

/** The bot's own user, as users.info describes it. */
function botUserJson() {
  return {
    ...userJson(TEST_WORKSPACE.botUserId, { name: "keyops" }),
    is_bot: true,
    profile: { bot_id: TEST_WORKSPACE.botId, real_name: "keyops", display_name: "keyops" },
  };
}

/** Slack's tz_label ("Eastern Standard Time") and tz_offset (seconds east of UTC) for now. */
function zoneInfo(tz: string): { tz_label: string; tz_offset: number } {
  const zoneName = (style: "long" | "longOffset") =>
    new Intl.DateTimeFormat("en-US", { timeZone: tz, timeZoneName: style })
      .formatToParts(new Date())
      .find((part) => part.type === "timeZoneName")?.value ?? "";
  const [, sign, hours = "0", minutes = "0"] = /GMT([+-])(\d\d):(\d\d)/.exec(zoneName("longOffset")) ?? [];
  const offset = Number(hours) * 3600 + Number(minutes) * 60;
  return { tz_label: zoneName("long"), tz_offset: sign === "-" ? -offset : offset };
}
