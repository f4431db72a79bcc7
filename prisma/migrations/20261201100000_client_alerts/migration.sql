-- The guide's alerts raised from client reports. The unique key makes one replica the one that
-- opens (or resolves) an alert: it posts and pages, the others see the row already there.
CREATE TABLE "ClientAlert" (
    "key" TEXT NOT NULL,
    "environment" TEXT NOT NULL,
    "kind" TEXT NOT NULL,
    "summary" TEXT NOT NULL,
    "openedAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "resolvedAt" TIMESTAMP(3),

    CONSTRAINT "ClientAlert_pkey" PRIMARY KEY ("key")
);

CREATE INDEX "ClientAlert_environment_resolvedAt_idx" ON "ClientAlert"("environment", "resolvedAt");
