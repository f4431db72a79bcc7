-- At most one open workflow of a kind holds the same open key (a definition's openKey: the quarter
-- of a quarterly maintenance), across replicas: the start that loses the race fails on this index.
-- The key is cleared when the workflow closes (NULLs never collide), so the next one may start.
ALTER TABLE "Workflow" ADD COLUMN "openKey" TEXT;
CREATE UNIQUE INDEX "Workflow_kind_openKey_key" ON "Workflow" ("kind", "openKey");
