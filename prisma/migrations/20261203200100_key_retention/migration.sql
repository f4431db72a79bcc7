-- Retention of retired keys: a retired version keeps its wrapped key (so a backup of its era can be
-- read) until it is destroyed; destroying erases the wrapped key and records when and who approved.
-- ("wrappedKey" is nullable since the key-lost migration: a LOST version has none either.)
ALTER TABLE "KeyVersion" ALTER COLUMN "wrappedKey" DROP NOT NULL;
ALTER TABLE "KeyVersion" ADD COLUMN "destroyedAt" TIMESTAMP(3);
ALTER TABLE "KeyVersion" ADD COLUMN "destroyedBy" TEXT;
-- A destroyed version never has its wrapped key (nothing may put it back).
ALTER TABLE "KeyVersion" ADD CONSTRAINT "KeyVersion_destroyed_has_no_key"
  CHECK ("state" <> 'DESTROYED' OR "wrappedKey" IS NULL);
