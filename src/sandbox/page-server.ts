import { readFileSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { answerJson, readBody } from "../http/json.js";
import { WORKFLOW_DEFINITIONS } from "../workflows/definitions/index.js";
import { pageState } from "./channel-view.js";
import { fileHtmlPage, pageHtml } from "./page.js";
import type { SandboxPagerDuty } from "./pagerduty.js";
import { personaById, SANDBOX_CHANNEL, SANDBOX_WORKSPACE, SLACKBOT } from "./people.js";
import type { SlackWorkspace } from "./slack-api.js";
import { type ElementAction, escapeCommandText, type SlackRequests } from "./slack-requests.js";

const MAX_BODY = 1024 * 1024;
const CLIENT_SCRIPT = readFileSync(new URL("./client.js", import.meta.url), "utf8");
const COMMANDS = new Set([...WORKFLOW_DEFINITIONS.map((d) => d.command), "/keyops"]);
/** Progress re-renders come in bursts: the page gets at most one state per this long. */
const COALESCE_MS = 50;

export interface PageServerParts {
  workspace: SlackWorkspace;
  pagerDuty: () => SandboxPagerDuty | undefined;
  slack: () => SlackRequests | undefined;
  /** What the sandbox seeded and where, for the page's side bar (HTML). */
  about: () => string;
}

class BadRequest extends Error {}

/**
 * The sandbox's one address on loopback: the page, its server-sent events, what the page does
 * (signed into the bot as Slack would), the Slack Web API stand-in the bot calls, and shared files.
 */
export class PageServer {
  private readonly streams = new Map<ServerResponse, string>();
  private pending: NodeJS.Timeout | undefined;

  private constructor(
    private readonly server: Server,
    readonly port: number,
    readonly parts: PageServerParts,
  ) {}

  static async start(port: number, makeParts: (origin: string) => PageServerParts): Promise<PageServer> {
    let page: PageServer | undefined;
    const server = createServer((req, res) => {
      page?.handle(req, res).catch((error: Error) => {
        answerJson(res, error instanceof BadRequest ? 400 : 500, {
          error: error instanceof BadRequest ? error.message : "internal error",
        });
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, "127.0.0.1", () => resolve());
    });
    const actual = (server.address() as AddressInfo).port;
    page = new PageServer(server, actual, makeParts(`http://127.0.0.1:${actual}`));
    page.parts.workspace.onChange(() => page?.push());
    return page;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}/`;
  }

  /** Tells every open page what changed (called by the stand-ins). */
  push(): void {
    this.pending ??= setTimeout(() => {
      this.pending = undefined;
      for (const [res, user] of this.streams) this.send(res, user);
    }, COALESCE_MS);
  }

  async close(): Promise<void> {
    clearTimeout(this.pending);
    for (const res of this.streams.keys()) res.end();
    this.streams.clear();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private send(res: ServerResponse, user: string): void {
    const incidents = [...(this.parts.pagerDuty()?.incidents.values() ?? [])];
    res.write(`event: state\ndata: ${JSON.stringify(pageState(this.parts.workspace, incidents, user))}\n\n`);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://127.0.0.1");
    if (req.method === "GET") return this.get(url, req, res);
    if (req.method !== "POST") return answerJson(res, 405, { error: "method not allowed" });
    const body = await readBody(req, MAX_BODY);
    if (body === undefined) return answerJson(res, 413, { error: "body too large" });
    if (await this.parts.workspace.handle(req, res, body)) return;
    if (!url.pathname.startsWith("/sandbox/")) return answerJson(res, 404, { error: "not found" });
    let input: Record<string, unknown>;
    try {
      input = JSON.parse(body.toString("utf8")) as Record<string, unknown>;
    } catch {
      throw new BadRequest("malformed JSON");
    }
    const person = personaById(String(input.as));
    if (!person) throw new BadRequest("choose a persona");
    answerJson(res, 200, await this.act(url.pathname.slice("/sandbox/".length), person.id, input));
  }

  private get(url: URL, req: IncomingMessage, res: ServerResponse): void {
    if (url.pathname === "/") {
      res.writeHead(200, { "content-type": "text/html; charset=utf-8", "cache-control": "no-store" });
      res.end(pageHtml(this.parts.about()));
      return;
    }
    if (url.pathname === "/sandbox.js") {
      res.writeHead(200, { "content-type": "text/javascript; charset=utf-8", "cache-control": "no-store" });
      res.end(CLIENT_SCRIPT);
      return;
    }
    if (url.pathname === "/events") {
      const user = personaById(url.searchParams.get("as") ?? "")?.id;
      if (!user) {
        answerJson(res, 400, { error: "choose a persona" });
        return;
      }
      res.writeHead(200, {
        "content-type": "text/event-stream",
        "cache-control": "no-store",
        connection: "keep-alive",
      });
      this.streams.set(res, user);
      req.on("close", () => this.streams.delete(res));
      this.send(res, user);
      return;
    }
    const file = url.pathname.startsWith("/files/")
      ? this.parts.workspace.files.get(decodeURIComponent(url.pathname.slice("/files/".length)))
      : undefined;
    if (file?.completed) {
      res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
      res.end(fileHtmlPage(file.title, file.content));
      return;
    }
    answerJson(res, 404, { error: "not found" });
  }

  private async act(what: string, user: string, input: Record<string, unknown>): Promise<object> {
    const { workspace } = this.parts;
    const slack = this.parts.slack();
    if (!slack) throw new BadRequest("KeyOps is still starting");
    switch (what) {
      case "command": {
        const text = String(input.text ?? "").trim();
        const [command = "", ...rest] = text.split(/\s+/);
        workspace.addMessage({ channel: SANDBOX_CHANNEL.id, user, text, visibleTo: user });
        if (!COMMANDS.has(command)) {
          workspace.addMessage({
            channel: SANDBOX_CHANNEL.id,
            user: SLACKBOT,
            text: `\`${command}\` is not a command of this workspace. Try ${[...COMMANDS].join(", ")}.`,
            visibleTo: user,
          });
          return { ok: true };
        }
        const answer = await slack.command(
          user,
          command,
          escapeCommandText(rest.join(" ")),
          workspace.newTrigger(user),
        );
        this.ephemeralFromAck(user, answer.json);
        return { ok: true };
      }
      case "action": {
        const action = input as unknown as ElementAction;
        if (typeof action.actionId !== "string" || typeof action.container !== "object")
          throw new BadRequest("an action needs actionId and container");
        const answer = await slack.blockAction(user, action, workspace.newTrigger(user));
        this.ephemeralFromAck(user, answer.json);
        return { ok: true };
      }
      case "submit": {
        const modal = workspace.modals.get(String(input.viewId));
        if (!modal || modal.user !== user) throw new BadRequest("that modal is not open");
        const values = (input.values ?? {}) as Record<string, Record<string, unknown>>;
        const answer = await slack.viewSubmission(user, modal.view, values, workspace.newTrigger(user));
        if (answer.json?.response_action === "errors") {
          workspace.setModalErrors(modal.viewId, answer.json.errors as Record<string, string>);
          return { ok: false, errors: answer.json.errors };
        }
        if (answer.status !== 200) return { ok: false, status: answer.status };
        workspace.closeModal(modal.viewId);
        return { ok: true };
      }
      case "close":
        workspace.closeModal(String(input.viewId));
        return { ok: true };
      case "home":
        await slack.appHomeOpened(user);
        return { ok: true };
      case "pagerduty": {
        const pagerDuty = this.parts.pagerDuty();
        const action = input.action;
        if (!pagerDuty || (action !== "acknowledge" && action !== "resolve"))
          throw new BadRequest("acknowledge or resolve an incident");
        const person = personaById(user);
        if (!person) throw new BadRequest("choose a persona");
        await pagerDuty.act(String(input.incident), action, person);
        return { ok: true };
      }
      default:
        throw new BadRequest(`no such sandbox action: ${what}`);
    }
  }

  /** A command's or action's ack body with text is the ephemeral reply Slack shows the person. */
  private ephemeralFromAck(user: string, json: Record<string, unknown> | undefined): void {
    if (!json || (typeof json.text !== "string" && !Array.isArray(json.blocks))) return;
    this.parts.workspace.addMessage({
      channel: SANDBOX_CHANNEL.id,
      user: SANDBOX_WORKSPACE.botUserId,
      ...(typeof json.text === "string" ? { text: json.text } : {}),
      ...(Array.isArray(json.blocks) ? { blocks: json.blocks } : {}),
      visibleTo: user,
    });
  }
}
