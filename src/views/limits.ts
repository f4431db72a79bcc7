/** Block Kit limits (docs/PROTOCOLS.md) and a checker that lists every violation of a surface. */
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
  privateMetadata: 3000,
  callbackId: 255,
  messageText: 40000,
  optionText: 75,
  placeholder: 150,
} as const;

type Json = Record<string, unknown>;
export type SurfaceKind = "message" | "modal" | "home";

export function blockKitProblems(view: object, kind: SurfaceKind): string[] {
  const surface = view as Json;
  const problems: string[] = [];
  const blocks = (surface.blocks ?? []) as Json[];
  const maxBlocks = kind === "message" ? LIMITS.messageBlocks : LIMITS.modalBlocks;
  if (blocks.length > maxBlocks) problems.push(`${blocks.length} blocks (max ${maxBlocks})`);
  const over = (what: string, text: unknown, max: number) => {
    if (typeof text === "string" && text.length > max)
      problems.push(`${what}: ${text.length} chars (max ${max})`);
  };
  if (kind === "modal") {
    over("modal title", (surface.title as Json | undefined)?.text, LIMITS.modalTitle);
    over("modal submit", (surface.submit as Json | undefined)?.text, LIMITS.modalTitle);
    over("modal close", (surface.close as Json | undefined)?.text, LIMITS.modalTitle);
    over("private_metadata", surface.private_metadata, LIMITS.privateMetadata);
    over("callback_id", surface.callback_id, LIMITS.callbackId);
  }
  if (kind === "message") over("message text", surface.text, LIMITS.messageText);

  const blockIds = new Set<string>();
  blocks.forEach((block, index) => {
    const where = `block ${index} (${String(block.type)})`;
    const blockId = block.block_id;
    if (typeof blockId === "string") {
      over(`${where} block_id`, blockId, LIMITS.id);
      if (blockIds.has(blockId)) problems.push(`${where}: duplicate block_id ${blockId}`);
      blockIds.add(blockId);
    }
    const text = (block.text as Json | undefined)?.text;
    if (block.type === "header") over(`${where} text`, text, LIMITS.headerText);
    if (block.type === "section") {
      over(`${where} text`, text, LIMITS.sectionText);
      const fields = (block.fields ?? []) as Json[];
      if (fields.length > LIMITS.fields)
        problems.push(`${where}: ${fields.length} fields (max ${LIMITS.fields})`);
      for (const [i, field] of fields.entries()) over(`${where} field ${i}`, field.text, LIMITS.field);
      if (block.accessory) checkElement(block.accessory as Json, `${where} accessory`, over);
    }
    if (block.type === "context") {
      const elements = (block.elements ?? []) as Json[];
      if (elements.length > LIMITS.contextElements) problems.push(`${where}: ${elements.length} elements`);
      for (const [i, element] of elements.entries()) {
        over(`${where} element ${i}`, element.text, LIMITS.sectionText);
      }
    }
    if (block.type === "actions") {
      const elements = (block.elements ?? []) as Json[];
      if (elements.length > LIMITS.actionsElements) {
        problems.push(`${where}: ${elements.length} elements (max ${LIMITS.actionsElements})`);
      }
      const actionIds = new Set<string>();
      for (const [i, element] of elements.entries()) {
        checkElement(element, `${where} element ${i}`, over);
        const actionId = element.action_id;
        if (typeof actionId === "string") {
          if (actionIds.has(actionId)) problems.push(`${where}: duplicate action_id ${actionId}`);
          actionIds.add(actionId);
        }
      }
    }
    if (block.type === "input") {
      over(`${where} label`, (block.label as Json | undefined)?.text, 2000);
      if (block.element) checkElement(block.element as Json, `${where} element`, over);
    }
  });
  return problems;
}

function checkElement(
  element: Json,
  where: string,
  over: (what: string, text: unknown, max: number) => void,
) {
  over(`${where} action_id`, element.action_id, LIMITS.id);
  if (element.type === "button") {
    over(`${where} text`, (element.text as Json | undefined)?.text, LIMITS.buttonText);
    over(`${where} value`, element.value, LIMITS.buttonValue);
    over(`${where} url`, element.url, LIMITS.url);
  }
  over(`${where} placeholder`, (element.placeholder as Json | undefined)?.text, LIMITS.placeholder);
  for (const option of (element.options ?? []) as Json[]) {
    over(`${where} option`, (option.text as Json | undefined)?.text, LIMITS.optionText);
  }
}
