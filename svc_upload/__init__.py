"""The upload service: the upload ledger and the only writer of new objects.

Owns: upload sessions and their received chunks/parts (its own PostgreSQL database), proxy
chunk streaming (gRPC client stream → S3, hashed on the way, never buffered whole), S3 multipart
coordination for direct uploads (presigned part URLs, CompleteMultipartUpload), tus uploads
(bytes at any offset in pieces of any size, on S3 multipart with temporary tail objects under
`tus/`; docs/tus.md), and the reaper that expires abandoned sessions, finishes sessions stuck in
`completing` and sweeps temporary objects nobody needs.

Rules it keeps (docs/design.md §5): a session row exists before any S3 call or URL; state changes
are conditional UPDATEs so exactly one caller wins a race; a session is `completed` only after the
object is stored and FilesService.RegisterFile (idempotent on the upload id) has answered.

Must not: read another service's tables, trust client-declared sizes or ETags as the stored
result (size comes from a stat of the object), or abort an S3 upload the ledger marks
`completing`/`completed`.

Layout: __main__.py (the composition root: wiring, `serve` and the `reap` command), server.py
(gRPC ⇄ domain), service.py (the UploadService entry point: sessions, status, abort, expiry)
with proxy.py (chunks), multipart.py (parts), completion.py (finishing a claimed session);
tus.py (TusUploads: tus creation, writes, status, the sweep) with tus_bytes.py (a write's bytes
on their way) and tus_store.py (PgTusLedger: the tus rows, the writer lease);
rules.py (checks without I/O), seams.py (the Protocols: Ledger, Objects, FilesRegistry; and
Deps, the three with the rules, passed whole to every part of the service),
models.py; store.py (PgLedger: SQL), s3.py (S3Objects: the only S3 module, on common.s3),
files_client.py (GrpcFilesRegistry: RegisterFile), reaper.py (one pass; run periodically by
common.background and by `python -m svc_upload reap`).

Early rejection of a chunk: the server drains what the client is still sending before the
status goes out (a client still writing into a finished call sees a transport error instead of
the status), up to a bound; the edge does the same on its side of the stream.

Whole-object checksums stored with the file:
- proxy, one chunk: the SHA-256 hex of the object;
- proxy, N > 1 chunks: SHA-256 hex over the concatenated raw per-chunk SHA-256 digests, suffixed
  `-N` (the shape of S3 composite checksums), e.g. `9f…c2-3`;
- multipart: S3's multipart ETag of the completed object (MD5 of the part MD5s, suffixed `-N`);
- tus: as proxy (one object or one part: its SHA-256 hex; N parts: the composite, `-N`).
"""

from common.runtime import prepare_process

prepare_process()  # before grpc is imported: see common/runtime.py
