import { readdirSync, readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import {
  homeToHtml,
  messageBodyToHtml,
  modalToHtml,
  UNKNOWN_MARK,
} from "../../src/sandbox/block-kit-html.js";
import { renderContext } from "../../src/sandbox/channel-view.js";
import { fileHtmlPage } from "../../src/sandbox/page.js";
import { everySurface, type Surface } from "../views/every-state-cases.js";

// The sandbox page shows whatever the bot sends; nothing the bot can produce may fall back to
// the unknown-type placeholder. The cases are the views' own every-state cases.

const ctx = renderContext();
const placeholders = (html: string) =>
  [...html.matchAll(new RegExp(`${UNKNOWN_MARK}="([^"]*)"`, "g"))].map((m) => m[1]);

const surfaces = everySurface();
const ofKind = (kind: Surface["kind"]) => surfaces.filter((s) => s.kind === kind);

/**
 * The surface builders: what src/views exports named `render…` or `…Modal`. Everything the bot
 * sends is made by one of them (what else src/views exports are their parts: blocks, lines, ids).
 */
const VIEWS = new URL("../../src/views/", import.meta.url);
const viewModules = readdirSync(VIEWS).filter((f) => f.endsWith(".ts"));
const BUILDER_NAME = /^render[A-Z]\w*$|^\w+Modal$/;

describe("the sandbox renders everything the bot produces", () => {
  it("every workflow message in every state, status, help, the thread's lines and the ephemerals", () => {
    const messages = ofKind("message");
    expect(messages.length).toBeGreaterThan(1000);
    for (const { name, builder, view } of messages) {
      const html = messageBodyToHtml(view as { text?: string; blocks?: unknown[] }, ctx);
      expect(placeholders(html), name).toEqual([]);
      expect(html, name).not.toMatch(/undefined|\[object/);
      if (builder.name === "renderWorkflowMessage") expect(html, name).toContain("bk-header");
    }
  });

  it("every modal, with and without field errors", () => {
    for (const { name, view } of ofKind("modal")) {
      const modal = view as { blocks: { block_id?: string; type: string }[] };
      const errors = Object.fromEntries(
        modal.blocks.flatMap((b) => (b.type === "input" && b.block_id ? [[b.block_id, "Fix this."]] : [])),
      );
      for (const html of [modalToHtml(modal, ctx), modalToHtml(modal, ctx, errors)])
        expect(placeholders(html), name).toEqual([]);
      if (Object.keys(errors).length > 0)
        expect(modalToHtml(modal, ctx, errors), name).toContain('class="bk-error"');
    }
  });

  it("the App Home, empty and full, and the post-mortem's file", () => {
    for (const { name, view } of ofKind("home"))
      expect(placeholders(homeToHtml(view, ctx)), name).toEqual([]);
    for (const { name, view } of ofKind("file")) {
      expect(view, name).toBeTypeOf("string");
      expect(fileHtmlPage(name, view as string), name).not.toMatch(/undefined|\[object/);
    }
  });

  it("every surface builder src/views exports has its cases here", async () => {
    const exported: { name: string; builder: unknown }[] = [];
    for (const file of viewModules) {
      const module = (await import(new URL(file, VIEWS).href)) as Record<string, unknown>;
      for (const [name, builder] of Object.entries(module))
        if (typeof builder === "function" && BUILDER_NAME.test(name))
          exported.push({ name: `${file} ${name}`, builder });
    }
    expect(exported.length).toBeGreaterThan(10);
    const covered = new Set<unknown>(surfaces.map((s) => s.builder));
    expect(exported.filter((e) => !covered.has(e.builder)).map((e) => e.name)).toEqual([]);
  });

  it("everything the rest of src imports from src/views is a builder, or one of the named parts", () => {
    // Ids and readers of what Slack sends back, and text escaping: none of them makes a surface.
    const NOT_SURFACES = new Set([
      "ACTION",
      "VIEW",
      "OFFER_ACTION_PATTERN",
      "StepRef",
      "ModalMetadata",
      "decodeMetadata",
      "decodeOfferRef",
      "decodeStepRef",
      "stepRefFromBlockId",
      "workflowIdOfAction",
      "readDeclareIncident",
      "readReason",
      "StatusData",
      "slackMentions",
    ]);
    const SRC = new URL("../../src/", import.meta.url);
    const files = readdirSync(SRC, { recursive: true, encoding: "utf8" }).filter(
      (f) => f.endsWith(".ts") && !f.startsWith("views/"),
    );
    const imported = new Set<string>();
    for (const file of files) {
      const text = readFileSync(new URL(file, SRC), "utf8");
      for (const m of text.matchAll(
        /import\s*(?:type\s*)?\{([^}]*)\}\s*from\s*"(?:\.\.\/)+views\/[\w-]+\.js"/g,
      ))
        for (const name of (m[1] ?? "").split(",")) {
          const bare = name.replace(/^\s*type\s+/, "").trim();
          if (bare) imported.add(bare);
        }
    }
    expect(imported.size).toBeGreaterThan(10);
    const unknown = [...imported].filter((name) => !BUILDER_NAME.test(name) && !NOT_SURFACES.has(name));
    expect(unknown).toEqual([]);
  });
});
