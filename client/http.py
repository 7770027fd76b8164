"""One HTTP exchange with retries: the only module that calls httpx (and urllib3).

Bulk downloads from presigned store URLs (`fetch`) go through urllib3, the HTTP library of the
minio SDK: it reads a body in large blocks straight from the socket, about twice httpx's rate on
this machine (httpcore hands the body over in 64 KiB pieces through h11, several copies each),
which kept `govault get` at half the SDK's throughput. It is imported on the first `fetch` (a
command that downloads nothing starts ~60 ms sooner).

Retried, with exponential backoff and jitter: 429 and 503 on any request (the server refused
before doing anything), honouring `Retry-After`; 502/504 and lost connections or timeouts only
on idempotent requests (`idempotent=True`); a refused connection on any request (nothing was
sent). Error answers become `ApiError`s (errors.py); transport failures `TransportError`.
"""

from __future__ import annotations

import email.utils
import random
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx

from client.errors import TransportError, error_from_response

if TYPE_CHECKING:
    import urllib3

Body = bytes | Callable[[], Iterable[bytes]] | None
USER_AGENT = "govault-client/0.1"


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 6  # ≈ 4–8 s of backoff in all: a restarting server, not a long outage
    base_delay_s: float = 0.25
    max_delay_s: float = 30.0

    def delay_s(self, attempt: int, retry_after_s: float | None) -> float:
        """Seconds to wait before attempt `attempt + 1` (attempt counts from 1)."""
        if retry_after_s is not None:
            return min(max(retry_after_s, 0.0), self.max_delay_s)
        backoff: float = min(self.base_delay_s * 2 ** (attempt - 1), self.max_delay_s)
        return backoff * (0.5 + random.random() / 2)


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """`Retry-After` as seconds: either delta-seconds or an HTTP date; None when absent/bad."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(when.timestamp() - (time.time() if now is None else now), 0.0)


_ALWAYS_RETRY = frozenset({429, 503})
_IDEMPOTENT_RETRY = frozenset({502, 504})


class Transport:
    """A pooled httpx client bound to the server's base URL (absolute URLs, such as presigned
    S3 URLs, are used as given). Thread-safe: parallel transfers share it."""

    def __init__(self, base_url: str, *, timeout_s: float = 120.0,
                 retry: RetryPolicy | None = None, max_connections: int = 16,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.base_url = base_url.rstrip("/")
        self.retry = retry or RetryPolicy()
        self._sleep = sleep
        self._http = httpx.Client(
            base_url=self.base_url,
            timeout=httpx.Timeout(timeout_s, connect=min(timeout_s, 10.0)),
            limits=httpx.Limits(max_connections=max_connections,
                                max_keepalive_connections=max_connections),
            headers={"User-Agent": USER_AGENT},
            follow_redirects=False,
        )
        self._timeout_s = timeout_s
        self._max_connections = max_connections
        self._store_pool: urllib3.PoolManager | None = None
        self._store_lock = threading.Lock()

    def close(self) -> None:
        self._http.close()
        if self._store_pool is not None:
            self._store_pool.clear()

    def _store(self) -> urllib3.PoolManager:
        with self._store_lock:
            if self._store_pool is None:
                import urllib3  # here, not at the top: start-up time (the docstring)

                self._store_pool = urllib3.PoolManager(
                    num_pools=4, maxsize=self._max_connections, retries=False,
                    timeout=urllib3.Timeout(connect=min(self._timeout_s, 10.0),
                                            read=self._timeout_s))
            return self._store_pool

    def request(self, method: str, url: str, *, idempotent: bool, json: Any = None,
                body: Body = None, headers: Mapping[str, str] | None = None,
                params: Mapping[str, str] | None = None) -> httpx.Response:
        """The successful response (body read), or an ApiError/TransportError after retries."""
        with self._exchange(method, url, idempotent=idempotent, json=json, body=body,
                            headers=headers, params=params, stream=False) as response:
            return response

    @contextmanager
    def fetch(self, url: str, *, headers: Mapping[str, str] | None = None
              ) -> Iterator[Fetched]:
        """A successful GET of an absolute URL (a presigned store URL) whose body the caller
        reads (`Fetched.blocks`), retried like an idempotent request."""
        store = self._store()
        from urllib3.exceptions import HTTPError  # loaded by _store

        attempt = 0
        while True:
            attempt += 1
            last = attempt >= self.retry.attempts
            try:
                response = store.request("GET", url, headers={
                    "User-Agent": USER_AGENT, "Accept-Encoding": "identity", **(headers or {})},
                                               preload_content=False, decode_content=False,
                                               redirect=False)
            except HTTPError as exc:
                if last:
                    raise TransportError(f"GET {_origin(url)}: {_describe(exc)}") from exc
                self._sleep(self.retry.delay_s(attempt, None))
                continue
            if response.status < 400:
                fetched = Fetched(response.status, response, url)
                try:
                    yield fetched
                finally:
                    if fetched.finished:
                        response.release_conn()
                    else:  # a body not read to its end: its connection is not reused
                        response.close()
                return
            try:
                response.read()
            except HTTPError:
                response.close()  # the status says what went wrong
            response.release_conn()
            retry_after = retry_after_seconds(response.headers.get("Retry-After"))
            status = response.status
            if last or status not in _ALWAYS_RETRY | _IDEMPOTENT_RETRY:
                raise error_from_response(status, None,
                                          response.headers.get("x-amz-request-id", ""),
                                          retry_after)
            self._sleep(self.retry.delay_s(attempt, retry_after))

    @contextmanager
    def _exchange(self, method: str, url: str, *, idempotent: bool, json: Any, body: Body,
                  headers: Mapping[str, str] | None, params: Mapping[str, str] | None,
                  stream: bool) -> Iterator[httpx.Response]:
        attempt = 0
        while True:
            attempt += 1
            content = body() if callable(body) else body
            request = self._http.build_request(method, url, json=json, content=content,
                                               headers=headers, params=params)
            last = attempt >= self.retry.attempts
            try:
                response = self._http.send(request, stream=True)
            except httpx.TransportError as exc:
                if last or not (idempotent or isinstance(exc, httpx.ConnectError)):
                    raise TransportError(f"{method} {_where(request)}: {_describe(exc)}") from exc
                self._sleep(self.retry.delay_s(attempt, None))
                continue
            try:
                if response.status_code >= 400 or not stream:
                    response.read()
            except httpx.TransportError as exc:  # the body broke off while being read
                response.close()
                if last or not idempotent:
                    raise TransportError(f"{method} {_where(request)}: {_describe(exc)}") from exc
                self._sleep(self.retry.delay_s(attempt, None))
                continue
            if response.status_code < 400:
                try:
                    yield response
                except httpx.TransportError as exc:  # while the caller read the body
                    raise TransportError(f"{method} {_where(request)}: {_describe(exc)}") from exc
                finally:
                    response.close()
                return
            response.close()
            retry_after = retry_after_seconds(response.headers.get("Retry-After"))
            status = response.status_code
            again = status in _ALWAYS_RETRY or (idempotent and status in _IDEMPOTENT_RETRY)
            if last or not again:
                raise error_from_response(status, _json_or_none(response),
                                          response.headers.get("X-Request-ID", ""), retry_after)
            self._sleep(self.retry.delay_s(attempt, retry_after))


class Fetched:
    """A successful answer to `Transport.fetch`: its status and its body, in blocks."""

    def __init__(self, status: int, response: urllib3.BaseHTTPResponse, url: str) -> None:
        self.status = status
        self.finished = False  # the body was read to its end
        self._response = response
        self._url = url

    def blocks(self, size: int) -> Iterator[bytes]:
        """The body in blocks of `size` bytes (the last may be shorter); a body that breaks
        off (or is shorter than its Content-Length) is a TransportError."""
        from urllib3.exceptions import HTTPError  # loaded by Transport.fetch

        try:
            while block := self._response.read(size):
                yield block
            self.finished = True
        except HTTPError as exc:
            raise TransportError(f"GET {_origin(self._url)}: {_describe(exc)}") from exc


def _origin(url: str) -> str:
    """Scheme, host, port and path of `url`: never its query (a presigned URL's signature)."""
    return str(httpx.URL(url).copy_with(query=None, fragment=None))


def _json_or_none(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _where(request: httpx.Request) -> str:
    return f"{request.url.scheme}://{request.url.host}:{request.url.port or ''}{request.url.path}"


def _describe(exc: Exception) -> str:
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}" if text != type(exc).__name__ else text
