"""The files service: file metadata, listings, sharing, public links, shortcuts, object deletion.

Owns the files database (tables `files`, `file_shares`, `public_files`, `file_shortcuts`,
`pending_deletes`, and for storage quotas `user_usage` + `quota_reservations`) and, for
objects whose file it has registered, their deletion and copies in the S3 bucket. It never
writes file bytes (the upload service does) and never reads another service's tables: users
are resolved through auth `ResolveUsers` with the service credential. A public link is a flag on
the file; CreatePublicLink also answers the URL clients use,
`{GOVAULT_PUBLIC_BASE_URL}/api/files/f/{file_id}` (`service.py` builds it: the one place this
service names an edge route).

    __main__.py   the composition root: wiring, `serve`, the `audit` and `quota` commands
    server.py     gRPC ⇄ domain conversion, caller identity; nothing else
    service.py    the entry point of every operation and the order of its side effects
    rules.py      the access matrix and validators (no I/O)
    seams.py      the Protocols: Catalog, Objects, Directory (+ the janitor's)
    store.py      PgCatalog: SQL → dataclasses (models.py); SQLSTATEs → domain errors
    quota_store.py  PgQuotas (PgCatalog's base): usage counters, reservations, conditional updates
    quota_admin.py  the operator's `quota set | show | list | audit` commands
    s3.py         S3Objects: the only module speaking S3 (on common.s3)
    directory.py  AuthDirectory: auth ResolveUsers client (emails → user ids)
    janitor.py    retries owed object deletions; audit (rows vs objects)

Access: owner > editor (rename) > viewer (read, copy, shortcut) > public (read, copy, shortcut).
A file the caller may not see is FILE_NOT_FOUND (404, existence not leaked); one they may see but
not change is PERMISSION_DENIED (403). Deleted files vanish from every list at once (soft-deleted
row + a pending delete committed in one transaction; the object is removed at once or by the
janitor).

Quotas: a user's usage (live files' bytes; copies count, shares do not) and reservations (open
upload sessions) change in the same transaction as the rows they follow; an upload session
(ReserveQuota) or a copy that would take used + reserved past a non-zero quota is QUOTA_EXCEEDED
(413 at the edge). Quota NULL = GOVAULT_DEFAULT_QUOTA_BYTES.
"""

from common.runtime import prepare_process

prepare_process()  # before grpc is imported: see common/runtime.py
