-- NexusArchive 0008: the quiet mark, stored with the checkpoint (docs/performance.md, "No-op pass").
-- Only Core/Bookkeeping/CheckpointStore.cs reads and writes these columns.
--
-- A pass that succeeds leaves, when it releases its lease, what it saw before its first page: the entity's write
-- counter and change-index size in Redis, and the checkpoint it committed. The next pass, in any process, compares:
-- the same counter, size and checkpoint mean nothing was written since, so it reads neither the look-back overlap nor
-- the late set again. Any other release (failed, partial, an admin command) clears the mark.
ALTER TABLE {{bookkeeping}}.checkpoints
    ADD COLUMN quiet_writes     bigint,
    ADD COLUMN quiet_index_size bigint,
    ADD COLUMN quiet_score      double precision,
    ADD COLUMN quiet_member     bytea;
