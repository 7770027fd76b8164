"""Whole-file downloads: fetched from the presigned URL in 8 MiB Range segments, `parallel` at a
time, each written in place (pwrite) into a temporary file next to the destination as it arrives
(memory: a block per segment in flight); a sidecar records the complete prefix, from which an
interrupted run resumes (a segment cut off mid-body is fetched again), verified against the stored
checksum when it is a plain SHA-256 (one-chunk proxy uploads; README "Stored checksum"), and
renamed into place only when complete."""

from __future__ import annotations

import hashlib
import os
import re
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

from client.api import GoVaultClient
from client.errors import ApiError, ClientError, IntegrityError, TransportError
from client.models import FileSummary
from client.streams import BLOCK_BYTES, Flow

SEGMENT_BYTES = 8 * 1024 * 1024
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
        pool = ThreadPoolExecutor(max_workers=self.parallel, thread_name_prefix="govault-get")
        try:
            futures = {pool.submit(self._segment, link, fd, start,
                                   min(start + SEGMENT_BYTES, size), size, flow): start
                       for start in range(have, size, SEGMENT_BYTES)}
            finished: set[int] = set()
            for future in as_completed(futures):
                future.result()
                finished.add(futures[future])
                before = have
                while have in finished:
                    have = min(have + SEGMENT_BYTES, size)
                if have != before:
                    progress.write(have)
        except BaseException:
            flow.cancel.set()
            raise
        finally:
            pool.shutdown(wait=not flow.cancel.is_set(), cancel_futures=True)
        if have != size:
            raise IntegrityError(f"received {have} bytes, expected {size}")

    def _segment(self, link: _Link, fd: int, start: int, end: int, size: int,
                 flow: Flow) -> None:
        """Bytes [start, end) of the file into `fd`; fetched again from scratch after a lost
        connection or an expired link (S3 answers 403)."""
        failures = 0
        while True:
            url = link.url()
            got = 0
            try:
                with self.client.transport.stream(
                        "GET", url, headers={"Range": f"bytes={start}-{end - 1}"}) as response:
                    if response.status_code != 206 and (start, end) != (0, size):
                        raise ClientError("the store ignored the Range header")
                    for block in response.iter_raw(BLOCK_BYTES):
                        flow.passing(len(block))
                        if start + got + len(block) > end:
                            raise IntegrityError(f"more bytes than the {size} expected")
                        os.pwrite(fd, block, start + got)
                        got += len(block)
                        flow.progress(len(block))
                if got != end - start:
                    raise TransportError(f"the body ended after {got} of {end - start} bytes")
                return
            except (ApiError, TransportError) as exc:
                flow.progress(-got)
                expired = isinstance(exc, ApiError) and exc.status == 403
                if failures >= _ATTEMPTS or not (expired or isinstance(exc, TransportError)):
                    raise
                if expired:
                    link.renew(url)
                failures += 1


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
