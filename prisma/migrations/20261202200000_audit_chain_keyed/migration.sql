-- Events appended from now on are chained with HMAC-SHA256 under a key derived from the master key
-- (never stored in this database). Earlier events keep their SHA-256 chain ("keyed" false) and stay
-- verifiable; the first keyed event chains onto the last of them.
ALTER TABLE "AuditEvent" ADD COLUMN "keyed" BOOLEAN NOT NULL DEFAULT false;
