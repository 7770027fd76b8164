-- Proxy chunk sizes the client chooses (issue 24): a session created without chunk_size_bytes
-- learns its chunk size from the first chunk that arrives (part_size_bytes and total_chunks are
-- then rewritten once); until then only the proposal is stored.
ALTER TABLE upload_sessions ADD COLUMN chunk_size_fixed boolean NOT NULL DEFAULT true;
