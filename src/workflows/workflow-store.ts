import { NotFoundError } from "../errors.js";
import type { Prisma, Workflow, WorkflowStep } from "../generated/prisma/client.js";
import { DEFAULT_REQUESTER_LABEL, definitionOf } from "./definitions/index.js";
import type {
  Approval,
  PageSnapshot,
  PlatformCount,
  RotationProgress,
  StepResult,
  StepSnapshot,
  WorkflowInputs,
  WorkflowSnapshot,
} from "./types.js";

/** How a workflow's inputs are stored: with the facts its steps were derived from. */
interface StoredInputs extends WorkflowInputs {
  platformCounts: PlatformCount[];
}

type Tx = Prisma.TransactionClient;

/** Loads a workflow; with lock, holds its row until the transaction ends (one transition at a time). */
export async function loadWorkflow(tx: Tx, id: string, lock = false): Promise<WorkflowSnapshot> {
  if (lock) await tx.$queryRaw`SELECT 1 FROM "Workflow" WHERE "id" = ${id} FOR UPDATE`;
  const row = await tx.workflow.findUnique({ where: { id }, include: { steps: true } });
  if (!row) throw new NotFoundError("that workflow no longer exists");
  return toSnapshot(row, row.steps);
}

export async function findWorkflowByRequest(tx: Tx, requestKey: string): Promise<WorkflowSnapshot | null> {
  const row = await tx.workflow.findUnique({ where: { requestKey }, include: { steps: true } });
  return row ? toSnapshot(row, row.steps) : null;
}

/** The open workflow of `kind` holding `openKey`, if any. */
export async function findOpenByKey(tx: Tx, kind: string, openKey: string): Promise<WorkflowSnapshot | null> {
  const row = await tx.workflow.findUnique({
    where: { kind_openKey: { kind, openKey } },
    include: { steps: true },
  });
  return row ? toSnapshot(row, row.steps) : null;
}

/** The latest workflow of `kind` that is not a drill (a scheduled one's last run, for the status). */
export async function latestOfKind(tx: Tx, kind: string): Promise<WorkflowSnapshot | null> {
  for (let skip = 0; ; skip += 20) {
    const rows = await tx.workflow.findMany({
      where: { kind },
      include: { steps: true },
      orderBy: { number: "desc" },
      skip,
      take: 20,
    });
    const row = rows.find((r) => !(r.inputs as unknown as WorkflowInputs).drill);
    if (row) return toSnapshot(row, row.steps);
    if (rows.length < 20) return null;
  }
}

/** Workflows of these kinds about these people (their subject), not cancelled, not drills. */
export async function workflowsAbout(tx: Tx, kinds: string[], userIds: string[]) {
  if (kinds.length === 0 || userIds.length === 0) return [];
  const rows = await tx.workflow.findMany({
    where: { kind: { in: kinds }, status: { not: "CANCELLED" } },
    select: { number: true, status: true, inputs: true },
    orderBy: { number: "asc" },
  });
  return rows.flatMap((row) => {
    const inputs = row.inputs as unknown as WorkflowInputs;
    if (inputs.drill || !inputs.subjectUserId || !userIds.includes(inputs.subjectUserId)) return [];
    return [{ number: row.number, status: row.status, subjectUserId: inputs.subjectUserId }];
  });
}

export async function listOpenWorkflows(tx: Tx): Promise<WorkflowSnapshot[]> {
  const rows = await tx.workflow.findMany({
    where: { status: "OPEN" },
    include: { steps: true },
    orderBy: { number: "asc" },
  });
  return rows.map((row) => toSnapshot(row, row.steps));
}

export async function insertWorkflow(
  tx: Tx,
  w: WorkflowSnapshot,
  platformCounts: PlatformCount[],
  requestKey: string,
  /** At most one open workflow of its kind holds it (the definition's openKey). */
  openKey?: string,
): Promise<WorkflowSnapshot> {
  const inputs: StoredInputs = { ...w.inputs, platformCounts };
  const row = await tx.workflow.create({
    data: {
      id: w.id,
      kind: w.kind,
      status: w.status,
      title: w.title,
      inputs: inputs as unknown as Prisma.InputJsonValue,
      requestedBy: w.requestedBy,
      channelId: w.channelId,
      requestKey,
      openKey: openKey ?? null,
      deadlineAt: w.deadlineAt ?? null,
      page: w.page as unknown as Prisma.InputJsonValue,
      version: w.version,
      createdAt: w.createdAt,
      updatedAt: w.createdAt,
      closedAt: w.closedAt ?? null,
      closedBy: w.closedBy ?? null,
      steps: {
        create: w.steps.map((step, position) => ({ key: step.key, position, ...stepColumns(step) })),
      },
    },
  });
  return { ...w, number: row.number };
}

/** Writes what a transition changed: the workflow row and each step that differs. */
export async function saveWorkflow(tx: Tx, before: WorkflowSnapshot, after: WorkflowSnapshot): Promise<void> {
  await tx.workflow.update({
    where: { id: after.id },
    data: {
      status: after.status,
      page: after.page as unknown as Prisma.InputJsonValue,
      rotation: (after.rotation ?? null) as unknown as Prisma.InputJsonValue,
      version: after.version,
      updatedAt: new Date(),
      closedAt: after.closedAt ?? null,
      closedBy: after.closedBy ?? null,
      closeReason: after.closeReason ?? null,
      // A closed workflow holds no open key: the next one of its kind may start.
      ...(after.status !== "OPEN" ? { openKey: null } : {}),
    },
  });
  for (const step of after.steps) {
    const old = before.steps.find((s) => s.key === step.key);
    if (old && JSON.stringify(stepColumns(old)) === JSON.stringify(stepColumns(step))) continue;
    await tx.workflowStep.update({
      where: { workflowId_key: { workflowId: after.id, key: step.key } },
      data: stepColumns(step),
    });
  }
}

function stepColumns(step: StepSnapshot) {
  return {
    status: step.status,
    assignee: step.assignee ?? null,
    finishedBy: step.finishedBy ?? null,
    finishedAt: step.finishedAt ?? null,
    skipReason: step.skipReason ?? null,
    approval: (step.approval ?? undefined) as unknown as Prisma.InputJsonValue | undefined,
    result: (step.result ?? undefined) as unknown as Prisma.InputJsonValue | undefined,
    error: step.error ?? null,
  };
}

function toSnapshot(row: Workflow, stepRows: WorkflowStep[]): WorkflowSnapshot {
  const definition = definitionOf(row.kind);
  const { platformCounts, ...inputs } = row.inputs as unknown as StoredInputs;
  const stored = new Map(stepRows.map((s) => [s.key, s]));
  const steps = definition.steps({ inputs, platformCounts }).map((step): StepSnapshot => {
    const s = stored.get(step.key);
    if (!s) return { ...step, status: "PENDING" };
    return {
      ...step,
      status: s.status,
      ...(s.assignee ? { assignee: s.assignee } : {}),
      ...(s.finishedBy ? { finishedBy: s.finishedBy } : {}),
      ...(s.finishedAt ? { finishedAt: s.finishedAt } : {}),
      ...(s.skipReason ? { skipReason: s.skipReason } : {}),
      ...(s.approval ? { approval: reviveApproval(s.approval) } : {}),
      ...(s.result ? { result: s.result as unknown as StepResult } : {}),
      ...(s.error ? { error: s.error } : {}),
    };
  });
  const page = row.page as unknown as PageSnapshot;
  const rotation = row.rotation as unknown as RotationProgress | null;
  return {
    id: row.id,
    number: row.number,
    kind: row.kind,
    name: definition.name,
    title: row.title,
    command: definition.command,
    requesterLabel: definition.requesterLabel ?? DEFAULT_REQUESTER_LABEL,
    ...(definition.deadlineLabel ? { deadlineLabel: definition.deadlineLabel } : {}),
    status: row.status,
    inputs,
    requestedBy: row.requestedBy,
    channelId: row.channelId,
    ...(row.messageTs ? { messageTs: row.messageTs } : {}),
    createdAt: row.createdAt,
    ...(row.closedAt ? { closedAt: row.closedAt } : {}),
    ...(row.closedBy ? { closedBy: row.closedBy } : {}),
    ...(row.closeReason ? { closeReason: row.closeReason } : {}),
    ...(row.deadlineAt ? { deadlineAt: row.deadlineAt } : {}),
    steps,
    ...(rotation ? { rotation: { ...rotation, updatedAt: new Date(rotation.updatedAt) } } : {}),
    page: { ...page, ...(page.at ? { at: new Date(page.at) } : {}) },
    version: row.version,
  };
}

function reviveApproval(json: unknown): Approval {
  const approval = json as Approval;
  return { ...approval, at: new Date(approval.at) };
}
