-- An environment may have several targets (tables and columns, in one or more databases): each
-- gets its own run, checkpoint and digest, and one run per target may be RUNNING at a time.
ALTER TABLE "RotationRun" ADD COLUMN "targetName" TEXT NOT NULL DEFAULT '';

DROP INDEX "RotationRun_one_running_per_environment";
CREATE UNIQUE INDEX "RotationRun_one_running_per_target" ON "RotationRun"("environment", "targetName") WHERE "status" = 'RUNNING';
