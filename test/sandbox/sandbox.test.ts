import { readdirSync, readFileSync, readlinkSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { connect } from "node:net";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { removeEmbeddedDataDir } from "../../src/db/embedded.js";
import { freePort } from "../../src/net.js";
import type { PageState } from "../../src/sandbox/channel-view.js";
import { PERSONAS } from "../../src/sandbox/people.js";
import { type Sandbox, startSandbox } from "../../src/sandbox/start.js";
import { eventually } from "../support/bot.js";

// The sandbox through its own HTTP surface (what the page's script does), in this process: the
// modals and their errors, ephemerals, threads, edits, the App Home, PagerDuty and the post-mortem
// file, and that it listens on loopback only.

let sandbox: Sandbox;
let dir = "";
let pgPort = 0;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), "keyops-sandbox-http-"));
  pgPort = await freePort();
  sandbox = await startSandbox(0, {
    KEYOPS_DATA_DIR: path.join(dir, ".data"),
    KEYOPS_EMBEDDED_PG_PORT: String(pgPort),
    KEYOPS_LOG_LEVEL: "error",
  });
}, 180_000);

afterAll(async () => {
  await sandbox?.stop();
  if (dir)
    await removeEmbeddedDataDir(path.join(dir, ".data")).finally(() =>
      rm(dir, { recursive: true, force: true }),
    );
}, 60_000);

async function act(what: string, as: { id: string }, body: Record<string, unknown> = {}) {
  const response = await fetch(new URL(`/sandbox/${what}`, sandbox.url), {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ as: as.id, ...body }),
  });
  return { status: response.status, json: (await response.json()) as Record<string, unknown> };
}

/** What the page shows `as` now: the first server-sent event of a fresh connection. */
async function state(as: { id: string }): Promise<PageState> {
  const controller = new AbortController();
  const response = await fetch(new URL(`/events?as=${as.id}`, sandbox.url), { signal: controller.signal });
  expect(response.headers.get("content-type")).toBe("text/event-stream");
  const reader = (response.body as ReadableStream<Uint8Array>).getReader();
  let text = "";
  while (!text.includes("\n\n")) {
    const { value, done } = await reader.read();
    if (done) break;
    text += Buffer.from(value).toString("utf8");
  }
  controller.abort();
  const data = /^data: (.*)$/m.exec(text)?.[1];
  if (!data) throw new Error(`no state event in ${text.slice(0, 200)}`);
  return JSON.parse(data) as PageState;
}

/** The buttons a workflow message offers, in order: action id, block id, value. */
function buttons(html: string): { actionId: string; blockId: string; value: string; ts: string }[] {
  const found: { actionId: string; blockId: string; value: string; ts: string }[] = [];
  for (const message of html.split('<div class="sb-message').slice(1)) {
    const ts = /data-ts="([^"]+)"/.exec(message)?.[1] ?? "";
    for (const m of message.matchAll(
      /data-block-id="([^"]*)" data-action-id="([^"]*)" data-type="button" data-value="([^"]*)"/g,
    ))
      found.push({
        blockId: m[1] ?? "",
        actionId: m[2] ?? "",
        value: (m[3] ?? "").replace(/&#124;/g, "|"),
        ts,
      });
  }
  return found;
}

/** Every TCP socket in LISTEN state (/proc/net/tcp and tcp6): its address, port and inode. */
function listeningSockets(): { address: string; port: number; inode: string; loopback: boolean }[] {
  return ["/proc/net/tcp", "/proc/net/tcp6"].flatMap((file) =>
    readFileSync(file, "utf8")
      .split("\n")
      .slice(1)
      .map((line) => line.trim().split(/\s+/))
      .filter((f) => f[3] === "0A")
      .map((f) => {
        const [hex = "", port = ""] = (f[1] ?? "").split(":");
        // IPv4 is one little-endian word; IPv6 four of them (::1 is 0…0 then 01000000).
        const address =
          hex.length === 8
            ? (hex.match(/../g) ?? [])
                .reverse()
                .map((b) => Number.parseInt(b, 16))
                .join(".")
            : hex;
        const loopback =
          /^127\./.test(address) ||
          hex === "00000000000000000000000001000000" ||
          /^0000000000000000FFFF0000[0-9A-F]{6}7F$/i.test(hex); // ::ffff:127.x.x.x
        return { address, port: Number.parseInt(port, 16), inode: f[9] ?? "", loopback };
      }),
  );
}

/** The inodes of this process's sockets (/proc/self/fd links to socket:[inode]). */
function ownSocketInodes(): Set<string> {
  const inodes = new Set<string>();
  for (const fd of readdirSync("/proc/self/fd")) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/self/fd/${fd}`));
      if (m?.[1]) inodes.add(m[1]);
    } catch {
      // closed meanwhile
    }
  }
  return inodes;
}

const unescapeHtml = (html: string) =>
  html.replace(/&#(\d+);/g, (_, code: string) => String.fromCharCode(Number(code)));

describe("the sandbox's page and stand-ins", () => {
  it("serves the page and its script, with the sandbox banner", async () => {
    const page = await fetch(sandbox.url);
    expect(page.status).toBe(200);
    const html = await page.text();
    expect(html).toContain("SANDBOX");
    expect(html).toContain('<option value="U0RILEYREQ">Riley (requester)</option>');
    expect((await fetch(new URL("/sandbox.js", sandbox.url))).status).toBe(200);
    expect((await act("command", { id: "U0NOBODY" }, { text: "/keyops help" })).status).toBe(400);
  });

  it("listens on loopback only: the page, the bot, PagerDuty and the database refuse another address", async () => {
    const ports = {
      page: Number(new URL(sandbox.url).port),
      bot: sandbox.bot.port,
      pagerDuty: sandbox.pagerDutyPort,
      database: pgPort,
    };
    // The kernel's own word: every listening socket of this process (the page, the bot and
    // PagerDuty run in it) and the embedded database's, with the address each is bound to.
    const listening = listeningSockets();
    const own = ownSocketInodes();
    const ours = listening.filter((l) => own.has(l.inode) || l.port === ports.database);
    for (const [name, port] of Object.entries(ports))
      expect(
        ours.filter((l) => l.port === port).map((l) => l.address),
        `${name} (port ${port})`,
      ).not.toEqual([]);
    for (const l of ours)
      expect(l, `port ${l.port} listens on ${l.address}`).toMatchObject({ loopback: true });

    // And from outside: another address of this machine, where there is one, is refused.
    const other = Object.values(os.networkInterfaces())
      .flat()
      .find((a) => a && a.family === "IPv4" && !a.internal)?.address;
    if (!other) return;
    for (const port of Object.values(ports)) {
      const refused = await new Promise<boolean>((resolve) => {
        const socket = connect({ host: other, port }, () => {
          socket.destroy();
          resolve(false);
        });
        socket.once("error", () => resolve(true));
      });
      expect({ port, refused }).toEqual({ port, refused: true });
    }
  });

  it("a command the workspace lacks is answered by Slackbot, only to the person", async () => {
    await act("command", PERSONAS.bystander, { text: "/rotate-everything now" });
    expect(unescapeHtml((await state(PERSONAS.bystander)).channel)).toContain(
      "is not a command of this workspace",
    );
    expect((await state(PERSONAS.requester)).channel).not.toContain("rotate-everything");
  });

  it("/key-compromised with no text: a modal for that person, field errors in place, then the workflow", async () => {
    await act("command", PERSONAS.requester, { text: "/key-compromised" });
    const opened = await eventually(
      "the incident form",
      async () => (await state(PERSONAS.requester)).modalId,
    );
    expect((await state(PERSONAS.approver)).modal).toBeNull();
    const form = (await state(PERSONAS.requester)).modal ?? "";
    expect(form).toContain("Key compromised");
    expect(form).toContain('data-modal="submit">Declare incident</button>');

    const rejected = await act("submit", PERSONAS.requester, {
      viewId: opened,
      values: { summary: { summary: { type: "plain_text_input", value: "" } } },
    });
    expect(rejected.json).toMatchObject({ ok: false });
    const withErrors = (await state(PERSONAS.requester)).modal ?? "";
    expect(withErrors).toContain('<div class="bk-error" role="alert">Say what was exposed.</div>');

    const submitted = await act("submit", PERSONAS.requester, {
      viewId: opened,
      values: {
        environment: { environment: { type: "static_select", selected_option: { value: "staging" } } },
        summary: { summary: { type: "plain_text_input", value: "The staging key was pasted in a CI log" } },
        found_by: { found_by: { type: "plain_text_input", value: "secret scanner" } },
        severity: { severity: { type: "static_select", selected_option: { value: "high" } } },
      },
    });
    expect(submitted.json).toEqual({ ok: true });
    expect((await state(PERSONAS.requester)).modal).toBeNull();
    const channel = await eventually("the incident message", async () => {
      const html = (await state(PERSONAS.bystander)).channel;
      return html.includes("Staging encryption key compromised") && html.includes("sb-thread")
        ? html
        : undefined;
    });
    expect(channel).toContain("The staging key was pasted in a CI log");
    // PagerDuty was paged; the panel lists it.
    await eventually("the page in PagerDuty", async () =>
      (await state(PERSONAS.onCall)).pagerduty.includes("Staging encryption key compromised"),
    );
  }, 120_000);

  it("works the incident to the end: edits in place, the post-mortem shared as a file in the thread", async () => {
    for (let round = 0; round < 60; round++) {
      const { channel } = await state(PERSONAS.approver);
      const incident = channel
        .split('<div class="sb-message')
        .find((m) => m.includes("Staging encryption key compromised"));
      if (incident?.includes("every step done or skipped")) break;
      const next = buttons(channel).find((b) =>
        ["step_done", "step_run", "step_approve"].includes(b.actionId),
      );
      if (!next) {
        await new Promise((resolve) => setTimeout(resolve, 200));
        continue;
      }
      const before = channel;
      await act("action", PERSONAS.approver, {
        actionId: next.actionId,
        blockId: unescapeHtml(next.blockId),
        type: "button",
        value: unescapeHtml(next.value),
        container: { kind: "message", ts: next.ts },
      });
      await eventually(
        "the message to change",
        async () => (await state(PERSONAS.approver)).channel !== before,
      );
    }
    const { channel } = await state(PERSONAS.approver);
    expect(channel).toContain("every step done or skipped");
    expect(channel).toContain('<span class="sb-edited">(edited)</span>');
    const file = /href="(\/files\/[^"]+)"/.exec(channel)?.[1];
    expect(file, "a shared post-mortem").toBeDefined();
    const postmortem = await (await fetch(new URL(file ?? "", sandbox.url))).text();
    expect(postmortem).toContain("SANDBOX");
    expect(unescapeHtml(postmortem)).toMatch(/Post-mortem|post-mortem/);
  }, 240_000);

  it("the App Home, published when opened, for that person", async () => {
    expect((await state(PERSONAS.requester)).home).toContain("Opening the App Home");
    await act("home", PERSONAS.requester);
    const home = await eventually("the App Home", async () => {
      const html = (await state(PERSONAS.requester)).home;
      return html.includes("Opening") ? undefined : html;
    });
    expect(home).toContain("production");
    expect(home).not.toContain("data-unknown-type");
  }, 60_000);

  it("acknowledging in PagerDuty reaches the bot through its signed webhook; a user select assigns a step", async () => {
    await act("command", PERSONAS.requester, { text: "/key-rotate development" });
    const id = await eventually("the page in PagerDuty", async () => {
      const incident = (await state(PERSONAS.onCall)).pagerduty
        .split('<div class="pd-incident')
        .find((i) => i.includes("Development key rotation"));
      return incident && /data-pd-incident="([^"]+)" data-pd-action="acknowledge"/.exec(incident)?.[1];
    });
    expect((await act("pagerduty", PERSONAS.onCall, { incident: id, action: "acknowledge" })).json).toEqual({
      ok: true,
    });
    await eventually("the acknowledgement in Slack", async () =>
      (await state(PERSONAS.requester)).channel.includes("Acknowledged by Oscar"),
    );

    // A user select: the requester assigns the backup to Blair; the select then shows Blair.
    const rotation = (await state(PERSONAS.requester)).channel
      .split('<div class="sb-message')
      .find((m) => m.includes("Development key rotation") && m.includes("bk-header"));
    const ts = /data-ts="([^"]+)"/.exec(rotation ?? "")?.[1];
    const blockId = /data-block-id="([^"]*backup-database)" data-action-id="step_assign"/.exec(
      rotation ?? "",
    )?.[1];
    expect({ ts: !!ts, blockId: !!blockId }).toEqual({ ts: true, blockId: true });
    await act("action", PERSONAS.requester, {
      actionId: "step_assign",
      blockId: unescapeHtml(blockId ?? ""),
      type: "users_select",
      value: PERSONAS.bystander.id,
      container: { kind: "message", ts },
    });
    await eventually("the assignment", async () => {
      const html = (await state(PERSONAS.requester)).channel;
      return (
        html.includes('Assigned to <span class="bk-mention">@Blair</span>') &&
        html.includes(`<option value="${PERSONAS.bystander.id}" selected>Blair</option>`)
      );
    });
  }, 60_000);

  it("resolving in PagerDuty's panel reaches the bot through its signed webhook: the message and its thread say so", async () => {
    await act("command", PERSONAS.requester, {
      text: "/key-compromised production The production key was in a screenshot",
    });
    const incidentOf = async () =>
      (await state(PERSONAS.onCall)).pagerduty
        .split('<div class="pd-incident')
        .find((i) => i.includes("Production encryption key compromised"));
    const id = await eventually("the page in PagerDuty", async () => {
      const incident = await incidentOf();
      return incident && /data-pd-incident="([^"]+)" data-pd-action="resolve"/.exec(incident)?.[1];
    });
    expect((await act("pagerduty", PERSONAS.onCall, { incident: id, action: "resolve" })).json).toEqual({
      ok: true,
    });
    // The bot took the webhook: the message's page line and its thread's line name who resolved it.
    const message = await eventually("the resolved page in Slack", async () => {
      const chunks = (await state(PERSONAS.requester)).channel.split('<div class="sb-message');
      const html = chunks.find(
        (m) => m.includes("Production encryption key compromised") && m.includes("bk-header"),
      );
      const ts = /data-ts="([^"]+)"/.exec(html ?? "")?.[1];
      const thread = chunks.filter((m) => ts && m.includes(`data-thread-ts="${ts}"`)).join("");
      return html?.includes("✔️ Page resolved by Oscar") &&
        thread.includes("Oscar via PagerDuty resolved the page")
        ? html
        : undefined;
    });
    // Resolved: no page buttons left in the message, none in the panel.
    expect(message).not.toMatch(/data-action-id="page_(acknowledge|resolve)"/);
    const incident = (await incidentOf()) ?? "";
    expect(incident).toContain('<span class="pd-status">resolved</span>');
    expect(incident).toContain("· by Oscar");
    expect(incident).not.toContain("data-pd-action");
  }, 60_000);
});
