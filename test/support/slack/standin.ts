import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

/** One Web API call as the stand-in received it; JSON-valued form fields are decoded. */
export interface RecordedCall {
  method: string;
  args: Record<string, unknown>;
  at: number;
}

export interface StandinUser {
  tz?: string;
  email?: string;
  name?: string;
}

export interface PostedMessage {
  channel: string;
  ts: string;
  threadTs?: string;
  text?: string;
  blocks?: unknown[];
}

export interface UploadedFile {
  fileId: string;
  filename: string;
  title?: string;
  content: string;
  channelId?: string;
  threadTs?: string;
}

/**
 * Slack's Web API on loopback for tests: records every call and answers as Slack does
 * (ok, ts, channel; errors and 429 with Retry-After on request).
 */
export class SlackStandin {
  readonly calls: RecordedCall[] = [];
  private readonly users = new Map<string, StandinUser>();
  private readonly groups = new Map<string, string[]>();
  private readonly failures = new Map<string, string[]>();
  private readonly rateLimits = new Map<string, number[]>();
  private readonly uploads = new Map<string, UploadedFile>();
  private readonly waiters = new Set<() => void>();
  private tsCounter = 0;

  private constructor(
    private readonly server: Server,
    readonly origin: string,
  ) {}

  /** The base URL for the Web API client's slackApiUrl. */
  get url(): string {
    return `${this.origin}/api/`;
  }

  static async start(): Promise<SlackStandin> {
    let standin: SlackStandin | undefined;
    const server = createServer((req, res) => {
      standin?.handle(req, res).catch((error: Error) => {
        res.writeHead(500);
        res.end(error.message);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as AddressInfo;
    standin = new SlackStandin(server, `http://127.0.0.1:${port}`);
    return standin;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  setUser(id: string, user: StandinUser): void {
    this.users.set(id, user);
  }

  setUserGroup(id: string, members: string[]): void {
    this.groups.set(id, members);
  }

  /** The next call of `method` answers `{ ok: false, error }`. */
  failNext(method: string, error: string): void {
    this.failures.set(method, [...(this.failures.get(method) ?? []), error]);
  }

  /** The next call of `method` answers HTTP 429 with this Retry-After. */
  rateLimitNext(method: string, retryAfterSeconds: number): void {
    this.rateLimits.set(method, [...(this.rateLimits.get(method) ?? []), retryAfterSeconds]);
  }

  callsOf(method: string): RecordedCall[] {
    return this.calls.filter((c) => c.method === method);
  }

  clear(): void {
    this.calls.length = 0;
  }

  /** Waits until a recorded call satisfies `predicate`. */
  async waitFor(
    predicate: (call: RecordedCall) => boolean,
    what: string,
    timeoutMs = 20_000,
  ): Promise<RecordedCall> {
    const found = () => this.calls.find(predicate);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const call = found();
      if (call) return call;
      const left = deadline - Date.now();
      if (left <= 0) {
        const methods = [...new Set(this.calls.map((c) => c.method))].join(", ");
        throw new Error(`timed out waiting for ${what}; recorded: ${methods || "nothing"}`);
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, Math.min(left, 200));
        function done() {
          clearTimeout(timer);
          resolve();
        }
        this.waiters.add(done);
      });
    }
  }

  /** The modal opened with this callback_id (waiting for it). */
  async openedView(callbackId: string): Promise<{ privateMetadata: string; blocks: unknown[] }> {
    const call = await this.waitFor(
      (c) =>
        c.method === "views.open" && (c.args.view as { callback_id?: string }).callback_id === callbackId,
      `the ${callbackId} modal`,
    );
    const view = call.args.view as { private_metadata?: string; blocks?: unknown[] };
    return { privateMetadata: view.private_metadata ?? "", blocks: view.blocks ?? [] };
  }

  /** Messages as they stand now: each post with the later updates of its ts applied. */
  messages(channel: string): PostedMessage[] {
    const byTs = new Map<string, PostedMessage>();
    let ts = 0;
    for (const call of this.calls) {
      const a = call.args;
      if (a.channel !== channel) continue;
      if (call.method === "chat.postMessage") {
        const posted = this.postedTs.get(call) ?? String(ts++);
        byTs.set(posted, {
          channel,
          ts: posted,
          ...(typeof a.thread_ts === "string" ? { threadTs: a.thread_ts } : {}),
          ...(typeof a.text === "string" ? { text: a.text } : {}),
          ...(Array.isArray(a.blocks) ? { blocks: a.blocks } : {}),
        });
      } else if (call.method === "chat.update" && typeof a.ts === "string") {
        const existing = byTs.get(a.ts);
        if (existing) {
          byTs.set(a.ts, {
            ...existing,
            ...(typeof a.text === "string" ? { text: a.text } : {}),
            ...(Array.isArray(a.blocks) ? { blocks: a.blocks } : {}),
          });
        }
      }
    }
    return [...byTs.values()];
  }

  /** The current state of one message. */
  message(channel: string, ts: string): PostedMessage | undefined {
    return this.messages(channel).find((m) => m.ts === ts);
  }

  /** Replies in a message's thread, oldest first. */
  thread(channel: string, ts: string): PostedMessage[] {
    return this.messages(channel).filter((m) => m.threadTs === ts);
  }

  uploadedFiles(): UploadedFile[] {
    return [...this.uploads.values()].filter((f) => f.content !== "");
  }

  private readonly postedTs = new WeakMap<RecordedCall, string>();

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readBody(req);
    const url = new URL(req.url ?? "/", this.origin);
    if (url.pathname.startsWith("/upload/")) {
      const file = this.uploads.get(url.pathname.slice("/upload/".length));
      if (file) file.content = body.toString("utf8");
      res.writeHead(200, { "content-type": "text/plain" });
      res.end("OK - 200");
      return;
    }
    const method = url.pathname.replace(/^\/api\//, "");
    const call: RecordedCall = { method, args: parseArgs(body, req.headers["content-type"]), at: Date.now() };

    const limited = this.rateLimits.get(method)?.shift();
    if (limited !== undefined) {
      this.calls.push({ ...call, method: `${method} (rate limited)` });
      res.writeHead(429, { "content-type": "application/json", "retry-after": String(limited) });
      res.end(JSON.stringify({ ok: false, error: "ratelimited" }));
      return;
    }
    this.calls.push(call);
    const failure = this.failures.get(method)?.shift();
    const answer = failure ? { ok: false, error: failure } : this.answer(call);
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify(answer));
    for (const wake of this.waiters) wake();
    this.waiters.clear();
  }

  private nextTs(): string {
    this.tsCounter += 1;
    return `1764331200.${String(this.tsCounter).padStart(6, "0")}`;
  }

  private answer(call: RecordedCall): Record<string, unknown> {
    const a = call.args;
    switch (call.method) {
      case "auth.test":
        return {
          ok: true,
          url: "https://keyops-test.slack.com/",
          team: "KeyOps Test",
          user: "keyops",
          team_id: "T0TEST",
          user_id: "U0KEYOPSBOT",
          bot_id: "B0KEYOPS",
        };
      case "chat.postMessage": {
        const ts = this.nextTs();
        this.postedTs.set(call, ts);
        return { ok: true, channel: a.channel, ts, message: { text: a.text, ts } };
      }
      case "chat.update":
        return { ok: true, channel: a.channel, ts: a.ts, text: a.text };
      case "chat.getPermalink":
        return {
          ok: true,
          channel: a.channel,
          permalink: `https://keyops-test.slack.com/archives/${String(a.channel)}/p${String(a.message_ts).replace(".", "")}`,
        };
      case "chat.postEphemeral":
        return { ok: true, message_ts: this.nextTs() };
      case "views.open":
      case "views.push":
      case "views.update":
      case "views.publish":
        return { ok: true, view: { id: `V${this.nextTs().replace(".", "")}`, ...(a.view as object) } };
      case "users.info": {
        const user = this.users.get(String(a.user));
        if (!user) return { ok: false, error: "user_not_found" };
        return { ok: true, user: this.userJson(String(a.user), user) };
      }
      case "users.lookupByEmail": {
        const entry = [...this.users].find(([, u]) => u.email === a.email);
        return entry
          ? { ok: true, user: this.userJson(entry[0], entry[1]) }
          : { ok: false, error: "users_not_found" };
      }
      case "usergroups.users.list": {
        const members = this.groups.get(String(a.usergroup));
        return members ? { ok: true, users: members } : { ok: false, error: "no_such_subteam" };
      }
      case "files.getUploadURLExternal": {
        const fileId = `F${this.nextTs().replace(".", "")}`;
        this.uploads.set(fileId, { fileId, filename: String(a.filename), content: "" });
        return { ok: true, upload_url: `${this.origin}/upload/${fileId}`, file_id: fileId };
      }
      case "files.completeUploadExternal": {
        const files = (Array.isArray(a.files) ? a.files : []) as { id: string; title?: string }[];
        for (const f of files) {
          const upload = this.uploads.get(f.id);
          if (!upload) continue;
          if (f.title) upload.title = f.title;
          if (typeof a.channel_id === "string") upload.channelId = a.channel_id;
          if (typeof a.thread_ts === "string") upload.threadTs = a.thread_ts;
        }
        return { ok: true, files: files.map((f) => ({ id: f.id, title: f.title })) };
      }
      default:
        return { ok: true };
    }
  }

  private userJson(id: string, user: StandinUser) {
    return {
      id,
      name: user.name ?? id.toLowerCase(),
      real_name: user.name ?? id,
      tz: user.tz ?? "America/New_York",
      tz_label: user.tz ?? "America/New_York",
      profile: { email: user.email ?? `${id.toLowerCase()}@example.com` },
    };
  }
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** Form fields (JSON-valued ones decoded) or a JSON body. */
function parseArgs(body: Buffer, contentType: string | undefined): Record<string, unknown> {
  const text = body.toString("utf8");
  if (contentType?.includes("application/json"))
    return text ? (JSON.parse(text) as Record<string, unknown>) : {};
  const args: Record<string, unknown> = {};
  for (const [name, value] of new URLSearchParams(text)) {
    args[name] = /^[[{]/.test(value) ? safeJson(value) : value;
  }
  return args;
}

function safeJson(value: string): unknown {
  try {
    return JSON.parse(value);
  } catch {
    return value;
  }
}
