"""The files service: file metadata, listings, sharing, public links, shortcuts, object deletion.

Owns the files database (tables `files`, `file_shares`, `public_files`, `file_shortcuts`,
`pending_deletes`) and, for objects whose file it has registered, their deletion and copies in
the S3 bucket. It never writes file bytes (the upload service does) and never reads another
service's tables: users are resolved through auth `ResolveUsers` with the service credential.

    server.py   gRPC ⇄ domain conversion, caller identity; nothing else
    service.py  the rules (access matrix, validation); no grpc / psycopg / minio imports
    store.py    SQL → dataclasses (models.py); SQLSTATEs → domain errors
    s3.py       the only module speaking S3 (minio, blocking → asyncio.to_thread)
    directory.py  auth ResolveUsers client (emails → user ids)
    janitor.py  retries owed object deletions; audit (rows vs objects), `python -m svc_files audit`

Access: owner > editor (rename) > viewer (read, copy, shortcut) > public (read, copy, shortcut).
A file the caller may not see is FILE_NOT_FOUND (404, existence not leaked); one they may see but
not change is PERMISSION_DENIED (403). Deleted files vanish from every list at once (soft-deleted
row + a pending delete committed in one transaction; the object is removed at once or by the
janitor).
"""
