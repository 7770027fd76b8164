"""The one S3 transport of the services that speak S3 (upload and files).

- Settings: `S3Settings` (`GOVAULT_S3_*`).
- Signing: presigned URLs by `common.sigv4` (the minio SDK's URLs at a fraction of its CPU; the SDK
  still signs for AWS hosts, which it addresses virtual-host style). The region is configured,
  so presigning is pure computation (no bucket-location lookup); a second signer is built for the
  public endpoint (what clients reach).
- Transport: every call goes out through aiohttp to a presigned URL (UNSIGNED-PAYLOAD), on three
  connection pools of its own: byte streams, control calls, and the readiness probe's one
  connection, so streams held open by slow or silent clients can take neither a control call's
  connection nor the probe's (and the probe measures the store, not a queue of ours). Control
  calls run with the S3 API timeout, byte streams (`put_stream`) with the transfer timeout,
  an explicit Content-Length and the body fed from an async iterator, so bytes are neither
  buffered whole nor hashed a second time (the SDK hashes every body over plain HTTP). Measured
  cheaper than the blocking SDK in a thread: no thread hop, no urllib3, no payload hash.
  Rare operations the SDK does better (server-side copy above 5 GiB, listing) go through
  `sdk()`, which runs the blocking SDK in a thread.
- Answers: XML bodies are parsed with a real XML parser (`parse_xml`), and S3 error codes become
  errors once (`classify`): the refusals a service acts on (`EntityTooSmall`, `InvalidPart`,
  `NoSuchUpload`), anything else `Unavailable` (the store cannot do it now).
- Deadlines in seconds: connecting (3 s), a control call's answer (`read_timeout_s`), and a
  stream the store stops moving (`stall_timeout_s`: it takes no bytes, or sends no answer after
  the last one) while it does not answer a probe either. A frozen or unreachable store is
  `Unavailable` within those bounds; a busy store that answers probes is waited for (up to the
  transfer timeout), and a client streaming slowly is not a stalled store (only the store's side
  is timed).
- Timing: every call is observed once in govault_s3_request_duration_seconds{service, operation}.

Must not: know any service's rules or keys; it moves bytes and names.

Why one module, larger than the others: it is the whole S3 wire protocol (signing, requests,
streams, XML, error classification, timing, bucket creation) behind one seam. The S3 part limits
are in `common.files` (the edge checks them too and must not import this module).
"""

from __future__ import annotations

import asyncio
import time
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Self, TypeVar
from urllib.parse import urlsplit

import aiohttp
import urllib3
from minio import Minio
from minio.error import InvalidResponseError, S3Error, ServerError
from prometheus_client import Histogram
from pydantic import field_validator, model_validator

from common.config import Settings, var
from common.errors import Unavailable
from common.logging import get_logger
from common.metrics import LATENCY_BUCKETS
from common.sigv4 import Presigner

log = get_logger(__name__)

T = TypeVar("T")

S3_SECONDS = Histogram(
    "govault_s3_request_duration_seconds",
    "S3 request latency",
    ["service", "operation"],
    buckets=LATENCY_BUCKETS,
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
OP_PRESIGN = "presign"
OP_PRESIGN_GET = "presign_get"
OP_ENSURE_BUCKET = "ensure_bucket"
OP_PROBE = "readiness_probe"

_CONNECT_S = 3.0

# The connection pools (each up to `max_connections`, the probe's one connection): byte streams
# last as long as their clients take to send, so they never hold a connection a control call or
# the probe needs; the probe waits for no one, so what it measures is the store.
_STREAMS = "streams"
_CONTROL = "control"
_PROBE = "probe"

MISSING_KEY_CODES = frozenset({"NoSuchKey", "NoSuchObject", "NotFound"})


class S3Settings(Settings):
    """`GOVAULT_S3_*`: the store the services use and what clients are pointed at."""

    endpoint: str = var("S3_ENDPOINT", description=(
        "the S3 store as the services reach it, e.g. `http://127.0.0.1:8333`"))
    public_endpoint: str = var("S3_PUBLIC_ENDPOINT", "", description=(
        "the store as clients reach it: the host of presigned URLs (default: the endpoint)"))
    access_key: str = var("S3_ACCESS_KEY", description="the store's access key")
    secret_key: str = var("S3_SECRET_KEY", repr=False, description="the store's secret key")
    bucket: str = var("S3_BUCKET", "govault", description="the one private bucket of file bytes")
    region: str = var("S3_REGION", "us-east-1", description=(
        "the store's region (presigned URLs are signed for it, with no lookup)"))
    timeout_s: float = var("S3_TIMEOUT_S", 30.0, gt=0, description="one S3 API call, in all")
    read_timeout_s: float = var("S3_READ_TIMEOUT_S", 5.0, gt=0, description=(
        "a control call's answer does not start for this long: the store is unavailable"))
    stall_timeout_s: float = var("S3_STALL_TIMEOUT_S", 10.0, gt=0, description=(
        "a streamed PUT the store neither takes nor answers for this long, while it answers "
        "no probe either: the store is unavailable"))
    transfer_timeout_s: float = var("S3_TRANSFER_TIMEOUT_S", 300.0, gt=0, description=(
        "one streamed PUT (a proxy chunk), in all"))
    max_connections: int = var("S3_MAX_CONNECTIONS", 256, ge=1, description=(
        "open connections to the store per process"))
    create_bucket: bool = var("S3_CREATE_BUCKET", True, description=(
        "the upload service creates the bucket at start-up when it is missing (false: an "
        "operator creates it)"))

    @field_validator("endpoint", "public_endpoint")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if value and not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _public_defaults_to_endpoint(self) -> Self:
        if not self.public_endpoint:
            object.__setattr__(self, "public_endpoint", self.endpoint)
        return self


# -- refusals a service acts on (everything else is Unavailable) -------------------------------
class StoreRefused(Exception):
    """The store answered with a client error the service must act on."""

    def __init__(self, code: str, message: str = "") -> None:
        super().__init__(message or code)
        self.code = code


class EntityTooSmall(StoreRefused):
    """A part other than the last is under S3's 5 MiB minimum."""


class InvalidPart(StoreRefused):
    """A reported part/ETag does not exist in the store."""


class NoSuchUpload(StoreRefused):
    """The multipart upload id is unknown (completed or aborted)."""


_REFUSALS: dict[str, type[StoreRefused]] = {
    "EntityTooSmall": EntityTooSmall,
    "InvalidPart": InvalidPart,
    "InvalidPartOrder": InvalidPart,
    "NoSuchUpload": NoSuchUpload,
}


def classify(code: str, message: str = "", status: int = 0) -> Exception:
    """The one mapping from an S3 error code to what the services raise."""
    refusal = _REFUSALS.get(code)
    if refusal is not None:
        return refusal(code, message)
    log.warning("s3_error", status=status, code=code, message=message)
    return Unavailable(f"the object store refused the request ({code})")


# -- XML answers ---------------------------------------------------------------------------------
def parse_xml(payload: bytes) -> dict[str, str]:
    """The text of every element in an S3 XML answer, by local name (namespace dropped), first
    occurrence wins; {} when the payload is empty or not XML. `Error` is present (as "") when the
    root or any element is an <Error>."""
    payload = payload.lstrip()  # S3 may send whitespace first to keep a slow answer alive
    if not payload:
        return {}
    try:
        root = ET.fromstring(payload)
    except ET.ParseError:
        return {}
    found: dict[str, str] = {}
    for element in root.iter():
        name = element.tag.rpartition("}")[2]
        found.setdefault(name, (element.text or "").strip())
    return found


def error_in(status: int, payload: bytes) -> Exception | None:
    """The error an answer carries, or None for a success. S3 may answer CompleteMultipartUpload
    with 200 and an <Error> body (the failure is only known once the parts are joined)."""
    fields = parse_xml(payload)
    if 200 <= status < 300 and "Error" not in fields:
        return None
    code = fields.get("Code") or f"HTTP {status}"
    return classify(code, fields.get("Message", ""), status)


def clean_etag(value: str) -> str:
    return value.replace("&quot;", "").replace("&#34;", "").strip().strip('"')


def complete_body(parts: list[tuple[int, str]]) -> bytes:
    """The CompleteMultipartUpload request body for (part number, ETag) pairs."""
    root = ET.Element("CompleteMultipartUpload")
    for number, etag in parts:
        part = ET.SubElement(root, "Part")
        ET.SubElement(part, "PartNumber").text = str(number)
        ET.SubElement(part, "ETag").text = f'"{etag}"'
    return ET.tostring(root)


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


def minio_client(settings: S3Settings, endpoint: str) -> Minio:
    """A minio client for `endpoint` (the internal or the public one): presigning (pure, the
    region is set) and the rare blocking calls of `S3Client.sdk`."""
    parts = urlsplit(endpoint)
    http = urllib3.PoolManager(
        timeout=urllib3.Timeout(connect=min(5.0, settings.timeout_s), read=settings.timeout_s),
        retries=urllib3.Retry(total=2, backoff_factor=0.2,
                              status_forcelist=(500, 502, 503, 504)),
        maxsize=32,
    )
    return Minio(parts.netloc, access_key=settings.access_key, secret_key=settings.secret_key,
                 secure=parts.scheme == "https", region=settings.region, http_client=http)


def _presigner(settings: S3Settings, endpoint: str, sdk: Minio) -> Presigner | None:
    """The lean signer for `endpoint` if it signs a sample URL exactly as the SDK does; None
    where it would not (an AWS or Aliyun host, which the SDK addresses virtual-host style)."""
    lean = Presigner(endpoint, settings.access_key, settings.secret_key, settings.region)
    when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    query = {"partNumber": "1", "uploadId": "a b/c~", "response-content-disposition": "x y"}
    mine = lean.presign("PUT", settings.bucket, "users/a b/ü~", 60, query, when)
    theirs = sdk.get_presigned_url("PUT", settings.bucket, "users/a b/ü~",
                                   expires=timedelta(seconds=60), request_date=when,
                                   extra_query_params=dict(query))
    return lean if mine == theirs else None


def create_bucket(client: Minio, bucket: str) -> bool:
    """The one way GoVault creates its bucket (the upload service at start-up, the local
    launcher, the container stack's init step): created unless it exists, a concurrent creator
    tolerated. True when this call created it. Blocking (the minio SDK)."""
    if client.bucket_exists(bucket):
        return False
    try:
        client.make_bucket(bucket)
    except S3Error as exc:
        if exc.code not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
            raise
        return False
    return True


class S3Client:
    """The bucket of `settings`, for the service named `service` (the metrics label)."""

    def __init__(self, settings: S3Settings, service: str) -> None:
        self.settings = settings
        self.bucket = settings.bucket
        self._service = service
        self._signer = minio_client(settings, settings.endpoint)
        self._public_signer = minio_client(settings, settings.public_endpoint)
        self._presigners = {
            False: _presigner(settings, settings.endpoint, self._signer),
            True: _presigner(settings, settings.public_endpoint, self._public_signer)}
        self._http: dict[str, aiohttp.ClientSession] = {}
        self._probing: asyncio.Future[None] | None = None
        self._answered_at = float("-inf")  # loop time of the store's last answer below 500
        self._unanswered_at = float("-inf")  # loop time a probe last went unanswered

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
        presigner = self._presigners[public]
        if presigner is not None:
            return presigner.presign(method, self.bucket, key, expires_s,
                                     {**(query or {}), **(response_headers or {})})
        signer = self._public_signer if public else self._signer
        return signer.get_presigned_url(
            method, self.bucket, key, expires=timedelta(seconds=expires_s),
            response_headers=dict(response_headers) if response_headers else None,
            extra_query_params=dict(query) if query else None)

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
                    error = error_in(response.status, await response.read())
                    self._answered(response.status)
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

    async def sdk(self, operation: str, call: Callable[[Minio], T]) -> T:
        """A blocking SDK call, in a thread, bounded by twice the API timeout, errors classified
        like the transport's."""
        with self.timed(operation):
            try:
                return await asyncio.wait_for(asyncio.to_thread(call, self._signer),
                                              self.settings.timeout_s * 2)
            except S3Error as exc:
                raise classify(exc.code or "S3Error", exc.message or "") from None
            except (TimeoutError, urllib3.exceptions.HTTPError, OSError, ServerError,
                    InvalidResponseError) as exc:
                log.warning("s3_unreachable", operation=operation, error=repr(exc))
                raise Unavailable("the object store is unavailable") from None

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
