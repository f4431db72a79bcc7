import { createHmac, timingSafeEqual } from "node:crypto";
import type { ModalView } from "@slack/types";
import type { WebClient } from "@slack/web-api";

const MAC_BYTES = 32;
const MAC_CHARS = Math.ceil((MAC_BYTES * 4) / 3);

/**
 * Modal private_metadata only the bot can produce: HMAC-SHA256 over the modal's callback_id, the
 * user it was opened for and the metadata, under a key derived from the signing secret (which
 * every replica holds and nobody outside Slack and the bot does). A form edited, built by hand,
 * or opened for someone else does not open.
 */
export class ModalSeal {
  private readonly key: Buffer;

  constructor(signingSecret: string) {
    this.key = createHmac("sha256", signingSecret).update("keyops/modal-metadata/v1").digest();
  }

  /** `<mac><metadata>`: the first MAC_CHARS characters are the seal. */
  seal(callbackId: string, userId: string, metadata: string): string {
    return `${this.mac(callbackId, userId, metadata).toString("base64url")}${metadata}`;
  }

  /** The metadata a sealed value carries, or undefined when the seal does not match. */
  open(callbackId: string, userId: string, sealed: string | undefined): string | undefined {
    if (!sealed || sealed.length < MAC_CHARS) return undefined;
    const given = Buffer.from(sealed.slice(0, MAC_CHARS), "base64url");
    const metadata = sealed.slice(MAC_CHARS);
    const expected = this.mac(callbackId, userId, metadata);
    return given.length === MAC_BYTES && timingSafeEqual(given, expected) ? metadata : undefined;
  }

  private mac(callbackId: string, userId: string, metadata: string): Buffer {
    return createHmac("sha256", this.key).update(`${callbackId}\n${userId}\n${metadata}`).digest();
  }
}

/** Opens a modal of ours for the user who asked, its metadata sealed. */
export async function openSealedModal(
  client: WebClient,
  seal: ModalSeal,
  at: { triggerId: string; userId: string },
  view: ModalView,
): Promise<void> {
  const callbackId = view.callback_id ?? "";
  await client.views.open({
    trigger_id: at.triggerId,
    view: { ...view, private_metadata: seal.seal(callbackId, at.userId, view.private_metadata ?? "") },
  });
}
