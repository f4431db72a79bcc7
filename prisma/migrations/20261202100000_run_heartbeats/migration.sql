-- Heartbeats: the process running a rotation run, and the replica running a workflow step, say
-- they are alive; a live replica takes over a step whose runner stopped beating.
ALTER TABLE "RotationRun" ADD COLUMN "owner" TEXT, ADD COLUMN "heartbeatAt" TIMESTAMP(3);
ALTER TABLE "WorkflowStep" ADD COLUMN "runner" TEXT, ADD COLUMN "heartbeatAt" TIMESTAMP(3);
