import { describe, expect, it } from "vitest";
import { blockKitProblems, LIMITS } from "../../src/views/limits.js";
import { long } from "./fixtures.js";

const plain = (text: string) => ({ type: "plain_text", text });
const mrkdwn = (text: string) => ({ type: "mrkdwn", text });
const button = (extra: Record<string, unknown> = {}) => ({
  type: "button",
  action_id: "a",
  text: plain("Go"),
  value: "v",
  ...extra,
});

describe("blockKitProblems", () => {
  it("passes a well-formed message", () => {
    expect(
      blockKitProblems(
        {
          text: "fallback",
          blocks: [
            { type: "header", text: plain("Title") },
            { type: "section", text: mrkdwn("hi"), fields: [mrkdwn("a"), mrkdwn("b")] },
            { type: "context", elements: [mrkdwn("small")] },
            { type: "actions", block_id: "x", elements: [button()] },
            { type: "divider" },
          ],
        },
        "message",
      ),
    ).toEqual([]);
  });

  it("counts blocks per surface: 50 in a message, 100 in a modal or the Home tab", () => {
    const blocks = (n: number) => Array.from({ length: n }, () => ({ type: "divider" }));
    expect(blockKitProblems({ blocks: blocks(51) }, "message")).toEqual(["51 blocks (max 50)"]);
    expect(blockKitProblems({ blocks: blocks(51) }, "home")).toEqual([]);
    expect(blockKitProblems({ type: "home", blocks: blocks(101) } as never, "home")).toEqual([
      "101 blocks (max 100)",
    ]);
  });

  it("catches text too long, empty or of the wrong type", () => {
    const problems = blockKitProblems(
      {
        text: long(40_001),
        blocks: [
          { type: "header", text: plain(long(151)) },
          { type: "header", text: mrkdwn("bold") },
          { type: "section", text: mrkdwn(long(3001)) },
          { type: "section", text: mrkdwn("") },
          { type: "section" },
          { type: "section", fields: Array.from({ length: 11 }, () => mrkdwn(long(2001))).slice(0, 11) },
          { type: "context", elements: Array.from({ length: 11 }, () => mrkdwn("x")) },
        ],
      },
      "message",
    );
    expect(problems).toEqual([
      "message text: 40001 chars (max 40000)",
      "block 0 (header) text: 151 chars (max 150)",
      "block 1 (header) text: not plain_text",
      "block 2 (section) text: 3001 chars (max 3000)",
      "block 3 (section) text: empty",
      "block 4 (section): neither text nor fields",
      "block 5 (section): 11 fields (max 10)",
      ...Array.from({ length: 11 }, (_, i) => `block 5 (section) field ${i}: 2001 chars (max 2000)`),
      "block 6 (context): 11 elements (1 to 10)",
    ]);
  });

  it("catches ids, buttons, confirm dialogs and actions blocks out of bounds", () => {
    const problems = blockKitProblems(
      {
        blocks: [
          { type: "section", block_id: "a", text: mrkdwn("x") },
          {
            type: "actions",
            block_id: "a",
            elements: [
              button({ action_id: long(256), text: plain(long(76)), value: long(2001), url: long(3001) }),
              button({
                action_id: "b",
                confirm: {
                  title: plain(long(101)),
                  text: mrkdwn(long(301)),
                  confirm: plain(long(31)),
                  deny: plain("No"),
                },
              }),
              button({ action_id: "b" }),
            ],
          },
          {
            type: "actions",
            block_id: long(256),
            elements: Array.from({ length: 26 }, (_, i) => button({ action_id: `x${i}` })),
          },
          { type: "actions", elements: [] },
        ],
      },
      "message",
    );
    expect(problems).toEqual([
      "block 1 (actions): duplicate block_id a",
      "block 1 (actions) element 0 action_id: 256 chars (max 255)",
      "block 1 (actions) element 0 text: 76 chars (max 75)",
      "block 1 (actions) element 0 value: 2001 chars (max 2000)",
      "block 1 (actions) element 0 url: 3001 chars (max 3000)",
      "block 1 (actions) element 1 confirm title: 101 chars (max 100)",
      "block 1 (actions) element 1 confirm text: 301 chars (max 300)",
      "block 1 (actions) element 1 confirm confirm: 31 chars (max 30)",
      "block 1 (actions): duplicate action_id b",
      "block 2 (actions) block_id: 256 chars (max 255)",
      "block 2 (actions): 26 elements (1 to 25)",
      "block 3 (actions): 0 elements (1 to 25)",
    ]);
  });

  it("catches modal title, buttons, metadata, callback id and inputs out of bounds", () => {
    const problems = blockKitProblems(
      {
        type: "modal",
        callback_id: long(256),
        title: plain(long(25)),
        submit: plain(long(25)),
        close: plain(long(25)),
        private_metadata: long(3001),
        blocks: [
          {
            type: "input",
            block_id: "r",
            label: plain(long(2001)),
            element: {
              type: "plain_text_input",
              action_id: "r",
              min_length: 10,
              max_length: 5,
              initial_value: long(6),
            },
          },
          {
            type: "input",
            block_id: "s",
            label: plain("Pick"),
            element: {
              type: "static_select",
              action_id: "s",
              placeholder: plain(long(151)),
              options: [{ text: plain(long(76)), value: long(151) }],
            },
          },
          {
            type: "input",
            block_id: "t",
            label: plain("Big"),
            element: { type: "plain_text_input", action_id: "t", max_length: 3001 },
          },
        ],
      } as never,
      "modal",
    );
    expect(problems).toEqual([
      `private_metadata: 3001 chars (max ${LIMITS.privateMetadata})`,
      "callback_id: 256 chars (max 255)",
      "modal title: 25 chars (max 24)",
      "modal submit: 25 chars (max 24)",
      "modal close: 25 chars (max 24)",
      "block 0 (input) label: 2001 chars (max 2000)",
      "block 0 (input) element: min_length 10 above max_length 5",
      "block 0 (input) element initial_value: 6 chars (max 5)",
      "block 1 (input) element placeholder: 151 chars (max 150)",
      "block 1 (input) element option 0 text: 76 chars (max 75)",
      "block 1 (input) element option 0 value: 151 chars (max 150)",
      "block 2 (input) element: max_length 3001 (max 3000)",
    ]);
  });
});
