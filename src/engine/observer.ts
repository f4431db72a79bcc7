import type { Environment } from "../environments.js";
import type { Logger } from "../logger.js";
import { isScratchKeyring } from "./scratch.js";

/** How a rotation this process ran ended: the report's status, or ERROR when it threw. */
export type ObservedRunStatus = "SUCCEEDED" | "FAILED_WITH_ROWS" | "ERROR";

/**
 * What the engine tells whoever watches its rotations (the bot's metrics), so that the engine
 * depends on no metrics library. Called synchronously on the rotation's path: implementations
 * only count, and one that throws is logged and ignored.
 */
export interface EngineObserver {
  /** A rotation of the environment starts in this process (it holds the environment's lock). */
  rotationStarted?(environment: Environment): void;
  /** One committed batch moved `rows` rows of `target` ("Table.column") onto the active version. */
  rowsReencrypted?(environment: Environment, target: string, rows: number): void;
  /** The rotation ended; `failedRows`: rows no known version decrypts (0 for ERROR: not known). */
  rotationFinished?(environment: Environment, status: ObservedRunStatus, failedRows: number): void;
}

/** The engine's observers. */
export class EngineObservers {
  private readonly observers = new Set<EngineObserver>();

  constructor(private readonly log: Logger) {}

  /** Adds an observer; the returned function removes it. */
  add(observer: EngineObserver): () => void {
    this.observers.add(observer);
    return () => this.observers.delete(observer);
  }

  /** A batch's rows, named by the target's table and ciphertext column. */
  rows(environment: Environment, target: { table: string; ciphertextColumn: string }, rows: number): void {
    if (rows > 0 && !isScratchKeyring(environment))
      this.notify((o) =>
        o.rowsReencrypted?.(environment, `${target.table}.${target.ciphertextColumn}`, rows),
      );
  }

  /** Runs `rotation` under observation: started, then finished with its report's status. */
  async rotation<T extends { status: "SUCCEEDED" | "FAILED_WITH_ROWS"; failed: number }>(
    environment: Environment,
    rotation: () => Promise<T>,
  ): Promise<T> {
    // A drill's rotation of its scratch copy is a rehearsal, not a figure.
    if (isScratchKeyring(environment)) return rotation();
    this.notify((o) => o.rotationStarted?.(environment));
    try {
      const report = await rotation();
      this.notify((o) => o.rotationFinished?.(environment, report.status, report.failed));
      return report;
    } catch (error) {
      this.notify((o) => o.rotationFinished?.(environment, "ERROR", 0));
      throw error;
    }
  }

  private notify(call: (observer: EngineObserver) => void): void {
    for (const observer of this.observers) {
      try {
        call(observer);
      } catch (error) {
        this.log.warn("an engine observer failed", { error: (error as Error).message });
      }
    }
  }
}
