-- Row prints kept as pages, one per verify batch in byte order of id, so that recording and
-- comparing them streams (memory flat whatever the table's size). A run names the print set its
-- first verify recorded. Prints of the earlier one-row-per-print table are dropped: a run
-- interrupted across this upgrade resumes without a row-by-row proof (its digest still proves).
CREATE TABLE "RotationPrintPage" (
    "printSet" TEXT NOT NULL,
    "page" INTEGER NOT NULL,
    "rows" INTEGER NOT NULL,
    "prints" BYTEA NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "RotationPrintPage_pkey" PRIMARY KEY ("printSet","page")
);

ALTER TABLE "RotationRun" ADD COLUMN "printSet" TEXT;

DROP TABLE "RotationRowPrint";
