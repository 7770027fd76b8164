-- The upload ledger. A session row exists before any S3 call or presigned URL; state changes are
-- conditional UPDATEs (WHERE state = ...), so exactly one caller wins each transition.
CREATE TABLE upload_sessions (
    upload_uuid        uuid PRIMARY KEY,
    owner_id           text NOT NULL,
    method             text NOT NULL CHECK (method IN ('proxy', 'multipart')),
    file_name          text NOT NULL,
    file_size_bytes    bigint NOT NULL CHECK (file_size_bytes > 0),
    part_size_bytes    bigint NOT NULL CHECK (part_size_bytes > 0),
    total_chunks       integer NOT NULL CHECK (total_chunks BETWEEN 1 AND 10000),
    file_id            uuid NOT NULL UNIQUE,
    storage_key        text NOT NULL,
    storage_upload_id  text,
    state              text NOT NULL DEFAULT 'pending' CHECK (state IN
                       ('pending', 'uploading', 'completing', 'completed', 'failed', 'aborted',
                        'expired')),
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    expires_at         timestamptz NOT NULL,
    -- who holds `completing` and since when (a stale claim may be taken over)
    claim_token        uuid,
    claimed_at         timestamptz,
    -- the measured result, set with state = 'completed'
    result_size_bytes  bigint,
    result_checksum    text,
    mime_type          text,
    completed_at       timestamptz,
    failure_reason     text
);

CREATE INDEX upload_sessions_active_expiry ON upload_sessions (expires_at)
    WHERE state IN ('pending', 'uploading');
CREATE INDEX upload_sessions_completing ON upload_sessions (claimed_at)
    WHERE state = 'completing';
CREATE INDEX upload_sessions_owner ON upload_sessions (owner_id, created_at);

-- Received proxy chunks (chunk index i stored as part_number i + 1) and registered multipart
-- parts. Upserted: a re-sent chunk or re-registered part replaces the ETag (newest wins).
CREATE TABLE upload_parts (
    upload_uuid  uuid NOT NULL REFERENCES upload_sessions (upload_uuid) ON DELETE CASCADE,
    part_number  integer NOT NULL CHECK (part_number BETWEEN 1 AND 10000),
    etag         text NOT NULL,
    size_bytes   bigint NOT NULL,
    sha256       text,
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (upload_uuid, part_number)
);
