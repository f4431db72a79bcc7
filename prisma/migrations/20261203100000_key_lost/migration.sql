-- Key Lost (the guide's recovery procedure, /key-lost): a version whose key KeyOps no longer holds.
-- LOST: no usable copy of the key is left (its wrapped copy is gone or no longer unwraps under the
-- master key, and a second person confirmed no backup has it); "wrappedKey" is then NULL, and
-- `keyops keys import` fills it again when a backup turns up.
ALTER TYPE "KeyState" ADD VALUE 'LOST';
ALTER TABLE "KeyVersion" ALTER COLUMN "wrappedKey" DROP NOT NULL;
ALTER TABLE "KeyVersion" ADD COLUMN "lostAt" TIMESTAMP(3);

-- The rows whose credentials were under a lost version: their users must re-authenticate.
CREATE TABLE "ReauthRow" (
    "id" SERIAL NOT NULL,
    "environment" TEXT NOT NULL,
    "target" TEXT NOT NULL,
    "version" INTEGER NOT NULL,
    "rowId" TEXT NOT NULL,
    "platform" TEXT,
    "workflowId" TEXT,
    "recordedAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "ReauthRow_pkey" PRIMARY KEY ("id")
);
CREATE UNIQUE INDEX "ReauthRow_environment_target_version_rowId_key" ON "ReauthRow"("environment", "target", "version", "rowId");
