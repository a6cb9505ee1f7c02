-- NexusArchive 0007: full-text search over messages.content and analytics views, for apps that read the archive the
-- Supabase way (PostgREST / supabase-js under the user's own session). docs/queries.md explains every object here.
-- {{target}} / {{bookkeeping}} are the validated, quoted schema names. {{search_language}} is Archive:SearchLanguage
-- (default 'simple'), checked against PostgreSQL's built-in text search configurations and rendered as a quoted literal.
--
-- Why 'simple' by default: NexusChat's chats are multilingual. 'simple' lower-cases and splits words, with no stemming
-- and no stop words, so it treats every language alike: "running" does not find "run", but no German, Turkish or Greek
-- word is mangled by an English stemmer or dropped as an English stop word. An archive in one language may choose that
-- language's configuration (stemming, stop words) through Archive:SearchLanguage.
--
-- Nothing here bypasses Row Level Security: the function is SECURITY INVOKER and every view security_invoker, so a
-- caller sees exactly the rows 0002's policies give it (authenticated: its own; anon: nothing).

-- search-language: begin
-- Everything between these markers depends on Archive:SearchLanguage. When the setting changes after this migration
-- ran, `migrate` runs this block again with the configured value (Migrator.ApplySearchAsync), so it must stay
-- re-runnable. A later migration that redefines search_messages moves the markers with it: the migrator runs the block
-- of the newest migration that has one.
--
-- No full-text index here, on purpose. A GIN index over to_tsvector(content) made the archive's initial load 5x slower
-- (parsing every message's text on the write path), and under Row Level Security PostgreSQL does not use it anyway
-- (@@ is not leakproof, so the policy's user_id condition must be applied first). A signed-in user's search reaches
-- that user's messages through messages_user_id_idx (0001) and tests each: its cost grows with the user's own message
-- count, not the archive's. Operators who search across users (service_role) can opt in to the GIN index with
-- Archive:SearchIndex = true: `migrate` then builds messages_content_search_idx with CREATE INDEX CONCURRENTLY
-- (Migrator.SearchIndexSql; archive passes keep writing meanwhile). docs/queries.md has the measurements.

-- Search what a person types: websearch_to_tsquery understands "a phrase", -excluded and `or`. Best matches first
-- (ts_rank_cd: how many query terms, how close together), newer first among equals; at most max_results rows (clamped
-- to 1..500). Soft-deleted messages (deleted_at set) are never returned: whoever deleted a message does not expect
-- search to bring it back. The snippet marks each match «like this», up to two fragments joined by " … ".
-- Ranking happens on the matching rows only, and the snippet (which re-reads the text) only for the rows returned.
-- The WHERE repeats the opt-in index's expression exactly, so a search that bypasses RLS uses that index when it exists.
-- search_path is empty, as Supabase's database linter asks of every function: tables are schema-qualified and
-- pg_catalog (the functions and operators used) is always searched. That costs nothing here: PostgREST calls the
-- function on its own, it is not inlined into a bigger query.
CREATE OR REPLACE FUNCTION {{target}}.search_messages(query text, max_results integer DEFAULT 50)
    RETURNS TABLE (id text, session_id text, created_at timestamptz, rank real, snippet text)
    LANGUAGE sql STABLE SECURITY INVOKER PARALLEL SAFE
    SET search_path = ''
AS $fn$
    SELECT hit.id, hit.session_id, hit.created_at, hit.rank,
           ts_headline({{search_language}}::regconfig, hit.content, hit.q,
               'StartSel=«, StopSel=», MaxFragments=2, MaxWords=24, MinWords=8, ShortWord=0, FragmentDelimiter=" … "')
      FROM (SELECT m.id, m.session_id, m.created_at, coalesce(m.content, '') AS content, q.q,
                   ts_rank_cd(to_tsvector({{search_language}}::regconfig, coalesce(m.content, '')), q.q) AS rank
              FROM {{target}}.messages m,
                   (SELECT websearch_to_tsquery({{search_language}}::regconfig, coalesce(query, '')) AS q) q
             WHERE to_tsvector({{search_language}}::regconfig, coalesce(m.content, '')) @@ q.q
               AND m.deleted_at IS NULL
             ORDER BY rank DESC, m.created_at DESC, m.id
             LIMIT greatest(1, least(coalesce(max_results, 50), 500))) hit
     ORDER BY hit.rank DESC, hit.created_at DESC, hit.id
$fn$;

-- Which configuration the function (and the opt-in index) were built with, so `migrate` can tell when the setting changed.
INSERT INTO {{bookkeeping}}.settings (key, value) VALUES ('search_language', {{search_language}})
    ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value;
-- search-language: end

COMMENT ON FUNCTION {{target}}.search_messages(text, integer) IS
    'Full-text search over the caller''s messages (RLS applies): websearch syntax, best match first, highlighted snippet. See docs/queries.md.';

-- As in 0002: start from nothing (Supabase's default privileges give EXECUTE to PUBLIC, anon and authenticated), then
-- grant what each role needs. authenticated: its own messages, through RLS. service_role: Supabase's server-side key
-- (it bypasses RLS there, so it searches everyone's messages: server code only). The archiver never searches.
REVOKE ALL ON FUNCTION {{target}}.search_messages(text, integer) FROM PUBLIC, anon, authenticated;
GRANT EXECUTE ON FUNCTION {{target}}.search_messages(text, integer) TO authenticated, service_role;

-- Analytics. Days are UTC calendar days of created_at. Counts include soft-deleted rows: those messages were written
-- and their tokens spent; session_summary tells deleted ones apart. tokens = sum of messages.token_count (NULL counts 0).

-- Per user and day: messages written, chat sessions started, tokens.
CREATE VIEW {{target}}.user_daily_usage WITH (security_invoker = true) AS
SELECT e.user_id,
       e.day,
       count(e.message_id)              AS messages,
       count(e.session_id)              AS sessions_started,
       coalesce(sum(e.tokens), 0)::bigint AS tokens
  FROM (SELECT m.user_id, (m.created_at AT TIME ZONE 'UTC')::date AS day, m.id AS message_id, NULL::text AS session_id, m.token_count AS tokens
          FROM {{target}}.messages m
        UNION ALL
        SELECT s.user_id, (s.created_at AT TIME ZONE 'UTC')::date, NULL, s.id, NULL
          FROM {{target}}.chat_sessions s) e
 GROUP BY e.user_id, e.day;

-- Per model and day: messages and tokens (model as the message carries it; user messages usually have none: model NULL).
CREATE VIEW {{target}}.model_daily_usage WITH (security_invoker = true) AS
SELECT m.model,
       (m.created_at AT TIME ZONE 'UTC')::date AS day,
       count(*)                                AS messages,
       coalesce(sum(m.token_count), 0)::bigint AS tokens
  FROM {{target}}.messages m
 GROUP BY m.model, (m.created_at AT TIME ZONE 'UTC')::date;

-- Per chat session: its first and last message, how many (and how many soft-deleted), tokens, and whether the session
-- itself is deleted. One row per archived session (a session without messages has messages = 0 and NULL times);
-- messages whose session is not archived (orphans, see docs/architecture.md) are not in this view.
CREATE VIEW {{target}}.session_summary WITH (security_invoker = true) AS
SELECT s.id                           AS session_id,
       s.user_id,
       s.title,
       s.model,
       s.created_at,
       s.updated_at,
       s.deleted_at IS NOT NULL       AS deleted,
       s.deleted_at,
       agg.first_message_at,
       agg.last_message_at,
       agg.messages,
       agg.deleted_messages,
       coalesce(agg.tokens, 0)::bigint AS tokens
  FROM {{target}}.chat_sessions s
 CROSS JOIN LATERAL (
        SELECT min(x.created_at)                               AS first_message_at,
               max(x.created_at)                               AS last_message_at,
               count(*)                                        AS messages,
               count(*) FILTER (WHERE x.deleted_at IS NOT NULL) AS deleted_messages,
               sum(x.token_count)                              AS tokens
          FROM {{target}}.messages x
         WHERE x.session_id = s.id) agg;

REVOKE ALL ON {{target}}.user_daily_usage, {{target}}.model_daily_usage, {{target}}.session_summary FROM PUBLIC, anon, authenticated;
GRANT SELECT ON {{target}}.user_daily_usage, {{target}}.model_daily_usage, {{target}}.session_summary TO authenticated, service_role;
