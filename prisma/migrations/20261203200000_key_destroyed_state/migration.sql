-- A retired version whose wrapped key has been erased (after its retention period, approved by two
-- people): no copy of its key is left in KeyOps, so no backup under it can be read any more.
-- Its own migration: a new enum value cannot be used in the transaction that adds it.
ALTER TYPE "KeyState" ADD VALUE IF NOT EXISTS 'DESTROYED';
