import type { KeyringStatus } from "../../src/engine/engine.js";
import { ENVIRONMENTS, type Environment } from "../../src/environments.js";
import { DEFAULT_REQUESTER_LABEL, WORKFLOW_DEFINITIONS } from "../../src/workflows/definitions/index.js";
import type {
  PlatformCount,
  RotationFigures,
  StepSnapshot,
  StepStatus,
  WorkflowInputs,
  WorkflowSnapshot,
} from "../../src/workflows/types.js";

/** Snapshots built straight from the definitions, so the views are tested without the state machine. */

export const NOW = new Date("2026-11-28T12:00:00Z");
export const WORKFLOW_ID = "3f0b6a0e-8a7e-4bde-9d55-7c0e3a1f9a11";
export const REQUESTER = "U0REQUESTR";
export const long = (n: number, char = "x") => char.repeat(n);

export function definition(kind: string) {
  const found = WORKFLOW_DEFINITIONS.find((d) => d.kind === kind);
  if (!found) throw new Error(`no definition ${kind}`);
  return found;
}

export interface SnapshotOptions {
  inputs?: Partial<WorkflowInputs>;
  platformCounts?: PlatformCount[];
  title?: string;
  number?: number;
  requestedBy?: string;
}

export function snapshot(kind: string, options: SnapshotOptions = {}): WorkflowSnapshot {
  const d = definition(kind);
  const inputs: WorkflowInputs = { environments: ["production"], ...options.inputs };
  const deadlineAt = d.deadline?.(inputs, NOW);
  return {
    id: WORKFLOW_ID,
    number: options.number ?? 12,
    kind: d.kind,
    name: d.name,
    title: options.title ?? d.title(inputs),
    command: d.command,
    requesterLabel: d.requesterLabel ?? DEFAULT_REQUESTER_LABEL,
    ...(d.deadlineLabel ? { deadlineLabel: d.deadlineLabel } : {}),
    status: "OPEN",
    inputs,
    requestedBy: options.requestedBy ?? REQUESTER,
    channelId: "C0SECURITY",
    createdAt: NOW,
    ...(deadlineAt ? { deadlineAt } : {}),
    steps: d
      .steps({ inputs, platformCounts: options.platformCounts ?? [] })
      .map((step) => ({ ...step, status: "PENDING" as const })),
    page: { status: "off", onCall: [] },
    version: 1,
  };
}

export function step(w: WorkflowSnapshot, key: string): StepSnapshot {
  const found = w.steps.find((s) => s.key === key);
  if (!found) throw new Error(`no step ${key}`);
  return found;
}

/** A copy of `w` with the step changed (and `w.rotation` set when a rotation is RUNNING). */
export function withStep(
  w: WorkflowSnapshot,
  key: string,
  status: StepStatus,
  extra: Partial<StepSnapshot> = {},
): WorkflowSnapshot {
  const copy = structuredClone(w);
  Object.assign(step(copy, key), { status, ...extra });
  if (status === "RUNNING" && step(copy, key).action === "rotate") copy.rotation = progress();
  return copy;
}

/** A copy of `w` with these steps DONE, by the requester's colleague. */
export function done(w: WorkflowSnapshot, ...keys: string[]): WorkflowSnapshot {
  let copy = w;
  for (const key of keys) copy = withStep(copy, key, "DONE", { finishedBy: "U0COLLEAGU", finishedAt: NOW });
  return copy;
}

export function progress(environment: Environment = "production") {
  return {
    environment,
    phase: "reencrypt",
    done: 104_000,
    total: 200_000,
    rowsPerSecond: 41_200,
    etaSeconds: 3,
    updatedAt: NOW,
  };
}

export function figures(environment: Environment, overrides: Partial<RotationFigures> = {}): RotationFigures {
  return {
    environment,
    runId: 7,
    toVersion: 3,
    toFingerprint: "1a2b3c4d",
    rows: 200_000,
    reencrypted: 200_000,
    failed: 0,
    rowsPerSecond: 41_200,
    durationMs: 4_900,
    digestUnchanged: true,
    digestAfter: long(64, "d"),
    ...overrides,
  };
}

export function keyring(environment: Environment, versions: number, rows = 1_000): KeyringStatus {
  return {
    environment,
    target: "PlatformIntegration.credentials",
    targets: [{ target: "PlatformIntegration.credentials", rows }],
    activeVersion: versions,
    versions: Array.from({ length: versions }, (_, i) => ({
      version: i + 1,
      state: i === versions - 1 ? ("ACTIVE" as const) : ("DECRYPT_ONLY" as const),
      fingerprint: `fp${String(i + 1).padStart(6, "0")}`,
      legacy: i === 0,
      createdAt: NOW,
      activatedAt: NOW,
      deactivatedAt: null,
      retiredAt: null,
      compromisedAt: null,
      lostAt: null,
      destroyedAt: null,
      destroyedBy: null,
      environment,
      rows,
    })),
    rowsUnderUnknownVersions: 0,
    runningRun: null,
  };
}

export const ALL_ENVIRONMENTS: Environment[] = [...ENVIRONMENTS];

/** The step ids of the actions blocks, in order, each with the action ids of its elements. */
export function actionsByStep(blocks: unknown[]): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const block of blocks as { type: string; block_id?: string; elements?: { action_id?: string }[] }[]) {
    if (block.type !== "actions" || !block.block_id?.startsWith("step|")) continue;
    const stepKey = block.block_id.split("|")[2] ?? "";
    out[stepKey] = (block.elements ?? []).map((e) => e.action_id ?? "");
  }
  return out;
}

/** Every mrkdwn/plain text of a surface, joined: what a reader can see. */
export function visibleText(blocks: unknown[]): string {
  const texts: string[] = [];
  const walk = (value: unknown) => {
    if (Array.isArray(value)) value.forEach(walk);
    else if (value && typeof value === "object") {
      const object = value as Record<string, unknown>;
      if ((object.type === "mrkdwn" || object.type === "plain_text") && typeof object.text === "string") {
        texts.push(object.text);
      }
      Object.values(object).forEach(walk);
    }
  };
  walk(blocks);
  return texts.join("\n");
}
