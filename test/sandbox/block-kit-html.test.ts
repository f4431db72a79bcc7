import { describe, expect, it } from "vitest";
import {
  blocksToHtml,
  homeToHtml,
  messageBodyToHtml,
  modalToHtml,
  mrkdwnToHtml,
  type RenderContext,
  UNKNOWN_MARK,
} from "../../src/sandbox/block-kit-html.js";

const ctx: RenderContext = {
  users: { U0RILEY: "Riley", U0AVERY: "Avery" },
  channels: { C0SEC: "security" },
  members: ["U0RILEY", "U0AVERY"],
};

describe("mrkdwn", () => {
  it("renders emphasis, code, quotes, mentions, links and dates as Slack does", () => {
    expect(mrkdwnToHtml("*Back up* the db, _pg_dump first_ and ~not this~", ctx)).toBe(
      "<b>Back up</b> the db, <i>pg_dump first</i> and <s>not this</s>",
    );
    expect(mrkdwnToHtml("`▓▓░░` 52%", ctx)).toBe("<code>▓▓░░</code> 52%");
    expect(mrkdwnToHtml("```a *b*```", ctx)).toBe('<pre class="bk-pre">a *b*</pre>');
    expect(mrkdwnToHtml("&gt; quoted\n> also", ctx)).toBe(
      '<span class="bk-quote">quoted</span><br><span class="bk-quote">also</span>',
    );
    expect(mrkdwnToHtml("<@U0RILEY> in <#C0SEC> <!here>", ctx)).toBe(
      '<span class="bk-mention">@Riley</span> in <span class="bk-mention">#security</span> <span class="bk-mention">@here</span>',
    );
    expect(mrkdwnToHtml("<https://example.com/?a=1&amp;b=2|the runbook>", ctx)).toBe(
      '<a href="https://example.com/?a=1&#38;b=2" target="_blank" rel="noopener">the runbook</a>',
    );
    expect(mrkdwnToHtml("<!date^1796172580^{date_short_pretty} {time}|2026-12-02T00:49:40Z>", ctx)).toBe(
      "Dec 2, 2026 00:49 UTC",
    );
    expect(mrkdwnToHtml("snake_case_name and 2*3*4", ctx)).toBe("snake_case_name and 2*3*4");
  });

  it("never lets text become markup", () => {
    const html = mrkdwnToHtml('&lt;script&gt;alert(1)&lt;/script&gt; & "x" <javascript:alert(1)|click>', ctx);
    expect(html).not.toMatch(/<script|<a /);
    expect(html).toContain("&lt;script&gt;");
    expect(
      blocksToHtml([{ type: "header", text: { type: "plain_text", text: "<img src=x onerror=1>" } }], ctx),
    ).toBe('<div class="bk-header">&#60;img src=x onerror=1&#62;</div>');
  });
});

describe("blocks", () => {
  it("sections with fields and accessories, context, dividers and headers", () => {
    const html = blocksToHtml(
      [
        { type: "header", text: { type: "plain_text", text: "#1 Key rotation" } },
        {
          type: "section",
          text: { type: "mrkdwn", text: "*Status*" },
          fields: [
            { type: "mrkdwn", text: "*Env*\nproduction" },
            { type: "plain_text", text: "two" },
          ],
          accessory: {
            type: "button",
            text: { type: "plain_text", text: "Open" },
            action_id: "open",
            value: "1",
          },
        },
        { type: "context", elements: [{ type: "mrkdwn", text: "_quiet_" }] },
        { type: "divider" },
      ],
      ctx,
    );
    expect(html).toContain('<div class="bk-header">#1 Key rotation</div>');
    expect(html).toContain(
      '<div class="bk-field"><b>Env</b><br>production</div><div class="bk-field">two</div>',
    );
    expect(html).toContain('data-action-id="open" data-type="button" data-value="1">Open</button>');
    expect(html).toContain('<div class="bk-context"><span class="bk-context-text"><i>quiet</i></span></div>');
    expect(html).toContain('<hr class="bk-divider">');
    expect(html).not.toContain(UNKNOWN_MARK);
  });

  it("actions: styled buttons with confirm dialogs, user and static selects, named by block and action", () => {
    const html = blocksToHtml(
      [
        {
          type: "actions",
          block_id: "step|w|s",
          elements: [
            {
              type: "button",
              text: { type: "plain_text", text: "Approve" },
              action_id: "approve",
              value: "w|s",
              style: "primary",
            },
            {
              type: "button",
              text: { type: "plain_text", text: "Cancel…" },
              action_id: "cancel",
              value: "w",
              style: "danger",
              confirm: {
                title: { type: "plain_text", text: "Cancel it?" },
                text: { type: "mrkdwn", text: "Steps *stay* done." },
                confirm: { type: "plain_text", text: "Continue" },
                deny: { type: "plain_text", text: "Keep it" },
              },
            },
            {
              type: "users_select",
              action_id: "assign",
              initial_user: "U0AVERY",
              placeholder: { type: "plain_text", text: "Assign…" },
            },
            {
              type: "static_select",
              action_id: "env",
              options: [
                { text: { type: "plain_text", text: "staging" }, value: "staging" },
                { text: { type: "plain_text", text: "production" }, value: "production" },
              ],
              initial_option: { text: { type: "plain_text", text: "production" }, value: "production" },
            },
          ],
        },
      ],
      ctx,
    );
    expect(html).toContain(
      '<button type="button" class="bk-button bk-primary" data-block-id="step|w|s" data-action-id="approve" data-type="button" data-value="w|s">Approve</button>',
    );
    expect(html).toContain('class="bk-button bk-danger"');
    expect(html).toContain(
      'data-confirm-title="Cancel it?" data-confirm-text="Steps &#60;b&#62;stay&#60;/b&#62; done." data-confirm-yes="Continue" data-confirm-no="Keep it"',
    );
    expect(html).toContain('<option value="U0AVERY" selected>Avery</option>');
    expect(html).toContain('<option value="U0RILEY">Riley</option>');
    expect(html).toContain('<option value="production" selected>production</option>');
  });

  it("an unknown block or element is a visible placeholder naming its type", () => {
    const html = blocksToHtml(
      [
        { type: "rich_text", elements: [] },
        { type: "actions", elements: [{ type: "datepicker", action_id: "d" }] },
        { type: "section", text: { type: "markdown", text: "x" } },
        {},
      ],
      ctx,
    );
    for (const type of ["rich_text", "datepicker", "markdown", "(no type)"]) {
      expect(html).toContain(`${UNKNOWN_MARK}="${type}"`);
      expect(html).toContain(`: ${type}</span>`);
    }
  });

  it("a message without blocks shows its text as mrkdwn", () => {
    expect(messageBodyToHtml({ text: "*hi* <@U0RILEY>" }, ctx)).toBe(
      '<div class="bk-text"><b>hi</b> <span class="bk-mention">@Riley</span></div>',
    );
  });
});

describe("views", () => {
  const modal = {
    type: "modal",
    callback_id: "skip",
    title: { type: "plain_text", text: "Skip a step" },
    submit: { type: "plain_text", text: "Skip" },
    close: { type: "plain_text", text: "Back" },
    blocks: [
      {
        type: "input",
        block_id: "reason",
        label: { type: "plain_text", text: "Reason" },
        hint: { type: "plain_text", text: "Why" },
        element: {
          type: "plain_text_input",
          action_id: "reason",
          multiline: true,
          min_length: 5,
          max_length: 500,
        },
      },
      {
        type: "input",
        block_id: "found_by",
        optional: true,
        label: { type: "plain_text", text: "Found by" },
        element: { type: "plain_text_input", action_id: "found_by", initial_value: 'a "scanner"' },
      },
    ],
  };

  it("a modal: title, inputs with labels, hints and limits, Close and Submit", () => {
    const html = modalToHtml(modal, ctx);
    expect(html).toContain('<div class="bk-modal-title">Skip a step</div>');
    expect(html).toContain(
      '<textarea class="bk-input" data-block-id="reason" data-action-id="reason" data-type="plain_text_input" maxlength="500" minlength="5" placeholder="" rows="3"></textarea>',
    );
    expect(html).toContain('value="a &#34;scanner&#34;"');
    expect(html).toContain('<span class="bk-optional">(optional)</span>');
    expect(html).toContain('data-modal="close">Back</button>');
    expect(html).toContain('data-modal="submit">Skip</button>');
    expect(html).not.toContain("bk-error");
  });

  it("a modal shows each field's validation error under it", () => {
    const html = modalToHtml(modal, ctx, { reason: "Give a reason of at least 5 characters." });
    expect(html).toContain('<div class="bk-input-block bk-has-error" data-block-id="reason">');
    expect(html).toContain(
      '<div class="bk-error" role="alert">Give a reason of at least 5 characters.</div>',
    );
  });

  it("the App Home renders its blocks; a view of another type is a placeholder", () => {
    expect(homeToHtml({ type: "home", blocks: [{ type: "divider" }] }, ctx)).toBe('<hr class="bk-divider">');
    expect(homeToHtml({ type: "workflow_step", blocks: [] }, ctx)).toContain(UNKNOWN_MARK);
    expect(modalToHtml({ type: "home" }, ctx)).toContain(UNKNOWN_MARK);
  });
});
