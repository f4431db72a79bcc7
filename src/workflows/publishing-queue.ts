import type { Logger } from "../logger.js";
import type { WorkflowPublisher } from "./ports.js";
import type { TimelineEvent, WorkflowSnapshot } from "./types.js";

/**
 * Publishes each workflow's changes in order: concurrent transitions could otherwise render an
 * older state last. Each turn renders the latest committed state. One queue per workflow.
 */
export class PublishingQueue {
  private readonly turns = new Map<string, Promise<void>>();

  constructor(
    private readonly publisher: WorkflowPublisher,
    private readonly latest: (workflowId: string) => Promise<WorkflowSnapshot>,
    private readonly log: Logger,
  ) {}

  publish(w: WorkflowSnapshot, events: TimelineEvent[]): Promise<void> {
    const previous = this.turns.get(w.id) ?? Promise.resolve();
    const turn = previous.then(async () => {
      try {
        const latest = await this.latest(w.id);
        await this.publisher.update(latest.version >= w.version ? latest : w);
        if (events.length > 0) await this.publisher.log(w, events);
      } catch (error) {
        this.log.error("publishing a workflow failed", {
          workflowId: w.id,
          error: (error as Error).message,
        });
      }
    });
    this.turns.set(w.id, turn);
    void turn.then(() => {
      if (this.turns.get(w.id) === turn) this.turns.delete(w.id);
    });
    return turn;
  }
}
