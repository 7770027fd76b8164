-- Files service schema: file metadata, shares, public links, shortcuts and the queue of objects
-- whose S3 deletion is still owed (retried by the janitor until it succeeds).

CREATE TABLE files (
    file_id      uuid PRIMARY KEY,
    upload_id    uuid UNIQUE,                 -- NULL for copies; RegisterFile is idempotent on it
    owner_id     uuid NOT NULL,               -- an auth user id (other database: no FK)
    name         text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 255),
    mime_type    text NOT NULL,
    size_bytes   bigint NOT NULL CHECK (size_bytes >= 0),
    checksum     text NOT NULL DEFAULT '',
    storage_key  text NOT NULL UNIQUE,
    created_at   timestamptz NOT NULL DEFAULT now(),
    deleted_at   timestamptz
);
-- Owned listing: newest first with a stable tiebreak, live rows only.
CREATE INDEX files_owner_live_idx ON files (owner_id, created_at DESC, file_id DESC)
    WHERE deleted_at IS NULL;

CREATE TABLE file_shares (
    file_id     uuid NOT NULL REFERENCES files (file_id) ON DELETE CASCADE,
    user_id     uuid NOT NULL,
    email       text NOT NULL,                -- the recipient's normalised email at share time
    permission  text NOT NULL CHECK (permission IN ('viewer', 'editor')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (file_id, user_id)
);
CREATE INDEX file_shares_user_idx ON file_shares (user_id);

CREATE TABLE public_files (
    file_id     uuid PRIMARY KEY REFERENCES files (file_id) ON DELETE CASCADE,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE file_shortcuts (
    shortcut_id uuid PRIMARY KEY,
    file_id     uuid NOT NULL REFERENCES files (file_id) ON DELETE CASCADE,
    user_id     uuid NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (user_id, file_id)
);
CREATE INDEX file_shortcuts_file_idx ON file_shortcuts (file_id);

-- Objects of deleted files (and failed copies) still to be removed from S3.
CREATE TABLE pending_deletes (
    id            bigserial PRIMARY KEY,
    storage_key   text NOT NULL,
    enqueued_at   timestamptz NOT NULL DEFAULT now(),
    attempts      integer NOT NULL DEFAULT 0,
    last_error    text,
    next_attempt_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX pending_deletes_due_idx ON pending_deletes (next_attempt_at);
