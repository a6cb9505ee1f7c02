-- NexusArchive 0009: the lease check as a statement that fails, so it can ride in the same batch as the MERGE it
-- guards (one round trip per page on the critical path; docs/performance.md, "Network latency and the pooler").
-- Only Core/Bookkeeping/CheckpointStore.cs calls it. SQLSTATE NXL01 = "this run no longer holds the entity's lease":
-- the page rolls back, the pass reports Conflict (EntityBusyException).
CREATE FUNCTION {{bookkeeping}}.assert_lease(p_entity text, p_run uuid) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM 1 FROM {{bookkeeping}}.checkpoints
     WHERE entity = p_entity AND lease_owner = p_run AND lease_expires_at > now()
       FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'run % no longer holds the lease of entity %', p_run, p_entity USING ERRCODE = 'NXL01';
    END IF;
END
$$;
REVOKE ALL ON FUNCTION {{bookkeeping}}.assert_lease(text, uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION {{bookkeeping}}.assert_lease(text, uuid) TO nexus_archiver;
