-- The publication outbox: what a workflow shows in Slack (its message, an update of it, one thread
-- line per audit event, the approval request), written in the transaction that made the change and
-- delivered afterwards, in order per workflow, retried with backoff. Slack being down delays only
-- what people see; the work has committed and been queued already.
CREATE TABLE "Publication" (
  "id" BIGSERIAL PRIMARY KEY,
  "workflowId" TEXT NOT NULL REFERENCES "Workflow"("id") ON DELETE CASCADE,
  "kind" TEXT NOT NULL,
  "payload" JSONB NOT NULL DEFAULT '{}',
  "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
  "attempts" INTEGER NOT NULL DEFAULT 0,
  "nextAttemptAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
  "lastError" TEXT,
  "deliveredAt" TIMESTAMP(3),
  "ts" TEXT
);
CREATE INDEX "Publication_pending_idx" ON "Publication" ("workflowId", "id") WHERE "deliveredAt" IS NULL;
