-- Issue 22: an S3 multipart upload the store accepted while its session's own write failed (the
-- store answered after the service gave up; PostgreSQL died between the S3 call and the write)
-- is recorded nowhere but under the session's storage key. The reaper matches open uploads to
-- sessions by that key, and lists the key of every session that ended without an upload id once
-- (a store may list open uploads only per object name, as MinIO does).
CREATE INDEX upload_sessions_storage_key ON upload_sessions (storage_key);
ALTER TABLE upload_sessions ADD COLUMN uploads_swept_at timestamptz;
CREATE INDEX upload_sessions_unswept ON upload_sessions (updated_at)
    WHERE uploads_swept_at IS NULL AND storage_upload_id IS NULL
      AND state IN ('failed', 'aborted', 'expired');
