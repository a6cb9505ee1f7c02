-- NexusArchive 0002: roles, grants and Row Level Security (docs/security.md explains every line in plain words).
-- Applies on plain PostgreSQL and on Supabase. Supabase already has the roles anon, authenticated and service_role,
-- the auth schema and auth.jwt(); on a plain server they are created here, NOLOGIN, only when missing. Roles are
-- cluster-wide while migrations run per database and per schema pair, so several migrators (other databases, or
-- other schema pairs) may try to create them at the same moment: every CREATE ROLE tolerates losing that race.

DO $roles$
DECLARE
    role_name text;
BEGIN
    FOREACH role_name IN ARRAY ARRAY['anon', 'authenticated', 'service_role', 'nexus_archiver']
    LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = role_name) THEN
            BEGIN
                EXECUTE format('CREATE ROLE %I NOLOGIN', role_name);
            EXCEPTION
                WHEN duplicate_object OR unique_violation THEN
                    NULL; -- a concurrent migrator created it first
            END;
        END IF;
    END LOOP;
END
$roles$;

-- auth.jwt(): Supabase's function returning the request's JWT claims (PostgREST puts them into the
-- transaction setting request.jwt.claims). Created only when missing; Supabase's own one is never replaced.
DO $auth$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = 'auth') THEN
        CREATE SCHEMA auth;
        GRANT USAGE ON SCHEMA auth TO anon, authenticated, service_role;
    END IF;

    IF to_regprocedure('auth.jwt()') IS NULL THEN
        CREATE FUNCTION auth.jwt() RETURNS jsonb
            LANGUAGE sql STABLE
            AS $fn$
                SELECT coalesce(
                    nullif(current_setting('request.jwt.claim', true), ''),
                    nullif(current_setting('request.jwt.claims', true), ''))::jsonb
            $fn$;
        GRANT EXECUTE ON FUNCTION auth.jwt() TO anon, authenticated, service_role;
    END IF;
END
$auth$;

-- Which JWT claim holds NexusChat's user id: Archive:Security:OwnerClaim, written by the migrator after every
-- migration run (default 'sub'). Read through owner_claim()/current_owner_id(), which run as their owner, so
-- authenticated needs neither USAGE on this schema nor SELECT on this table.
CREATE TABLE {{bookkeeping}}.settings (
    key    text PRIMARY KEY,
    value  text NOT NULL
);
INSERT INTO {{bookkeeping}}.settings (key, value) VALUES ('owner_claim', 'sub');

CREATE FUNCTION {{bookkeeping}}.owner_claim() RETURNS text
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog
    AS $fn$ SELECT coalesce((SELECT value FROM {{bookkeeping}}.settings WHERE key = 'owner_claim'), 'sub') $fn$;

CREATE FUNCTION {{bookkeeping}}.current_owner_id() RETURNS text
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog
    AS $fn$ SELECT auth.jwt() ->> {{bookkeeping}}.owner_claim() $fn$;

REVOKE ALL ON FUNCTION {{bookkeeping}}.owner_claim() FROM PUBLIC;
REVOKE ALL ON FUNCTION {{bookkeeping}}.current_owner_id() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION {{bookkeeping}}.current_owner_id() TO authenticated;

-- Grants. Start from nothing (Supabase's default privileges on public grant ALL to anon and authenticated),
-- then give each role exactly what it needs.
REVOKE ALL ON ALL TABLES IN SCHEMA {{bookkeeping}} FROM PUBLIC, anon, authenticated;
REVOKE ALL ON SCHEMA {{bookkeeping}} FROM PUBLIC, anon, authenticated;
REVOKE ALL ON {{target}}.users, {{target}}.chat_sessions, {{target}}.messages, {{target}}.attachment_refs
    FROM PUBLIC, anon, authenticated;

GRANT USAGE ON SCHEMA {{target}} TO authenticated, nexus_archiver;
GRANT SELECT ON {{target}}.users, {{target}}.chat_sessions, {{target}}.messages, {{target}}.attachment_refs
    TO authenticated;
-- MERGE needs SELECT, INSERT and UPDATE; the archive never deletes (soft deletes are rows).
GRANT SELECT, INSERT, UPDATE ON {{target}}.users, {{target}}.chat_sessions, {{target}}.messages, {{target}}.attachment_refs
    TO nexus_archiver;

GRANT USAGE ON SCHEMA {{bookkeeping}} TO nexus_archiver;
GRANT SELECT, INSERT, UPDATE, DELETE ON {{bookkeeping}}.checkpoints, {{bookkeeping}}.runs, {{bookkeeping}}.dead_letters
    TO nexus_archiver;
GRANT SELECT ON {{bookkeeping}}.schema_migrations, {{bookkeeping}}.settings TO nexus_archiver;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {{bookkeeping}} TO nexus_archiver;

-- Row Level Security on every table. With RLS on and no policy for a role, that role sees and writes nothing:
-- anon has no policy at all. Table owners (the migrating admin) bypass RLS as PostgreSQL defines.
ALTER TABLE {{target}}.users           ENABLE ROW LEVEL SECURITY;
ALTER TABLE {{target}}.chat_sessions   ENABLE ROW LEVEL SECURITY;
ALTER TABLE {{target}}.messages        ENABLE ROW LEVEL SECURITY;
ALTER TABLE {{target}}.attachment_refs ENABLE ROW LEVEL SECURITY;
ALTER TABLE {{bookkeeping}}.checkpoints  ENABLE ROW LEVEL SECURITY;
ALTER TABLE {{bookkeeping}}.runs         ENABLE ROW LEVEL SECURITY;
ALTER TABLE {{bookkeeping}}.dead_letters ENABLE ROW LEVEL SECURITY;
ALTER TABLE {{bookkeeping}}.settings     ENABLE ROW LEVEL SECURITY;

-- authenticated: read its own rows, nothing else. (SELECT …) makes PostgreSQL evaluate the owner id once per query.
CREATE POLICY users_select_own ON {{target}}.users
    FOR SELECT TO authenticated USING (id = (SELECT {{bookkeeping}}.current_owner_id()));
CREATE POLICY chat_sessions_select_own ON {{target}}.chat_sessions
    FOR SELECT TO authenticated USING (user_id = (SELECT {{bookkeeping}}.current_owner_id()));
CREATE POLICY messages_select_own ON {{target}}.messages
    FOR SELECT TO authenticated USING (user_id = (SELECT {{bookkeeping}}.current_owner_id()));
CREATE POLICY attachment_refs_select_own ON {{target}}.attachment_refs
    FOR SELECT TO authenticated USING (user_id = (SELECT {{bookkeeping}}.current_owner_id()));

-- nexus_archiver: passes RLS through explicit policies (the alternative, ALTER ROLE nexus_archiver BYPASSRLS,
-- needs a superuser and is documented in docs/security.md).
CREATE POLICY archiver_all ON {{target}}.users           FOR ALL TO nexus_archiver USING (true) WITH CHECK (true);
CREATE POLICY archiver_all ON {{target}}.chat_sessions   FOR ALL TO nexus_archiver USING (true) WITH CHECK (true);
CREATE POLICY archiver_all ON {{target}}.messages        FOR ALL TO nexus_archiver USING (true) WITH CHECK (true);
CREATE POLICY archiver_all ON {{target}}.attachment_refs FOR ALL TO nexus_archiver USING (true) WITH CHECK (true);
CREATE POLICY archiver_all ON {{bookkeeping}}.checkpoints  FOR ALL TO nexus_archiver USING (true) WITH CHECK (true);
CREATE POLICY archiver_all ON {{bookkeeping}}.runs         FOR ALL TO nexus_archiver USING (true) WITH CHECK (true);
CREATE POLICY archiver_all ON {{bookkeeping}}.dead_letters FOR ALL TO nexus_archiver USING (true) WITH CHECK (true);
CREATE POLICY archiver_read ON {{bookkeeping}}.settings    FOR SELECT TO nexus_archiver USING (true);

-- Tables later migrations add to the bookkeeping schema are usable by the archiver without another grant
-- (they still need ENABLE ROW LEVEL SECURITY and a policy, which the start-up safety check enforces for the archive tables).
ALTER DEFAULT PRIVILEGES IN SCHEMA {{bookkeeping}} GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO nexus_archiver;
ALTER DEFAULT PRIVILEGES IN SCHEMA {{bookkeeping}} GRANT USAGE, SELECT ON SEQUENCES TO nexus_archiver;
