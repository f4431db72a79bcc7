-- A run started with --max-rows-per-second auto resumes with the adaptive pacer, not unthrottled.
ALTER TABLE "RotationRun" ADD COLUMN "adaptivePacing" BOOLEAN NOT NULL DEFAULT false;
