import { mkdir, open, readFile } from "node:fs/promises";
import path from "node:path";
import type { PrismaClient } from "../generated/prisma/client.js";
import type { Logger } from "../logger.js";
import { type ChainHead, readChainHead } from "../workflows/audit-log.js";
import type { WorkflowPublisher } from "../workflows/ports.js";
import type { TimelineEvent, WorkflowSnapshot } from "../workflows/types.js";

// The audit chain's head published outside the database: one JSON line per publication in an
// append-only file (mode 0600), and through any sink the composition root adds (the security
// channel's line). `keyops audit verify` compares the database with the last line.

export interface PublishedHead extends ChainHead {
  /** Why it was published: "interval", "workflow #12 resolved", "keyops audit publish", "stop". */
  reason: string;
}

/** Where a published head goes besides the file, e.g. a line in the security channel. */
export type AuditHeadSink = (head: PublishedHead) => Promise<void>;

/** The security channel's line for a head: names the event and its hash, nothing else. */
export function auditHeadLine(head: PublishedHead): string {
  return `:link: Audit chain head: event #${head.sequence}, hash ${head.hash} (${head.reason}, ${head.publishedAt})`;
}

/** Every head published in `file`, oldest first; a file that does not exist holds none. */
export async function readPublishedHeads(file: string): Promise<PublishedHead[]> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw error;
  }
  const heads: PublishedHead[] = [];
  for (const line of text.split("\n")) {
    if (line.trim() === "") continue;
    try {
      const value = JSON.parse(line) as Partial<PublishedHead>;
      if (
        typeof value.sequence === "number" &&
        typeof value.hash === "string" &&
        typeof value.publishedAt === "string"
      )
        heads.push({
          sequence: value.sequence,
          hash: value.hash,
          publishedAt: value.publishedAt,
          reason: String(value.reason ?? ""),
        });
    } catch {
      // a line cut short by a crash mid-write: the ones before it still count
    }
  }
  return heads;
}

/** The last head in `file`, if any. */
export async function lastPublishedHead(file: string): Promise<PublishedHead | undefined> {
  return (await readPublishedHeads(file)).at(-1);
}

/** Appends one head to `file`: created 0600, and made 0600 again if someone loosened it. */
export async function appendPublishedHead(file: string, head: PublishedHead): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  const handle = await open(file, "a", 0o600);
  try {
    if (((await handle.stat()).mode & 0o077) !== 0) await handle.chmod(0o600);
    await handle.appendFile(`${JSON.stringify(head)}\n`);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * Publishes the chain's head: to the file, then to each sink. A head already published (nothing
 * appended since) is not published again, so calling it at every workflow's end and on a timer
 * costs one query when nothing happened.
 */
export class AuditHeadPublisher {
  readonly #sinks: AuditHeadSink[] = [];
  #last: { sequence: number; hash: string } | undefined;
  #running: Promise<PublishedHead | undefined> = Promise.resolve(undefined);

  constructor(
    private readonly prisma: PrismaClient,
    readonly file: string,
    private readonly log: Logger,
  ) {}

  /** Adds where heads go besides the file (the bot adds the security channel's line). */
  addSink(sink: AuditHeadSink): void {
    this.#sinks.push(sink);
  }

  /** Publishes the current head unless it was the last one published; never throws (logs instead). */
  publish(reason: string): Promise<PublishedHead | undefined> {
    return this.publishOrThrow(reason).catch((error: Error) => {
      this.log.warn("could not publish the audit chain head", { error: error.message, file: this.file });
      return undefined;
    });
  }

  /** As publish, but a failure to write the file is thrown (the CLI's `keyops audit publish`). */
  publishOrThrow(reason: string): Promise<PublishedHead | undefined> {
    const next = this.#running.catch(() => undefined).then(() => this.#publish(reason));
    this.#running = next;
    return next;
  }

  /** Publishes every `ms` until the returned function is called. */
  every(ms: number): () => void {
    const timer = setInterval(() => void this.publish("interval"), ms);
    timer.unref();
    return () => clearInterval(timer);
  }

  async #publish(reason: string): Promise<PublishedHead | undefined> {
    this.#last ??= await lastPublishedHead(this.file);
    const { sequence, hash } = await readChainHead(this.prisma);
    if (sequence === 0) return undefined; // an empty log has nothing to anchor yet
    if (this.#last && this.#last.sequence === sequence && this.#last.hash === hash) return undefined;
    const head: PublishedHead = { sequence, hash, publishedAt: new Date().toISOString(), reason };
    await appendPublishedHead(this.file, head);
    this.#last = head;
    for (const sink of this.#sinks) {
      await sink(head).catch((error: Error) =>
        this.log.warn("could not publish the audit chain head", { error: error.message, sequence }),
      );
    }
    return head;
  }
}

/**
 * The hook for "at every workflow's end": wraps the port that shows workflows so that once a
 * workflow is shown closed (resolved or cancelled), the chain's head is published. The bot's
 * composition root (src/bot.ts) wraps its Slack publisher with it; nothing in src/workflows changes.
 */
export function publishingHeadOnClose<P extends Pick<WorkflowPublisher, "update" | "log">>(
  publisher: P,
  heads: AuditHeadPublisher,
): P {
  const closed = (w: WorkflowSnapshot) => {
    if (w.status !== "OPEN") void heads.publish(`workflow #${w.number} ${w.status.toLowerCase()}`);
  };
  const update = publisher.update.bind(publisher);
  const log = publisher.log.bind(publisher);
  return Object.assign(Object.create(publisher) as P, {
    async update(w: WorkflowSnapshot) {
      await update(w);
      closed(w);
    },
    async log(w: WorkflowSnapshot, event: TimelineEvent, key: string) {
      const ts = await log(w, event, key);
      closed(w);
      return ts;
    },
  });
}
