import type { View } from "@slack/types";

/** Block Kit limits (Slack's Block Kit reference) and a checker for any surface. */
export const LIMITS = {
  messageBlocks: 50,
  modalBlocks: 100,
  homeBlocks: 100,
  sectionText: 3000,
  field: 2000,
  fields: 10,
  headerText: 150,
  contextElements: 10,
  actionsElements: 25,
  id: 255,
  buttonText: 75,
  buttonValue: 2000,
  url: 3000,
  modalTitle: 24,
  modalButton: 24,
  privateMetadata: 3000,
  callbackId: 255,
  messageText: 40000,
  label: 2000,
  hint: 2000,
  placeholder: 150,
  options: 100,
  optionText: 75,
  optionValue: 150,
  inputLength: 3000,
  confirmTitle: 100,
  confirmText: 300,
  confirmButton: 30,
} as const;

export type SurfaceKind = "message" | "modal" | "home";

const MAX_BLOCKS: Record<SurfaceKind, number> = {
  message: LIMITS.messageBlocks,
  modal: LIMITS.modalBlocks,
  home: LIMITS.homeBlocks,
};

type Json = Record<string, unknown>;

/**
 * Every Block Kit violation in a message (`{ text?, blocks }`), modal or Home view, in words; an
 * empty list means Slack will take it. Used by the tests, and cheap enough to log in debug.
 */
export function blockKitProblems(
  surface: { text?: string; blocks: unknown[] } | View,
  kind: SurfaceKind,
): string[] {
  return new Checker().surface(surface as unknown as Json, kind);
}

class Checker {
  readonly problems: string[] = [];

  surface(surface: Json, kind: SurfaceKind): string[] {
    const blocks = Array.isArray(surface.blocks) ? (surface.blocks as Json[]) : [];
    if (blocks.length > MAX_BLOCKS[kind])
      this.problems.push(`${blocks.length} blocks (max ${MAX_BLOCKS[kind]})`);
    if (kind === "message") this.length("message text", surface.text, LIMITS.messageText);
    if (kind !== "message") {
      this.length("private_metadata", surface.private_metadata, LIMITS.privateMetadata);
      this.length("callback_id", surface.callback_id, LIMITS.callbackId);
    }
    if (kind === "modal") {
      this.plainText("modal title", surface.title, LIMITS.modalTitle, true);
      this.plainText("modal submit", surface.submit, LIMITS.modalButton);
      this.plainText("modal close", surface.close, LIMITS.modalButton);
    }
    const blockIds = new Set<string>();
    blocks.forEach((block, index) => {
      const where = `block ${index} (${String(block.type)})`;
      if (typeof block.block_id === "string") {
        this.length(`${where} block_id`, block.block_id, LIMITS.id);
        this.once(blockIds, block.block_id, `${where}: duplicate block_id`);
      }
      this.block(block, where);
    });
    return this.problems;
  }

  /** Ids that must be unique within their surface or block. */
  private once(seen: Set<string>, id: string, problem: string): void {
    if (seen.has(id)) this.problems.push(`${problem} ${id}`);
    seen.add(id);
  }

  private block(block: Json, where: string): void {
    switch (block.type) {
      case "header":
        this.plainText(`${where} text`, block.text, LIMITS.headerText, true);
        break;
      case "section": {
        const fields = Array.isArray(block.fields) ? (block.fields as Json[]) : [];
        if (block.text === undefined && fields.length === 0)
          this.problems.push(`${where}: neither text nor fields`);
        if (block.text !== undefined) this.text(`${where} text`, block.text, LIMITS.sectionText, true);
        if (fields.length > LIMITS.fields)
          this.problems.push(`${where}: ${fields.length} fields (max ${LIMITS.fields})`);
        fields.forEach((field, i) => {
          this.text(`${where} field ${i}`, field, LIMITS.field, true);
        });
        if (block.accessory) this.element(block.accessory as Json, `${where} accessory`);
        break;
      }
      case "context": {
        const elements = Array.isArray(block.elements) ? (block.elements as Json[]) : [];
        if (elements.length === 0 || elements.length > LIMITS.contextElements) {
          this.problems.push(`${where}: ${elements.length} elements (1 to ${LIMITS.contextElements})`);
        }
        elements.forEach((element, i) => {
          if (element.type === "mrkdwn" || element.type === "plain_text") {
            this.text(`${where} element ${i}`, element, LIMITS.sectionText, true);
          }
        });
        break;
      }
      case "actions": {
        const elements = Array.isArray(block.elements) ? (block.elements as Json[]) : [];
        if (elements.length === 0 || elements.length > LIMITS.actionsElements) {
          this.problems.push(`${where}: ${elements.length} elements (1 to ${LIMITS.actionsElements})`);
        }
        const actionIds = new Set<string>();
        elements.forEach((element, i) => {
          this.element(element, `${where} element ${i}`);
          if (typeof element.action_id === "string")
            this.once(actionIds, element.action_id, `${where}: duplicate action_id`);
        });
        break;
      }
      case "input":
        this.plainText(`${where} label`, block.label, LIMITS.label, true);
        if (block.hint !== undefined) this.plainText(`${where} hint`, block.hint, LIMITS.hint);
        if (block.element) this.element(block.element as Json, `${where} element`);
        else this.problems.push(`${where}: no element`);
        break;
    }
  }

  private element(element: Json, where: string): void {
    this.length(`${where} action_id`, element.action_id, LIMITS.id);
    if (element.type === "button") {
      this.plainText(`${where} text`, element.text, LIMITS.buttonText, true);
      this.length(`${where} value`, element.value, LIMITS.buttonValue);
      this.length(`${where} url`, element.url, LIMITS.url);
    }
    if (element.placeholder !== undefined)
      this.plainText(`${where} placeholder`, element.placeholder, LIMITS.placeholder);
    if (Array.isArray(element.options)) {
      const options = element.options as Json[];
      if (options.length > LIMITS.options)
        this.problems.push(`${where}: ${options.length} options (max ${LIMITS.options})`);
      options.forEach((option, i) => {
        this.option(option, `${where} option ${i}`);
      });
    }
    if (element.initial_option) this.option(element.initial_option as Json, `${where} initial_option`);
    if (element.type === "plain_text_input") this.textInput(element, where);
    if (element.confirm) this.confirm(element.confirm as Json, `${where} confirm`);
  }

  private option(option: Json, where: string): void {
    this.text(`${where} text`, option.text, LIMITS.optionText, true);
    this.length(`${where} value`, option.value, LIMITS.optionValue);
  }

  private textInput(element: Json, where: string): void {
    const min = typeof element.min_length === "number" ? element.min_length : 0;
    const max = typeof element.max_length === "number" ? element.max_length : LIMITS.inputLength;
    if (max > LIMITS.inputLength)
      this.problems.push(`${where}: max_length ${max} (max ${LIMITS.inputLength})`);
    if (min > max) this.problems.push(`${where}: min_length ${min} above max_length ${max}`);
    this.length(`${where} initial_value`, element.initial_value, max);
  }

  private confirm(confirm: Json, where: string): void {
    this.plainText(`${where} title`, confirm.title, LIMITS.confirmTitle, true);
    this.text(`${where} text`, confirm.text, LIMITS.confirmText, true);
    this.plainText(`${where} confirm`, confirm.confirm, LIMITS.confirmButton, true);
    this.plainText(`${where} deny`, confirm.deny, LIMITS.confirmButton, true);
  }

  /** A text object of either type. */
  private text(what: string, object: unknown, max: number, required = false): void {
    const text = (object as Json | undefined)?.text;
    if (typeof text !== "string") {
      if (required || object !== undefined) this.problems.push(`${what}: missing`);
      return;
    }
    if (text.length === 0) this.problems.push(`${what}: empty`);
    this.length(what, text, max);
  }

  /** A text object that Slack accepts only as plain_text (headers, buttons, labels, titles). */
  private plainText(what: string, object: unknown, max: number, required = false): void {
    if (object !== undefined && (object as Json).type !== "plain_text")
      this.problems.push(`${what}: not plain_text`);
    this.text(what, object, max, required);
  }

  private length(what: string, text: unknown, max: number): void {
    if (typeof text === "string" && text.length > max)
      this.problems.push(`${what}: ${text.length} chars (max ${max})`);
  }
}
