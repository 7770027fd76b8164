"""Whole-file uploads, resumable and parallel.

`upload_file` picks proxy (chunks through GoVault) or multipart (parts straight to S3 at
presigned URLs), or tus when asked (client/tus.py: GoVault's tus endpoint or any tus
server's), records the session in a `ResumeStore` before sending a byte, and sends the
pieces `parallel` at a time, streamed from disk. Run again for the same path after any
interruption, it asks `GET /api/upload/status` (tus: HEAD) what arrived and sends only the rest;
a file whose size or mtime changed starts over, and so does a session that expired (with a note).

Why one module of ~380 lines: both methods share the resume record, the piece scheduler and the
progress reporting; apart, each would need the other's half.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from client.api import GoVaultClient
from client.errors import ApiError, ClientError, NotFoundError, UploadExpired
from client.models import UploadStatus
from client.streams import Flow, file_range, sha256_range
from client.tus import TusUpload

MIB = 1024 * 1024
# S3's part limits (the server's are in common/files.py; the client ships without the server,
# tests/unit/common/test_s3_limits.py keeps the two equal)
S3_MIN_PART_BYTES = 5 * MIB
S3_MAX_PARTS = 10_000
DEFAULT_PART_BYTES = 16 * MIB
MULTIPART_THRESHOLD_BYTES = 16 * MIB
METHODS = ("auto", "proxy", "multipart", "tus")
_DEAD_STATES = frozenset({"expired", "aborted", "failed"})
_URL_MARGIN_S = 60.0


class ResumeStore(Protocol):
    """Upload sessions in progress, by a key naming the local file."""

    def get(self, key: str) -> dict[str, Any] | None: ...

    def put(self, key: str, record: dict[str, Any]) -> None: ...

    def drop(self, key: str) -> None: ...


class NoResume:
    def get(self, key: str) -> dict[str, Any] | None:
        return None

    def put(self, key: str, record: dict[str, Any]) -> None:
        pass

    def drop(self, key: str) -> None:
        pass


@dataclass(frozen=True)
class UploadOptions:
    method: str = "auto"
    parallel: int = 4
    part_size_bytes: int = DEFAULT_PART_BYTES
    multipart_threshold_bytes: int = MULTIPART_THRESHOLD_BYTES
    limit_bytes_per_s: float = 0.0
    # tus (client/tus.py): another server's tus endpoint (default: this server's), and the
    # PATCH size (0: the rest of the file in one PATCH)
    tus_endpoint: str = ""
    tus_chunk_bytes: int = 0


@dataclass(frozen=True)
class UploadResult:
    file_id: str
    name: str
    path: str
    size_bytes: int
    method: str
    upload_uuid: str
    resumed: bool
    pieces_total: int  # chunks or parts of the session
    pieces_sent: int  # sent by this run
    pieces_skipped: int  # already on the server when this run started


def choose_method(method: str, size: int, threshold: int) -> str:
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}")
    if method != "auto":
        return method
    return "multipart" if size > threshold else "proxy"


def part_size_for(size: int, wanted: int) -> int:
    """`wanted`, raised as needed so the file fits in S3's 10,000 parts (whole MiB)."""
    part = max(wanted, S3_MIN_PART_BYTES)
    least = -(-size // S3_MAX_PARTS)
    if part < least:
        part = -(-least // MIB) * MIB
    return part


def resume_key(server: str, path: Path) -> str:
    """Sessions belong to a server: the same file sent to two servers resumes on each."""
    return f"{server} {path.resolve()}"


def _parse_ts(value: str) -> float:
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return 0.0


class Uploader:
    def __init__(self, client: GoVaultClient, resume: ResumeStore | None = None,
                 note: Callable[[str], None] | None = None) -> None:
        self.client = client
        self.resume = resume or NoResume()
        self._note = note or (lambda _message: None)

    def upload(self, path: Path, flow: Flow, options: UploadOptions, name: str = "",
               on_start: Callable[[int], None] | None = None) -> UploadResult:
        """Uploads `path`; `on_start(total_bytes)` is called before bytes move (the bytes a
        resumed upload already has are then reported to `flow` at once)."""
        stat = path.stat()
        size = stat.st_size  # 0 too: one empty chunk or part
        name = name or path.name
        method = choose_method(options.method, size, options.multipart_threshold_bytes)
        identity = {"size": size, "mtime_ns": stat.st_mtime_ns, "name": name}
        if method == "tus":
            return self._tus(path, flow, options, name, identity, on_start)
        key = resume_key(self.client.server, path)
        record, status = self._resumable(key, identity, method)
        urls: tuple[dict[int, str], str] | None = None
        if record is None:
            record, urls = self._new_session(name, size, method, options)
            record.update(identity)
            self.resume.put(key, record)
        uuid = str(record["upload_uuid"])
        method = str(record["method"])
        piece = int(record["piece_bytes"])
        total = int(record["total"])
        if status is not None and status.status == "completed" and status.file_id:
            self.resume.drop(key)
            return self._result(status.file_id, name, path, size, method, uuid, True, total, 0,
                                total)
        received = set(status.received if status is not None else ())
        # Parts sent by an earlier run and listed (not registered) at completion: their ETags
        # are in the record.
        received.update(int(n) for n in record.get("etags", {}))
        base = 0 if method == "proxy" else 1
        missing = [n for n in range(base, total + base) if n not in received]
        if not missing and method == "proxy":
            missing = [base + total - 1]  # all there but not completed: a replay completes it
        done_bytes = sum(_piece_length(size, piece, n - base) for n in received)
        if on_start is not None:
            on_start(size)
        flow.progress(done_bytes)
        if method == "proxy":
            file_id = self._send_chunks(path, uuid, size, piece, missing, flow, options)
        else:
            file_id = self._send_parts(path, uuid, size, piece, missing, flow, options, urls,
                                       _Etags(self.resume, key, record))
        self.resume.drop(key)
        return self._result(file_id, name, path, size, method, uuid, status is not None, total,
                            len(missing), total - len(missing))

    def _tus(self, path: Path, flow: Flow, options: UploadOptions, name: str,
             identity: dict[str, Any], on_start: Callable[[int], None] | None) -> UploadResult:
        """By the tus protocol: the upload's URL is the resume record."""
        tus = TusUpload(self.client, options.tus_endpoint)
        key = resume_key(tus.endpoint, path)
        size = int(identity["size"])
        record = self.resume.get(key)
        url, offset = None, 0
        if record is not None:
            if all(record.get(k) == v for k, v in identity.items()):
                try:
                    offset = tus.offset(str(record["upload_url"]), size)
                    url = str(record["upload_url"])
                    self._note(f"resuming upload {url}: {offset} of {size} bytes already on "
                               "the server")
                except UploadExpired:
                    self._note("the interrupted upload is gone: starting over")
            else:
                self._note("the file (or the name to store it under) changed since the "
                           "interrupted upload: starting over")
            if url is None:
                self.resume.drop(key)
        if url is None:
            url = tus.create(name, size)
            self.resume.put(key, {**identity, "method": "tus", "upload_url": url})
        if on_start is not None:
            on_start(size)
        flow.progress(offset)
        tus.send(url, path, size, offset, flow, options.tus_chunk_bytes)
        self.resume.drop(key)
        uuid = url.rstrip("/").rsplit("/", 1)[-1]
        file_id = url
        if not options.tus_endpoint:  # GoVault's own: the upload names the stored file
            file_id = self._await_completion(uuid).file_id
        return self._result(file_id, name, path, size, "tus", uuid, url != "" and offset > 0,
                            1, 1, 0)

    @staticmethod
    def _result(file_id: str, name: str, path: Path, size: int, method: str, uuid: str,
                resumed: bool, total: int, sent: int, skipped: int) -> UploadResult:
        return UploadResult(file_id, name, str(path), size, method, uuid, resumed, total, sent,
                            skipped)

    # ---------------------------------------------------------------- sessions
    def _resumable(self, key: str, identity: dict[str, Any], method: str
                   ) -> tuple[dict[str, Any] | None, UploadStatus | None]:
        record = self.resume.get(key)
        if record is None:
            return None, None
        uuid = str(record.get("upload_uuid", ""))
        same_file = all(record.get(k) == v for k, v in identity.items())
        if not same_file or record.get("method") != method:
            why = ("the file (or the name to store it under) changed since the interrupted "
                   "upload" if not same_file
                   else f"the interrupted upload used {record.get('method')}")
            self._note(f"{why}: starting over")
            self._forget(key, uuid)
            return None, None
        try:
            status = self.client.upload_status(uuid)
        except NotFoundError:
            status = None
        if status is None or status.status in _DEAD_STATES:
            state = "no longer exists" if status is None else f"is {status.status}"
            self._note(f"the interrupted upload session {state}: starting over")
            self._forget(key, uuid)
            return None, None
        if status.status == "completing":
            status = self._await_completion(uuid)
        sent = set(status.received) | {int(n) for n in record.get("etags", {})}
        self._note(f"resuming upload {uuid}: {len(sent)} of "
                   f"{status.total_chunks} pieces already on the server")
        return record, status

    def _forget(self, key: str, uuid: str) -> None:
        self.resume.drop(key)
        if uuid:
            try:
                self.client.abort_upload(uuid)
            except ClientError:
                pass  # already gone, or the reaper will expire it

    def _new_session(self, name: str, size: int, method: str, options: UploadOptions
                     ) -> tuple[dict[str, Any], tuple[dict[int, str], str] | None]:
        """The resume record of a new session (+ the multipart session's part URLs)."""
        if method == "proxy":
            proxy = self.client.proxy_session(name, size)
            return {"upload_uuid": proxy.upload_uuid, "method": method,
                    "piece_bytes": proxy.chunk_size_bytes, "total": proxy.total_chunks}, None
        part = part_size_for(size, options.part_size_bytes)
        session = self.client.multipart_session(name, size, part)
        return ({"upload_uuid": session.upload_uuid, "method": method,
                 "piece_bytes": session.part_size_bytes, "total": session.total_chunks},
                (session.urls, session.urls_expire_at))

    def _await_completion(self, uuid: str) -> UploadStatus:
        deadline = time.monotonic() + 300
        while True:
            status = self.client.upload_status(uuid)
            if status.status != "completing" or time.monotonic() > deadline:
                return status
            time.sleep(1.0)

    # ---------------------------------------------------------------- sending
    def _parallel(self, work: list[Callable[[], str]], flow: Flow, parallel: int) -> list[str]:
        """Runs `work` `parallel` at a time; the first failure cancels the rest and is raised."""
        if not work:
            return []
        pool = ThreadPoolExecutor(max_workers=max(1, min(parallel, len(work))),
                                  thread_name_prefix="govault-part")
        futures: list[Future[str]] = [pool.submit(job) for job in work]
        try:
            done, _ = wait(futures, return_when=FIRST_EXCEPTION)
            for future in done:
                error = future.exception()
                if error is not None:
                    raise error
            return [f.result() for f in futures]
        except BaseException:
            flow.cancel.set()
            raise
        finally:
            pool.shutdown(wait=not flow.cancel.is_set(), cancel_futures=True)

    def _send_chunks(self, path: Path, uuid: str, size: int, chunk: int, missing: list[int],
                     flow: Flow, options: UploadOptions) -> str:
        def send(index: int) -> str:
            offset = index * chunk
            length = _piece_length(size, chunk, index)
            digest = sha256_range(path, offset, length, flow)
            try:
                result = self.client.send_chunk(uuid, index, file_range(path, offset, length,
                                                                        flow), digest, length)
            except ApiError as exc:
                raise _expired(exc) from exc
            return result.file_id

        ids = self._parallel([functools.partial(send, i) for i in missing], flow,
                             options.parallel)
        file_id = next((i for i in ids if i), "")
        if file_id:
            return file_id
        status = self._await_completion(uuid)
        if status.status == "completed" and status.file_id:
            return status.file_id
        raise ClientError(f"upload {uuid} did not complete (status {status.status}, "
                          f"{len(status.received)} of {status.total_chunks} chunks received)")

    def _send_parts(self, path: Path, uuid: str, size: int, part: int, missing: list[int],
                    flow: Flow, options: UploadOptions,
                    urls: tuple[dict[int, str], str] | None, etags: _Etags) -> str:
        """Each part PUT to its URL, its ETag kept in the resume record (not registered part by
        part); completion lists them."""
        book = _UrlBook(self.client, uuid, missing, urls)

        def send(number: int) -> str:
            offset = (number - 1) * part
            length = _piece_length(size, part, number - 1)
            try:
                try:
                    etag = self.client.put_part(book.url(number),
                                                file_range(path, offset, length, flow), length)
                except ApiError as exc:
                    if exc.status != 403:  # 403 from S3: the presigned URL expired
                        raise
                    etag = self.client.put_part(book.url(number, fresh=True),
                                                file_range(path, offset, length, flow), length)
            except ApiError as exc:
                raise _expired(exc) from exc
            etags.keep(number, etag)
            return etag

        self._parallel([functools.partial(send, n) for n in missing], flow, options.parallel)
        flow.check()
        try:
            return self.client.complete_multipart(uuid, [
                (n, etag, _piece_length(size, part, n - 1)) for n, etag in etags.all()]).file_id
        except ApiError as exc:
            raise _expired(exc) from exc


class _Etags:
    """The ETags of the parts sent, kept in the upload's resume record as each part is done
    (threads send parts in parallel), so a resumed run lists them too."""

    def __init__(self, resume: ResumeStore, key: str, record: dict[str, Any]) -> None:
        self._resume = resume
        self._key = key
        self._record = record
        self._lock = threading.Lock()

    def keep(self, number: int, etag: str) -> None:
        with self._lock:
            self._record["etags"] = {**self._record.get("etags", {}), str(number): etag}
            self._resume.put(self._key, dict(self._record))

    def all(self) -> list[tuple[int, str]]:
        with self._lock:
            return sorted((int(n), str(e)) for n, e in self._record.get("etags", {}).items())


class _UrlBook:
    """Presigned part URLs, renewed (for the parts not yet started) shortly before they
    expire."""

    def __init__(self, client: GoVaultClient, uuid: str, needed: list[int],
                 given: tuple[dict[int, str], str] | None) -> None:
        self._client = client
        self._uuid = uuid
        self._pending = set(needed)
        self._lock = threading.Lock()
        self._urls: dict[int, str] = dict(given[0]) if given else {}
        self._expires = _parse_ts(given[1]) if given else 0.0

    def url(self, number: int, fresh: bool = False) -> str:
        with self._lock:
            stale = time.time() > self._expires - _URL_MARGIN_S
            if fresh or stale or number not in self._urls:
                numbers = sorted(self._pending | {number})
                presigned = self._client.presign_parts(self._uuid, numbers)
                self._urls.update(presigned.urls)
                self._expires = _parse_ts(presigned.expires_at) or time.time() + 300
            self._pending.discard(number)
            return self._urls[number]


def _piece_length(size: int, piece: int, index: int) -> int:
    """Bytes in chunk `index` (0-based) of a file cut into `piece`-byte pieces."""
    return max(0, min(piece, size - index * piece))


def _expired(exc: ApiError) -> ClientError:
    if exc.code in ("UPLOAD_EXPIRED", "UPLOAD_ABORTED", "UPLOAD_FAILED", "UPLOAD_NOT_FOUND"):
        return UploadExpired(f"the upload session can no longer be used ({exc}); run the "
                             "command again to start over")
    return exc

