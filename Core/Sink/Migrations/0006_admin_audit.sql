-- NexusArchive 0006: the audit trail of administrative operations (export, erase), and the right to erase.
-- Only Core/Bookkeeping/AdminAudit.cs reads and writes the audit table. It holds who, what, when and counts: never the
-- data itself (the subject's user id is kept, so that an erase can be proven to a regulator).

CREATE TABLE {{bookkeeping}}.admin_audit (
    audit_id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at            timestamptz NOT NULL DEFAULT now(),
    actor         text        NOT NULL,   -- 'cli:<os user>@<host>' or 'http:<caller>' (never a key's value)
    action        text        NOT NULL CHECK (action IN ('export', 'erase', 'erase_dry_run')),
    subject_user  text        NOT NULL,
    outcome       text        NOT NULL CHECK (outcome IN ('succeeded', 'failed')),
    counts        jsonb       NOT NULL DEFAULT '{}'::jsonb,
    error         text
);
CREATE INDEX admin_audit_subject_idx ON {{bookkeeping}}.admin_audit (subject_user, at DESC);

REVOKE ALL ON {{bookkeeping}}.admin_audit FROM PUBLIC, anon, authenticated;
GRANT SELECT, INSERT ON {{bookkeeping}}.admin_audit TO nexus_archiver; -- append-only for the app: no UPDATE, no DELETE
ALTER TABLE {{bookkeeping}}.admin_audit ENABLE ROW LEVEL SECURITY;
CREATE POLICY archiver_append ON {{bookkeeping}}.admin_audit FOR INSERT TO nexus_archiver WITH CHECK (true);
CREATE POLICY archiver_read ON {{bookkeeping}}.admin_audit FOR SELECT TO nexus_archiver USING (true);

-- erase (the right to be forgotten) hard-deletes a user's archived rows; the archiver's app runs it, so it may delete.
-- A deployment that wants the app unable to delete can revoke this and run erase with a separate admin connection.
GRANT DELETE ON {{target}}.users, {{target}}.chat_sessions, {{target}}.messages, {{target}}.attachment_refs TO nexus_archiver;
