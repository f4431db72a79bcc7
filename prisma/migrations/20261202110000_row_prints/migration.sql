-- Each row's print when a rotation run started: the proof that a rotation changed no secret
-- holds row by row even while the application writes.
CREATE TABLE "RotationRowPrint" (
    "runId" INTEGER NOT NULL,
    "rowId" TEXT NOT NULL,
    "print" BYTEA NOT NULL,
    CONSTRAINT "RotationRowPrint_pkey" PRIMARY KEY ("runId","rowId")
);
