"""Whole-file downloads: fetched from the presigned URL in Range segments of 8–64 MiB, `parallel`
at a time (through urllib3: client/http.py `fetch`), each written in place (pwrite) into a
temporary file next to the destination as it arrives (memory: a block per segment in flight); a
sidecar records the complete prefix as it grows, from which an interrupted run resumes (a segment
cut off mid-body asks for the rest of its range again), verified against the stored checksum when
it is a plain SHA-256 (one-chunk proxy uploads; README "Stored checksum"), and renamed into place
only when complete."""

from __future__ import annotations

import hashlib
import os
import re
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

from client.api import GoVaultClient
from client.errors import ApiError, ClientError, IntegrityError, TransportError
from client.models import FileSummary
from client.streams import BLOCK_BYTES, Flow

MIB = 1024 * 1024
SEGMENT_MIN_BYTES = 8 * MIB
SEGMENT_MAX_BYTES = 64 * MIB
PLAIN_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_ATTEMPTS = 6


@dataclass(frozen=True)
class DownloadResult:
    file_id: str
    path: str
    size_bytes: int
    resumed_from: int  # bytes already on disk from an earlier run
    verified: bool  # SHA-256 checked against the stored checksum


def partial_path(dest: Path, file_id: str) -> Path:
    return dest.with_name(f".{dest.name}.{file_id}.govault-partial")


def destination(info: FileSummary, output: Path | None) -> Path:
    name = Path(info.name).name or info.file_id  # never a path from the server
    if output is None:
        return Path.cwd() / name
    if output.is_dir():
        return output / name
    return output


class Downloader:
    def __init__(self, client: GoVaultClient, anonymous: bool = False,
                 parallel: int = 4) -> None:
        self.client = client
        self.anonymous = anonymous
        self.parallel = max(1, parallel)

    def download(self, file_id: str, output: Path | None, flow: Flow,
                 on_start: Callable[[FileSummary, Path, int], None] | None = None
                 ) -> DownloadResult:
        info = self.client.get_file(file_id, anonymous=self.anonymous)
        dest = destination(info, output)
        partial = partial_path(dest, info.file_id)
        progress = _Prefix(partial)
        have = progress.read(info.size_bytes)
        if on_start is not None:
            on_start(info, dest, have)
        flow.progress(have)
        fd = os.open(partial, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            os.ftruncate(fd, have)
            self._fetch(info, fd, have, flow, progress)
        finally:
            os.close(fd)
        verified = False
        if PLAIN_SHA256.match(info.checksum):
            actual = _sha256_file(partial, flow)
            if actual != info.checksum:
                partial.unlink()
                progress.clear()
                raise IntegrityError(f"{dest.name}: SHA-256 {actual} does not match the stored "
                                     f"{info.checksum}; the partial download was deleted")
            verified = True
        os.replace(partial, dest)
        progress.clear()
        return DownloadResult(info.file_id, str(dest), info.size_bytes, have, verified)

    def _fetch(self, info: FileSummary, fd: int, have: int, flow: Flow,
               progress: _Prefix) -> None:
        """Writes bytes `have`.. of the file into `fd`: segments fetched `parallel` at a time
        (Range GETs) and written where they belong as they arrive; `progress` records how long
        a prefix is complete."""
        link = _Link(self.client, info.file_id, self.anonymous)
        size = info.size_bytes
        step = segment_bytes(size, self.parallel)
        frontier = _Frontier(have, size, step, progress)
        pool = ThreadPoolExecutor(max_workers=self.parallel, thread_name_prefix="govault-get")
        try:
            futures = [pool.submit(self._segment, link, fd, start, min(start + step, size),
                                   size, flow, frontier)
                       for start in range(have, size, step)]
            for future in as_completed(futures):
                future.result()
        except BaseException:
            flow.cancel.set()
            raise
        finally:
            pool.shutdown(wait=not flow.cancel.is_set(), cancel_futures=True)
        if frontier.prefix != size:
            raise IntegrityError(f"received {frontier.prefix} bytes, expected {size}")

    def _segment(self, link: _Link, fd: int, start: int, end: int, size: int, flow: Flow,
                 frontier: _Frontier) -> None:
        """Bytes [start, end) of the file into `fd`, in order; after a lost connection or an
        expired link (S3 answers 403) the rest of the segment is asked for again."""
        failures = 0
        got = 0
        while True:
            url = link.url()
            try:
                with self.client.transport.fetch(
                        url, headers={"Range": f"bytes={start + got}-{end - 1}"}) as response:
                    if response.status != 206 and (start, end) != (0, size):
                        raise ClientError("the store ignored the Range header")
                    for block in response.blocks(BLOCK_BYTES):
                        flow.passing(len(block))
                        if start + got + len(block) > end:
                            raise IntegrityError(f"more bytes than the {size} expected")
                        os.pwrite(fd, block, start + got)
                        got += len(block)
                        flow.progress(len(block))
                        frontier.written(start, got)
                if got != end - start:
                    raise TransportError(f"the body ended after {got} of {end - start} bytes")
                return
            except (ApiError, TransportError) as exc:
                expired = isinstance(exc, ApiError) and exc.status == 403
                if failures >= _ATTEMPTS or not (expired or isinstance(exc, TransportError)):
                    raise
                if expired:
                    link.renew(url)
                failures += 1


def segment_bytes(size: int, parallel: int) -> int:
    """The Range GET size: about two segments per connection, 8–64 MiB (whole MiB). Each GET
    costs the store a lookup before its first byte, so a large file gets large segments; the
    complete prefix is recorded as bytes land (`_Frontier`), so a large segment loses no more
    of an interrupted download than a small one would."""
    share = -(-size // (2 * parallel))
    return min(SEGMENT_MAX_BYTES, max(SEGMENT_MIN_BYTES, -(-share // MIB) * MIB))


class _Frontier:
    """How long a prefix of the file is on disk, from the segments' progress (each segment is
    written front to back; segments start in file order), recorded in the sidecar when it has
    grown by `RECORD_BYTES` at least `every_s` after the last record (a sidecar write costs
    milliseconds, and the segment threads wait for it), and at the end. Shared by the segment
    threads."""

    RECORD_BYTES = 8 * MIB

    def __init__(self, have: int, size: int, step: int, sidecar: _Prefix,
                 every_s: float = 0.25) -> None:
        self.prefix = have
        self._base = have  # segments start at have, have + step, …
        self._size = size
        self._step = step
        self._sidecar = sidecar
        self._recorded = have
        self._every_s = every_s
        self._recorded_at = time.monotonic()
        self._done: dict[int, int] = {}  # segment start → bytes written from it
        self._lock = threading.Lock()

    def written(self, start: int, count: int) -> None:
        """Segment `start` has its first `count` bytes on disk."""
        with self._lock:
            self._done[start] = count
            if start > self.prefix:
                return  # the prefix still ends in an earlier segment
            prefix = self.prefix
            seg = self._base + (prefix - self._base) // self._step * self._step
            while seg in self._done:
                end = min(seg + self._step, self._size)
                prefix = seg + self._done[seg]
                if prefix < end:
                    break
                del self._done[seg]
                seg = end
            self.prefix = prefix
            now = time.monotonic()
            if prefix == self._size or (prefix - self._recorded >= self.RECORD_BYTES
                                        and now - self._recorded_at >= self._every_s):
                self._sidecar.write(prefix)
                self._recorded, self._recorded_at = prefix, now


class _Link:
    """The file's presigned download URL, shared by the segments; renewed once per expiry."""

    def __init__(self, client: GoVaultClient, file_id: str, anonymous: bool) -> None:
        self._client = client
        self._file_id = file_id
        self._anonymous = anonymous
        self._lock = threading.Lock()
        self._url = ""

    def url(self) -> str:
        with self._lock:
            if not self._url:
                self._url = self._client.download_link(self._file_id,
                                                       anonymous=self._anonymous).download_url
            return self._url

    def renew(self, stale: str) -> None:
        with self._lock:
            if self._url == stale:
                self._url = ""


class _Prefix:
    """How many leading bytes of the partial file are complete, in a sidecar file (segments
    land out of order, so the partial file's size says nothing)."""

    def __init__(self, partial: Path) -> None:
        self.partial = partial
        self.path = partial.with_name(partial.name + ".done")

    def read(self, size: int) -> int:
        try:
            done = int(self.path.read_text().strip())
            actual = self.partial.stat().st_size
        except (OSError, ValueError):
            return 0
        return done if 0 <= done <= min(size, actual) else 0

    def write(self, done: int) -> None:
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text(str(done))
        os.replace(tmp, self.path)

    def clear(self) -> None:
        self.path.unlink(missing_ok=True)


def _sha256_file(path: Path, flow: Flow) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(BLOCK_BYTES):
            flow.check()
            digest.update(block)
    return digest.hexdigest()
