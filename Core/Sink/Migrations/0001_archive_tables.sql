-- NexusArchive 0001: the archive tables and the private bookkeeping schema.
-- {{target}} and {{bookkeeping}} are replaced by the validated, quoted schema names from Archive:TargetSchema
-- and Archive:BookkeepingSchema. No foreign keys between archive tables: the source is eventually
-- consistent, a child may arrive before its parent, and an archive must never refuse a record for that
-- (see docs/architecture.md, "Orphans").

CREATE SCHEMA IF NOT EXISTS {{target}};

CREATE TABLE {{target}}.users (
    id            text        PRIMARY KEY,
    email         text,
    display_name  text,
    avatar_url    text,
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL,
    deleted_at    timestamptz,
    extra         jsonb,
    archived_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE {{target}}.chat_sessions (
    id            text        PRIMARY KEY,
    user_id       text        NOT NULL,
    title         text,
    model         text,
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL,
    deleted_at    timestamptz,
    extra         jsonb,
    archived_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX chat_sessions_user_id_updated_at_idx ON {{target}}.chat_sessions (user_id, updated_at DESC);

CREATE TABLE {{target}}.messages (
    id            text        PRIMARY KEY,
    session_id    text        NOT NULL,
    user_id       text        NOT NULL,
    role          text        NOT NULL CHECK (role IN ('user', 'assistant', 'system', 'tool')),
    content       text,
    model         text,
    token_count   bigint,
    metadata      jsonb,
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL,
    deleted_at    timestamptz,
    extra         jsonb,
    archived_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX messages_session_id_created_at_idx ON {{target}}.messages (session_id, created_at);
CREATE INDEX messages_user_id_idx ON {{target}}.messages (user_id);

CREATE TABLE {{target}}.attachment_refs (
    id            text        PRIMARY KEY,
    message_id    text        NOT NULL,
    session_id    text,
    user_id       text        NOT NULL,
    file_name     text,
    mime_type     text,
    size_bytes    bigint,
    storage_url   text,
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL,
    deleted_at    timestamptz,
    extra         jsonb,
    archived_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX attachment_refs_message_id_idx ON {{target}}.attachment_refs (message_id);
CREATE INDEX attachment_refs_user_id_idx ON {{target}}.attachment_refs (user_id);

-- Bookkeeping: one row per entity. (score, member) is the last committed change-index position;
-- lease_owner/lease_expires_at keep two passes from working one entity at once.
CREATE TABLE {{bookkeeping}}.checkpoints (
    entity            text        PRIMARY KEY,
    score             double precision,
    member            bytea,
    updated_at        timestamptz,
    lease_owner       uuid,
    lease_expires_at  timestamptz
);

CREATE TABLE {{bookkeeping}}.runs (
    run_id       uuid        PRIMARY KEY,
    trigger      text        NOT NULL,
    started_at   timestamptz NOT NULL,
    finished_at  timestamptz,
    status       text        NOT NULL,
    error        text,
    entities     jsonb       NOT NULL DEFAULT '[]'::jsonb
);
CREATE INDEX runs_started_at_idx ON {{bookkeeping}}.runs (started_at DESC);

CREATE TABLE {{bookkeeping}}.dead_letters (
    dead_letter_id   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    entity           text        NOT NULL,
    member           bytea       NOT NULL,
    record_id        text        NOT NULL,
    redis_key        text        NOT NULL,
    score            double precision NOT NULL,
    reason_category  text        NOT NULL,
    reason           text        NOT NULL,
    raw_fields       jsonb       NOT NULL,
    status           text        NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'resolved', 'discarded')),
    attempts         integer     NOT NULL DEFAULT 1,
    first_seen_at    timestamptz NOT NULL DEFAULT now(),
    last_seen_at     timestamptz NOT NULL DEFAULT now(),
    last_run_id      uuid,
    closed_at        timestamptz
);
CREATE UNIQUE INDEX dead_letters_open_uq ON {{bookkeeping}}.dead_letters (entity, member) WHERE status = 'open';
CREATE INDEX dead_letters_status_idx ON {{bookkeeping}}.dead_letters (status, entity);
