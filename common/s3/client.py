"""`S3Client`, the transport: every call goes out through aiohttp to a presigned URL
(UNSIGNED-PAYLOAD, `common.s3.signing`), on three connection pools of its own: byte streams,
control calls, and the readiness probe's one connection, so streams held open by slow or silent
clients can take neither a control call's connection nor the probe's (and the probe measures the
store, not a queue of ours). Control calls run with the S3 API timeout, byte streams
(`put_stream`) with the transfer timeout, an explicit Content-Length and the body fed from an
async iterator, so bytes are neither buffered whole nor hashed a second time (the SDK hashes every
body over plain HTTP). Measured cheaper than the blocking SDK in a thread: no thread hop, no
urllib3, no payload hash. Rare operations the SDK does better (server-side copy above 5 GiB,
listing) go through `sdk()`, which runs the blocking SDK in a thread. Answers are read with
`common.s3.errors.error_in`.

- Out of space: a write answered 5xx (SeaweedFS: a bare 500 InternalError when it has no volume)
  is followed by a write of the same size (up to 8 MiB) of a probe object: refused too, the store
  is full (`StorageFull`, 507: retrying will not help), and stays so (`check_space`,
  govault_object_store_full) until a write goes through again (the readiness loop retries the
  probe write while full); accepted, it was a passing failure (`Unavailable`).
- Deadlines in seconds: connecting (3 s), a control call's answer (`read_timeout_s`), and a
  stream the store stops moving (`stall_timeout_s`: it takes no bytes, or sends no answer after
  the last one) while it does not answer a probe either. A frozen or unreachable store is
  `Unavailable` within those bounds; a busy store that answers probes is waited for (up to the
  transfer timeout), and a client streaming slowly is not a stalled store (only the store's side
  is timed).
- Timing: every call is observed once in govault_s3_request_duration_seconds{service, operation}.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Self, TypeVar

import aiohttp
import urllib3
from minio import Minio
from minio.error import InvalidResponseError, S3Error, ServerError
from prometheus_client import Gauge, Histogram

from common.errors import StorageFull, Unavailable, storage_full
from common.logging import get_logger
from common.metrics import LATENCY_BUCKETS
from common.s3.errors import classify, error_in, may_be_full
from common.s3.parsing import clean_etag, parse_xml
from common.s3.sdk import create_bucket
from common.s3.settings import S3Settings
from common.s3.signing import Signers

log = get_logger(__name__)

T = TypeVar("T")

S3_SECONDS = Histogram(
    "govault_s3_request_duration_seconds",
    "S3 request latency",
    ["service", "operation"],
    buckets=LATENCY_BUCKETS,
)

STORE_FULL = Gauge(
    "govault_object_store_full",
    "1 while the object store refuses writes for lack of space (since the last refused write)",
    ["service"],
)

# The closed set of `operation` labels.
OP_CREATE_MULTIPART = "create_multipart_upload"
OP_UPLOAD_PART = "upload_part"
OP_PUT_OBJECT = "put_object"
OP_GET_OBJECT = "get_object"
OP_COMPLETE_MULTIPART = "complete_multipart_upload"
OP_ABORT_MULTIPART = "abort_multipart_upload"
OP_LIST_PARTS = "list_parts"
OP_STAT_OBJECT = "stat_object"
OP_DELETE_OBJECT = "delete_object"
OP_COPY_OBJECT = "copy_object"
OP_LIST_OBJECTS = "list_objects"
OP_LIST_MULTIPART = "list_multipart_uploads"
OP_PRESIGN = "presign"
OP_PRESIGN_GET = "presign_get"
OP_ENSURE_BUCKET = "ensure_bucket"
OP_PROBE = "readiness_probe"
OP_CAPACITY_PROBE = "capacity_probe"
CAPACITY_PROBE_KEY = ".govault-capacity-probe"
CAPACITY_PROBE_MAX_BYTES = 8 * 1024 * 1024
CAPACITY_RECHECK_S = 2.0  # a store found full is probed again at most this often

_CONNECT_S = 3.0

# The connection pools (each up to `max_connections`, the probe's one connection): byte streams
# last as long as their clients take to send, so they never hold a connection a control call or
# the probe needs; the probe waits for no one, so what it measures is the store.
_STREAMS = "streams"
_CONTROL = "control"
_PROBE = "probe"


class _Stall:
    """Whose turn it is in a streamed PUT, and since when: the store's (take the frame, answer)
    or the source's (the client has not sent the next frame yet)."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._since: float | None = None  # None: the source's turn
        self.abandoned = False

    def store_turn(self) -> None:
        self._since = self._loop.time()

    def source_turn(self) -> None:
        self._since = None

    def stalled_for(self, seconds: float) -> bool:
        return self._since is not None and self._loop.time() - self._since >= seconds


def _retrieve(done: asyncio.Future[None]) -> None:
    """Marks a shared probe's outcome as seen (its callers may all have stopped waiting)."""
    if not done.cancelled():
        done.exception()


@dataclass(frozen=True)
class Answer:
    status: int
    headers: Mapping[str, str]
    payload: bytes


@dataclass(frozen=True)
class ObjectInfo:
    size_bytes: int
    etag: str


class S3Client:
    """The bucket of `settings`, for the service named `service` (the metrics label)."""

    def __init__(self, settings: S3Settings, service: str) -> None:
        self.settings = settings
        self.bucket = settings.bucket
        self._service = service
        self._signers = Signers(settings)
        self._http: dict[str, aiohttp.ClientSession] = {}
        self._probing: asyncio.Future[None] | None = None
        self._answered_at = float("-inf")  # loop time of the store's last answer below 500
        self._unanswered_at = float("-inf")  # loop time a probe last went unanswered
        self._full_checked_at: float | None = None  # loop time; None: not known to be full
        self._probe_bytes = 1  # the size of the write the store last refused (capped)
        STORE_FULL.labels(service).set(0)

    def _session(self, pool: str) -> aiohttp.ClientSession:
        """The connection pool `pool` (_STREAMS, _CONTROL or _PROBE), created on first use inside
        the running loop."""
        session = self._http.get(pool)
        if session is None:
            limit = 1 if pool == _PROBE else self.settings.max_connections
            session = self._http[pool] = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=limit),
                timeout=aiohttp.ClientTimeout(total=self.settings.transfer_timeout_s,
                                              sock_connect=_CONNECT_S),
                auto_decompress=False,
            )
        return session

    async def close(self) -> None:
        if self._probing is not None:
            self._probing.cancel()
        sessions, self._http = self._http, {}
        for session in sessions.values():
            await session.close()

    @contextmanager
    def timed(self, operation: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            S3_SECONDS.labels(self._service, operation).observe(time.perf_counter() - start)

    # -- signing (pure computation) ----------------------------------------------------------
    def presign(self, method: str, key: str, expires_s: int, *,
                query: Mapping[str, str] | None = None, public: bool = False,
                response_headers: Mapping[str, str] | None = None) -> str:
        return self._signers.presign(method, key, expires_s, query=query, public=public,
                                     response_headers=response_headers)

    # -- the transport -------------------------------------------------------------------------
    async def request(self, operation: str, method: str, key: str,
                      query: Mapping[str, str] | None = None, body: bytes | None = None,
                      *, pool: str = _CONTROL) -> Answer:
        """One control call. Transport failures and timeouts are Unavailable; the answer (any
        status) is returned for the caller to read with `error_in`."""
        url = self.presign(method, key, int(self.settings.timeout_s) + 60, query=query)
        with self.timed(operation):
            try:
                async with self._session(pool).request(
                        method, url, data=body, timeout=aiohttp.ClientTimeout(
                            total=self.settings.timeout_s, sock_connect=_CONNECT_S,
                            sock_read=self.settings.read_timeout_s)) as response:
                    answer = Answer(response.status, response.headers, await response.read())
                    self._answered(response.status)
                    return answer
            except (aiohttp.ClientError, TimeoutError) as exc:
                log.warning("s3_unreachable", operation=operation, error=repr(exc))
                raise Unavailable("the object store is unavailable") from None

    async def put_stream(self, operation: str, key: str, length: int, body: AsyncIterator[bytes],
                         query: Mapping[str, str] | None = None) -> str:
        """Streams exactly `length` bytes from `body` with one PUT; returns the ETag. An error
        raised by `body` itself propagates as the request's cause (the caller knows it)."""
        url = self.presign("PUT", key, int(self.settings.transfer_timeout_s) + 60, query=query)
        stall = _Stall(asyncio.get_running_loop())

        async def guarded() -> AsyncIterator[bytes]:
            # only the store's side is timed: from handing it a frame until it asks for the next
            # one, and from the last frame until its answer; waiting on `body` (the client) is
            # not: a silent client is never a stalled store
            async for frame in body:
                stall.store_turn()
                yield frame
                stall.source_turn()
            stall.store_turn()

        watchdog = asyncio.create_task(self._watch(stall, asyncio.current_task()))
        with self.timed(operation):
            try:
                async with self._session(_STREAMS).put(
                        url, data=guarded(), timeout=aiohttp.ClientTimeout(
                            total=self.settings.transfer_timeout_s, sock_connect=_CONNECT_S),
                        headers={"Content-Length": str(length),
                                 "Content-Type": "application/octet-stream"},
                ) as response:
                    payload = await response.read()
                    self._answered(response.status)
                    error = await self.write_error(response.status, payload, length)
                    if error is not None:
                        raise error
                    return clean_etag(response.headers.get("ETag", ""))
            except (aiohttp.ClientError, TimeoutError) as exc:
                log.warning("s3_put_failed", operation=operation, error=repr(exc))
                raise Unavailable("the object store is unavailable") from exc
            except asyncio.CancelledError:
                task = asyncio.current_task()
                if stall.abandoned and task is not None and task.uncancel() == 0:
                    log.warning("s3_put_stalled", operation=operation)
                    raise Unavailable("the object store stopped answering") from None
                raise
            finally:
                watchdog.cancel()

    async def get_stream(self, operation: str, key: str,
                         frame_bytes: int = 256 * 1024) -> AsyncIterator[bytes]:
        """The object's bytes as they arrive, in frames of at most `frame_bytes` (never held
        whole); a missing object or a store failure is `Unavailable`."""
        url = self.presign("GET", key, int(self.settings.transfer_timeout_s) + 60)
        with self.timed(operation):
            try:
                async with self._session(_STREAMS).get(url, timeout=aiohttp.ClientTimeout(
                        total=self.settings.transfer_timeout_s, sock_connect=_CONNECT_S,
                        sock_read=self.settings.stall_timeout_s)) as response:
                    if response.status != 200:
                        self._answered(response.status)
                        raise error_in(response.status, await response.read()) or Unavailable(
                            f"the object store answered HTTP {response.status}")
                    async for frame in response.content.iter_chunked(frame_bytes):
                        yield frame
                    self._answered(response.status)
            except (aiohttp.ClientError, TimeoutError) as exc:
                log.warning("s3_get_failed", operation=operation, error=repr(exc))
                raise Unavailable("the object store is unavailable") from exc

    async def _watch(self, stall: _Stall, owner: asyncio.Task[Any] | None) -> None:
        """Gives up a stream the store has not moved for `stall_timeout_s` when the store does
        not answer a probe either (a store that answers is busy, not gone: keep waiting)."""
        stall_s = self.settings.stall_timeout_s
        while owner is not None:
            await asyncio.sleep(min(1.0, stall_s / 4))
            if not stall.stalled_for(stall_s):
                continue
            try:
                await self.probe()
                stall.store_turn()  # alive: the wait starts over
            except Unavailable:
                stall.abandoned = True
                owner.cancel()
                return

    async def sdk(self, operation: str, call: Callable[[Minio], T], *, write: bool = False) -> T:
        """A blocking SDK call, in a thread, bounded by twice the API timeout, errors classified
        like the transport's (`write`: a 5xx may mean the store is full, see `write_error`)."""
        with self.timed(operation):
            try:
                result = await asyncio.wait_for(asyncio.to_thread(call, self._signers.sdk),
                                                self.settings.timeout_s * 2)
            except S3Error as exc:
                status = exc.response.status if exc.response is not None else 0
                error = classify(exc.code or "S3Error", exc.message or "", status)
                if isinstance(error, StorageFull):
                    self._set_full(1)
                elif (write and isinstance(error, Unavailable)
                      and may_be_full(status, exc.code or "")
                      and await self._refuses_writes(1)):
                    error = storage_full()
                raise error from None
            except (TimeoutError, urllib3.exceptions.HTTPError, OSError, ServerError,
                    InvalidResponseError) as exc:
                log.warning("s3_unreachable", operation=operation, error=repr(exc))
                raise Unavailable("the object store is unavailable") from None
            if write:
                self._space_back()
            return result

    # -- space ---------------------------------------------------------------------------------
    async def write_error(self, status: int, payload: bytes, length: int = 1
                          ) -> Exception | None:
        """`error_in` for the answer to a write of `length` bytes: a 5xx that a probe write of
        that size gets too means the store is out of space (StorageFull); a write that went
        through means it has room."""
        error = error_in(status, payload)
        if error is None:
            self._space_back()
            return None
        if isinstance(error, StorageFull):
            self._set_full(length)
        elif (isinstance(error, Unavailable)
              and may_be_full(status, parse_xml(payload).get("Code", ""))
              and await self._refuses_writes(length)):
            return storage_full()
        return error

    async def check_space(self) -> None:
        """Raises StorageFull while the store is known to refuse writes for lack of space
        (probing again at most every CAPACITY_RECHECK_S); no I/O while it is not."""
        if self._full_checked_at is None:
            return
        if asyncio.get_running_loop().time() - self._full_checked_at >= CAPACITY_RECHECK_S:
            await self._refuses_writes(self._probe_bytes)
        if self._full_checked_at is not None:
            raise storage_full()

    async def _refuses_writes(self, length: int) -> bool:
        """After a write of `length` bytes failed (`may_be_full`): whether a probe write of
        that size (capped) is refused too (a 5xx other than 503 SlowDown, or out of space).
        Unreachable is not full."""
        size = max(1, min(length, CAPACITY_PROBE_MAX_BYTES))
        try:
            answer = await self.request(OP_CAPACITY_PROBE, "PUT", CAPACITY_PROBE_KEY,
                                        body=b"\0" * size)
        except Unavailable:
            return False
        if (answer.status >= 500 and answer.status != 503) or isinstance(
                error_in(answer.status, answer.payload), StorageFull):
            self._set_full(size)
            return True
        if 200 <= answer.status < 300:
            self._space_back()
            try:  # the probe's bytes are not kept (the next probe writes them again)
                await self.delete(CAPACITY_PROBE_KEY)
            except Exception as exc:
                log.warning("s3_capacity_probe_not_deleted", error=repr(exc))
        return False

    def _set_full(self, length: int) -> None:
        if self._full_checked_at is None:
            log.warning("s3_store_full", service=self._service)
        self._full_checked_at = asyncio.get_running_loop().time()
        self._probe_bytes = max(1, min(length, CAPACITY_PROBE_MAX_BYTES))
        STORE_FULL.labels(self._service).set(1)

    def _space_back(self) -> None:
        if self._full_checked_at is not None:
            log.info("s3_store_has_space_again", service=self._service)
            self._full_checked_at = None
            STORE_FULL.labels(self._service).set(0)

    # -- calls both services make ------------------------------------------------------------
    def _answered(self, status: int) -> None:
        if status < 500:
            self._answered_at = asyncio.get_running_loop().time()

    async def probe(self) -> None:
        """Readiness probe (common.grpc.readiness, and a stalled stream's watchdog): the store is
        up if it answered any call within the last `read_timeout_s` (under load a HEAD waits in
        the store's queue like everything else: a store that answers is busy, not gone); down if
        its last probe went unanswered within `read_timeout_s` and nothing answered since; else
        up if it answers a HEAD in the bucket (of a key nobody writes: 404 is an answer)."""
        now = asyncio.get_running_loop().time()
        if now - self._answered_at < self.settings.read_timeout_s:
            return
        if self._unanswered_at > max(self._answered_at, now - self.settings.read_timeout_s):
            # the last probe went unanswered lately and nothing has answered since
            raise Unavailable("the object store does not answer")
        # One HEAD at a time, shared by every caller (the readiness loop, each stalled stream's
        # watchdog): callers never queue behind each other's probes on the probe's connection.
        if self._probing is None or self._probing.done():
            self._probing = asyncio.ensure_future(self._head_probe())
            self._probing.add_done_callback(_retrieve)
        await asyncio.shield(self._probing)

    async def _head_probe(self) -> None:
        try:
            answer = await self.request(OP_PROBE, "HEAD", ".govault-readiness-probe",
                                        pool=_PROBE)
        except Unavailable:
            self._unanswered_at = asyncio.get_running_loop().time()
            raise
        if answer.status >= 500:
            raise Unavailable(f"the object store answers HTTP {answer.status}")

    async def stat(self, key: str) -> ObjectInfo | None:
        answer = await self.request(OP_STAT_OBJECT, "HEAD", key)
        if answer.status == 404:
            return None
        error = error_in(answer.status, answer.payload)
        if error is not None:
            raise error
        return ObjectInfo(int(answer.headers.get("Content-Length", "0")),
                          clean_etag(answer.headers.get("ETag", "")))

    async def delete(self, key: str) -> None:
        """Idempotent: deleting a missing object succeeds."""
        answer = await self.request(OP_DELETE_OBJECT, "DELETE", key)
        if answer.status not in (200, 204, 404):
            raise error_in(answer.status, answer.payload) or Unavailable(
                f"the object store refused the delete (HTTP {answer.status})")

    async def list_keys(self, prefix: str) -> dict[str, datetime]:
        """Every object under `prefix` → its last-modified time (the epoch when not given)."""
        epoch = datetime.fromtimestamp(0, UTC)

        def list_all(client: Minio) -> dict[str, datetime]:
            return {obj.object_name: obj.last_modified or epoch
                    for obj in client.list_objects(self.bucket, prefix=prefix, recursive=True)
                    if obj.object_name and not obj.is_dir}

        return await self.sdk(OP_LIST_OBJECTS, list_all)

    async def ensure_bucket(self) -> None:
        await self.sdk(OP_ENSURE_BUCKET, lambda client: create_bucket(client, self.bucket))

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()
