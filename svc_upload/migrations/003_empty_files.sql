-- Empty files (issue 12): a session may declare 0 bytes; it has one empty chunk or part.
ALTER TABLE upload_sessions DROP CONSTRAINT upload_sessions_file_size_bytes_check;
ALTER TABLE upload_sessions ADD CONSTRAINT upload_sessions_file_size_bytes_check
    CHECK (file_size_bytes >= 0);
