-- tus uploads (issue 24): sessions of method 'tus' receive bytes at any offset in pieces of any
-- size. Whole S3 parts are recorded in upload_parts as usual (their S3 part numbers rise with
-- the offset but may skip numbers: every attempt gets a fresh one); the bytes that do not fill
-- a part yet live in one temporary object, the tail, named here. A deferred length is 0 in
-- upload_sessions until declared.
ALTER TABLE upload_sessions DROP CONSTRAINT upload_sessions_method_check;
ALTER TABLE upload_sessions ADD CONSTRAINT upload_sessions_method_check
    CHECK (method IN ('proxy', 'multipart', 'tus'));

CREATE TABLE tus_uploads (
    upload_uuid      uuid PRIMARY KEY REFERENCES upload_sessions (upload_uuid) ON DELETE CASCADE,
    -- bytes received and durable (recorded parts + tail): the Upload-Offset
    received_bytes   bigint NOT NULL DEFAULT 0 CHECK (received_bytes >= 0),
    length_deferred  boolean NOT NULL DEFAULT false,
    -- Upload-Metadata as the client sent it (echoed by HEAD)
    metadata         text NOT NULL DEFAULT '',
    -- the temporary object holding the bytes after the last recorded part
    tail_key         text,
    tail_bytes       bigint NOT NULL DEFAULT 0 CHECK (tail_bytes >= 0),
    tail_sha256      text,
    -- the next S3 part number to hand out (never reused)
    next_part        integer NOT NULL DEFAULT 1,
    -- the one request writing bytes, when it last said it is alive, and whether a newer
    -- request for the upload asked it to stop (its client is probably gone)
    writer_token     uuid,
    writer_at        timestamptz,
    release_requested boolean NOT NULL DEFAULT false
);
