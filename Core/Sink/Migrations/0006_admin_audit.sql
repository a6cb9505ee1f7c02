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

-- erase (the right to be forgotten) hard-deletes a user's archived rows. The archiver itself stays unable to delete
-- (least privilege, docs/security.md): deleting is a separate role, nexus_eraser, that an operator grants on purpose —
-- to an administrator's login for the CLI, or to the Functions app's login to allow the admin-level HTTP erase.
DO $eraser$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'nexus_eraser') THEN
        BEGIN
            CREATE ROLE nexus_eraser NOLOGIN;
        EXCEPTION
            WHEN duplicate_object OR unique_violation THEN
                NULL; -- a concurrent migrator created it first
        END;
    END IF;
END
$eraser$;
GRANT USAGE ON SCHEMA {{target}} TO nexus_eraser;
GRANT SELECT, DELETE ON {{target}}.users, {{target}}.chat_sessions, {{target}}.messages, {{target}}.attachment_refs TO nexus_eraser;
-- Row Level Security applies to DELETE too: without these policies a DELETE by the eraser would silently remove nothing.
CREATE POLICY eraser_select ON {{target}}.users           FOR SELECT TO nexus_eraser USING (true);
CREATE POLICY eraser_select ON {{target}}.chat_sessions   FOR SELECT TO nexus_eraser USING (true);
CREATE POLICY eraser_select ON {{target}}.messages        FOR SELECT TO nexus_eraser USING (true);
CREATE POLICY eraser_select ON {{target}}.attachment_refs FOR SELECT TO nexus_eraser USING (true);
CREATE POLICY eraser_delete ON {{target}}.users           FOR DELETE TO nexus_eraser USING (true);
CREATE POLICY eraser_delete ON {{target}}.chat_sessions   FOR DELETE TO nexus_eraser USING (true);
CREATE POLICY eraser_delete ON {{target}}.messages        FOR DELETE TO nexus_eraser USING (true);
CREATE POLICY eraser_delete ON {{target}}.attachment_refs FOR DELETE TO nexus_eraser USING (true);
