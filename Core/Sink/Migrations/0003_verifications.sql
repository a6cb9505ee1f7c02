-- NexusArchive 0003: one row per verification (a full verify, or a run of the scheduled incremental verify).
-- {{bookkeeping}} is replaced by the validated, quoted schema name from Archive:BookkeepingSchema.
-- Only Core/Bookkeeping/VerificationHistory.cs reads and writes this table.

CREATE TABLE {{bookkeeping}}.verifications (
    verification_id  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind             text        NOT NULL CHECK (kind IN ('full', 'incremental')),
    trigger          text        NOT NULL,
    scope            text,                                   -- 'user u-1' / 'session s-1'; NULL = everything
    started_at       timestamptz NOT NULL,
    finished_at      timestamptz,
    status           text        NOT NULL DEFAULT 'Running' CHECK (status IN ('Running', 'Succeeded', 'Failed')),
    error            text,
    records_checked  bigint      NOT NULL DEFAULT 0,
    gaps             bigint      NOT NULL DEFAULT 0,
    differences      bigint      NOT NULL DEFAULT 0,
    entities         jsonb       NOT NULL DEFAULT '[]'::jsonb, -- per entity: counts per category, examples, the slices read
    -- Incremental only: per entity, where the next run continues. {"message": {"sinceScore": …, "sinceMember": "<base64>",
    -- "scanCursor": "…"}}. Written as each entity finishes; every incremental run starts from the newest non-NULL value.
    resume           jsonb,
    example_ids      text[]      NOT NULL DEFAULT '{}'         -- '<entity>:<id>' of records with a gap or a difference
);
CREATE INDEX verifications_finished_at_idx ON {{bookkeeping}}.verifications (finished_at DESC) WHERE finished_at IS NOT NULL;

-- Grants as for the other bookkeeping tables (0002). Stated here rather than left to 0002's default privileges:
-- those only cover tables created by the role that ran 0002, and another admin may apply this migration.
REVOKE ALL ON {{bookkeeping}}.verifications FROM PUBLIC, anon, authenticated;
GRANT SELECT, INSERT, UPDATE, DELETE ON {{bookkeeping}}.verifications TO nexus_archiver;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {{bookkeeping}} TO nexus_archiver;

ALTER TABLE {{bookkeeping}}.verifications ENABLE ROW LEVEL SECURITY;
CREATE POLICY archiver_all ON {{bookkeeping}}.verifications FOR ALL TO nexus_archiver USING (true) WITH CHECK (true);
