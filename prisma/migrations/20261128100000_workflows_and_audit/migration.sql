-- CreateEnum
CREATE TYPE "WorkflowStatus" AS ENUM ('OPEN', 'RESOLVED', 'CANCELLED');

-- CreateEnum
CREATE TYPE "StepStatus" AS ENUM ('PENDING', 'AWAITING_APPROVAL', 'RUNNING', 'DONE', 'SKIPPED', 'FAILED');

-- CreateTable
CREATE TABLE "Workflow" (
    "id" TEXT NOT NULL,
    "number" SERIAL NOT NULL,
    "kind" TEXT NOT NULL,
    "status" "WorkflowStatus" NOT NULL,
    "title" TEXT NOT NULL,
    "inputs" JSONB NOT NULL,
    "requestedBy" TEXT NOT NULL,
    "channelId" TEXT NOT NULL,
    "messageTs" TEXT,
    "requestKey" TEXT NOT NULL,
    "deadlineAt" TIMESTAMP(3),
    "page" JSONB NOT NULL,
    "rotation" JSONB,
    "version" INTEGER NOT NULL DEFAULT 0,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "closedAt" TIMESTAMP(3),
    "closedBy" TEXT,
    "closeReason" TEXT,

    CONSTRAINT "Workflow_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "WorkflowStep" (
    "workflowId" TEXT NOT NULL,
    "key" TEXT NOT NULL,
    "position" INTEGER NOT NULL,
    "status" "StepStatus" NOT NULL,
    "assignee" TEXT,
    "finishedBy" TEXT,
    "finishedAt" TIMESTAMP(3),
    "skipReason" TEXT,
    "approval" JSONB,
    "result" JSONB,
    "error" TEXT,

    CONSTRAINT "WorkflowStep_pkey" PRIMARY KEY ("workflowId","key")
);

-- CreateTable
CREATE TABLE "AuditEvent" (
    "sequence" INTEGER NOT NULL,
    "workflowId" TEXT,
    "at" TIMESTAMP(3) NOT NULL,
    "actor" TEXT NOT NULL,
    "action" TEXT NOT NULL,
    "stepKey" TEXT,
    "detail" JSONB NOT NULL,
    "prevHash" TEXT NOT NULL,
    "hash" TEXT NOT NULL,

    CONSTRAINT "AuditEvent_pkey" PRIMARY KEY ("sequence")
);

-- CreateTable
CREATE TABLE "HandledRequest" (
    "key" TEXT NOT NULL,
    "at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "HandledRequest_pkey" PRIMARY KEY ("key")
);

-- CreateTable
CREATE TABLE "KeyAccess" (
    "id" SERIAL NOT NULL,
    "slackUserId" TEXT NOT NULL,
    "environment" TEXT NOT NULL,
    "grantedBy" TEXT NOT NULL,
    "grantedAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "revokedAt" TIMESTAMP(3),
    "revokedBy" TEXT,

    CONSTRAINT "KeyAccess_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "RotationSchedule" (
    "environment" TEXT NOT NULL,
    "lastRotatedAt" TIMESTAMP(3) NOT NULL,
    "nextDueAt" TIMESTAMP(3) NOT NULL,
    "timeZone" TEXT NOT NULL,
    "recordedBy" TEXT NOT NULL,
    "workflowId" TEXT,

    CONSTRAINT "RotationSchedule_pkey" PRIMARY KEY ("environment")
);

-- CreateIndex
CREATE UNIQUE INDEX "Workflow_number_key" ON "Workflow"("number");

-- CreateIndex
CREATE UNIQUE INDEX "Workflow_requestKey_key" ON "Workflow"("requestKey");

-- CreateIndex
CREATE INDEX "Workflow_status_idx" ON "Workflow"("status");

-- CreateIndex
CREATE UNIQUE INDEX "AuditEvent_hash_key" ON "AuditEvent"("hash");

-- CreateIndex
CREATE INDEX "AuditEvent_workflowId_sequence_idx" ON "AuditEvent"("workflowId", "sequence");

-- CreateIndex
CREATE INDEX "KeyAccess_slackUserId_idx" ON "KeyAccess"("slackUserId");

-- AddForeignKey
ALTER TABLE "WorkflowStep" ADD CONSTRAINT "WorkflowStep_workflowId_fkey" FOREIGN KEY ("workflowId") REFERENCES "Workflow"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- The audit log is append-only: the database itself refuses edits and removals.
CREATE FUNCTION "audit_event_append_only"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'AuditEvent is append-only';
END;
$$;

CREATE TRIGGER "AuditEvent_no_update_or_delete" BEFORE UPDATE OR DELETE ON "AuditEvent"
    FOR EACH ROW EXECUTE FUNCTION "audit_event_append_only"();

CREATE TRIGGER "AuditEvent_no_truncate" BEFORE TRUNCATE ON "AuditEvent"
    FOR EACH STATEMENT EXECUTE FUNCTION "audit_event_append_only"();
