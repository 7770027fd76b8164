-- Storage quotas: one usage row per user (counters kept in the same transaction as the file row
-- they follow) and the reservations of open upload sessions, keyed by upload so reserving,
-- releasing and converting are idempotent.

CREATE TABLE user_usage (
    user_id        uuid PRIMARY KEY,           -- an auth user id (other database: no FK)
    quota_bytes    bigint CHECK (quota_bytes >= 0),  -- NULL: the service default; 0: unlimited
    used_bytes     bigint NOT NULL DEFAULT 0 CHECK (used_bytes >= 0),     -- live files' sizes
    reserved_bytes bigint NOT NULL DEFAULT 0 CHECK (reserved_bytes >= 0), -- open uploads
    files          bigint NOT NULL DEFAULT 0 CHECK (files >= 0),          -- live files
    updated_at     timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE quota_reservations (
    upload_uuid  uuid PRIMARY KEY,              -- an upload session (upload database: no FK)
    user_id      uuid NOT NULL,
    bytes        bigint NOT NULL CHECK (bytes >= 0),
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX quota_reservations_user_idx ON quota_reservations (user_id);

-- Files registered before quotas existed count from the start.
INSERT INTO user_usage (user_id, used_bytes, files)
SELECT owner_id, sum(size_bytes), count(*) FROM files WHERE deleted_at IS NULL GROUP BY owner_id;
