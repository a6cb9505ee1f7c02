-- NexusArchive 0004: cold storage. Which chat sessions were offloaded from Redis, and one row per offload run.
-- {{bookkeeping}} / {{target}} are replaced by the validated, quoted schema names.
-- Only Core/Bookkeeping/OffloadLedger.cs reads and writes these tables.

-- A session is 'pending' from just before its keys are removed from Redis until the removal is confirmed; a crash in
-- between leaves it 'pending', and the next offload run checks it again (its keys are either all still in Redis, or
-- all gone with the marker set: the removal is one Lua script). 'offloaded' = removed from Redis, held by the archive.
CREATE TABLE {{bookkeeping}}.offloaded_sessions (
    session_id    text        PRIMARY KEY,
    user_id       text        NOT NULL,
    state         text        NOT NULL CHECK (state IN ('pending', 'offloaded')),
    run_id        uuid        NOT NULL,
    offloaded_at  timestamptz NOT NULL,
    -- Archive rows per entity when the session left Redis, e.g. {"session": 1, "message": 412, "attachment": 3}:
    -- verify reports an offloaded session with fewer rows than this as a gap (its only copy is gone).
    records       jsonb       NOT NULL,
    redis_keys    integer     NOT NULL DEFAULT 0,
    bytes_freed   bigint      NOT NULL DEFAULT 0
);
CREATE INDEX offloaded_sessions_user_id_idx ON {{bookkeeping}}.offloaded_sessions (user_id);

CREATE TABLE {{bookkeeping}}.offload_runs (
    run_id             uuid        PRIMARY KEY,
    trigger            text        NOT NULL,
    dry_run            boolean     NOT NULL,
    started_at         timestamptz NOT NULL,
    finished_at        timestamptz,
    status             text        NOT NULL DEFAULT 'Running' CHECK (status IN ('Running', 'Succeeded', 'Partial', 'Refused', 'Failed')),
    error              text,
    cutoff             timestamptz NOT NULL,
    candidates         bigint      NOT NULL DEFAULT 0,
    sessions_offloaded bigint      NOT NULL DEFAULT 0,
    sessions_skipped   bigint      NOT NULL DEFAULT 0,
    records_removed    bigint      NOT NULL DEFAULT 0,
    bytes_freed        bigint      NOT NULL DEFAULT 0,
    bytes_method       text,
    skipped_by_reason  jsonb       NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX offload_runs_started_at_idx ON {{bookkeeping}}.offload_runs (started_at DESC);

-- The candidate search looks up each old session's newest message and attachment by session.
CREATE INDEX IF NOT EXISTS messages_session_id_updated_at_idx ON {{target}}.messages (session_id, updated_at DESC);
CREATE INDEX IF NOT EXISTS attachment_refs_session_id_idx ON {{target}}.attachment_refs (session_id);

-- Grants as for the other bookkeeping tables (0002, 0003).
REVOKE ALL ON {{bookkeeping}}.offloaded_sessions, {{bookkeeping}}.offload_runs FROM PUBLIC, anon, authenticated;
GRANT SELECT, INSERT, UPDATE, DELETE ON {{bookkeeping}}.offloaded_sessions, {{bookkeeping}}.offload_runs TO nexus_archiver;
ALTER TABLE {{bookkeeping}}.offloaded_sessions ENABLE ROW LEVEL SECURITY;
ALTER TABLE {{bookkeeping}}.offload_runs ENABLE ROW LEVEL SECURITY;
CREATE POLICY archiver_all ON {{bookkeeping}}.offloaded_sessions FOR ALL TO nexus_archiver USING (true) WITH CHECK (true);
CREATE POLICY archiver_all ON {{bookkeeping}}.offload_runs FOR ALL TO nexus_archiver USING (true) WITH CHECK (true);
