-- CreateEnum
CREATE TYPE "Platform" AS ENUM ('SHOPIFY', 'AMAZON');

-- CreateEnum
CREATE TYPE "KeyState" AS ENUM ('PENDING', 'ACTIVE', 'DECRYPT_ONLY', 'RETIRED', 'COMPROMISED');

-- CreateEnum
CREATE TYPE "RotationStatus" AS ENUM ('RUNNING', 'SUCCEEDED', 'FAILED_WITH_ROWS');

-- CreateTable
CREATE TABLE "PlatformIntegration" (
    "id" TEXT NOT NULL,
    "platform" "Platform" NOT NULL,
    "displayName" TEXT NOT NULL,
    "credentials" TEXT NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "PlatformIntegration_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "KeyVersion" (
    "id" SERIAL NOT NULL,
    "environment" TEXT NOT NULL,
    "version" INTEGER NOT NULL,
    "state" "KeyState" NOT NULL,
    "fingerprint" TEXT NOT NULL,
    "wrappedKey" TEXT NOT NULL,
    "masterFingerprint" TEXT NOT NULL,
    "legacy" BOOLEAN NOT NULL DEFAULT false,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "activatedAt" TIMESTAMP(3),
    "deactivatedAt" TIMESTAMP(3),
    "retiredAt" TIMESTAMP(3),
    "compromisedAt" TIMESTAMP(3),

    CONSTRAINT "KeyVersion_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "RotationRun" (
    "id" SERIAL NOT NULL,
    "environment" TEXT NOT NULL,
    "targetTable" TEXT NOT NULL,
    "idColumn" TEXT NOT NULL,
    "ciphertextColumn" TEXT NOT NULL,
    "toVersion" INTEGER NOT NULL,
    "status" "RotationStatus" NOT NULL,
    "cursor" TEXT,
    "pass" INTEGER NOT NULL DEFAULT 1,
    "rowsTotal" INTEGER NOT NULL DEFAULT 0,
    "rowsDone" INTEGER NOT NULL DEFAULT 0,
    "rowsConflicted" INTEGER NOT NULL DEFAULT 0,
    "rowsFailed" INTEGER NOT NULL DEFAULT 0,
    "failedRowIds" TEXT[] DEFAULT ARRAY[]::TEXT[],
    "batchSize" INTEGER NOT NULL,
    "maxRowsPerSecond" INTEGER,
    "digestBefore" TEXT,
    "digestAfter" TEXT,
    "versionCounts" JSONB,
    "requestedBy" TEXT,
    "resumedCount" INTEGER NOT NULL DEFAULT 0,
    "startedAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "finishedAt" TIMESTAMP(3),

    CONSTRAINT "RotationRun_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "KeyVersion_environment_version_key" ON "KeyVersion"("environment", "version");

-- CreateIndex
CREATE INDEX "RotationRun_environment_status_idx" ON "RotationRun"("environment", "status");

-- Hand-written (Prisma cannot express partial indexes): at most one active key version and at
-- most one unfinished rotation run per environment, enforced by the database itself.
CREATE UNIQUE INDEX "KeyVersion_one_active_per_environment" ON "KeyVersion"("environment") WHERE "state" = 'ACTIVE';
CREATE UNIQUE INDEX "RotationRun_one_running_per_environment" ON "RotationRun"("environment") WHERE "status" = 'RUNNING';
