-- What each instance of the application (keyops/client) last reported: the key versions it holds
-- (by fingerprint), the one it encrypts with, and its configuration problems. The hand-over gate
-- and the alerts read it.
CREATE TABLE "ClientInstance" (
    "instanceId" TEXT NOT NULL,
    "environment" TEXT NOT NULL,
    "service" TEXT NOT NULL,
    "source" TEXT NOT NULL,
    "hostname" TEXT NOT NULL,
    "pid" INTEGER NOT NULL,
    "versions" JSONB NOT NULL,
    "encryptsVersion" INTEGER,
    "problems" TEXT[] DEFAULT ARRAY[]::TEXT[],
    "startedAt" TIMESTAMP(3) NOT NULL,
    "lastSeenAt" TIMESTAMP(3) NOT NULL,
    "stoppedAt" TIMESTAMP(3),

    CONSTRAINT "ClientInstance_pkey" PRIMARY KEY ("instanceId")
);

CREATE INDEX "ClientInstance_environment_lastSeenAt_idx" ON "ClientInstance"("environment", "lastSeenAt");

-- Decryption failures the instances counted between two reports, by reason and version.
CREATE TABLE "ClientFailure" (
    "id" SERIAL NOT NULL,
    "instanceId" TEXT NOT NULL,
    "environment" TEXT NOT NULL,
    "at" TIMESTAMP(3) NOT NULL,
    "reason" TEXT NOT NULL,
    "version" INTEGER,
    "count" INTEGER NOT NULL,

    CONSTRAINT "ClientFailure_pkey" PRIMARY KEY ("id")
);

CREATE INDEX "ClientFailure_environment_at_idx" ON "ClientFailure"("environment", "at");
