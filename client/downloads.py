"""Whole-file downloads: streamed from the presigned URL to a temporary file next to the
destination, resumed with an HTTP Range from what that file already holds (after an interrupted
run, or a connection lost mid-body), verified against the stored checksum when it is a plain
SHA-256 (one-chunk proxy uploads; README "Stored checksum"), and renamed into place only when
complete."""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from client.api import GoVaultClient
from client.errors import ApiError, IntegrityError, TransportError
from client.models import FileSummary
from client.streams import BLOCK_BYTES, Flow

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
    def __init__(self, client: GoVaultClient, anonymous: bool = False) -> None:
        self.client = client
        self.anonymous = anonymous

    def download(self, file_id: str, output: Path | None, flow: Flow,
                 on_start: Callable[[FileSummary, Path, int], None] | None = None
                 ) -> DownloadResult:
        info = self.client.get_file(file_id, anonymous=self.anonymous)
        dest = destination(info, output)
        partial = partial_path(dest, info.file_id)
        have = partial.stat().st_size if partial.exists() else 0
        if have > info.size_bytes:
            partial.unlink()
            have = 0
        resumed_from = have
        if on_start is not None:
            on_start(info, dest, have)
        flow.progress(have)
        with open(partial, "ab") as out:
            self._fetch(info, out, have, flow)
            out.flush()
            os.fsync(out.fileno())
        verified = False
        if PLAIN_SHA256.match(info.checksum):
            actual = _sha256_file(partial, flow)
            if actual != info.checksum:
                partial.unlink()
                raise IntegrityError(f"{dest.name}: SHA-256 {actual} does not match the stored "
                                     f"{info.checksum}; the partial download was deleted")
            verified = True
        os.replace(partial, dest)
        return DownloadResult(info.file_id, str(dest), info.size_bytes, resumed_from, verified)

    def _fetch(self, info: FileSummary, out: BinaryIO, have: int, flow: Flow) -> None:
        """Appends bytes `have`.. of the file to `out` (opened for append)."""
        url = ""
        failures = 0
        while have < info.size_bytes:
            flow.check()
            if not url:
                url = self.client.download_link(info.file_id, anonymous=self.anonymous)\
                    .download_url
            headers = {"Range": f"bytes={have}-"} if have else {}
            try:
                with self.client.transport.stream("GET", url, headers=headers) as response:
                    if have and response.status_code != 206:  # the store ignored the Range
                        out.truncate(0)
                        flow.progress(-have)
                        have = 0
                    for block in response.iter_raw(BLOCK_BYTES):
                        flow.passing(len(block))
                        out.write(block)
                        have += len(block)
                        flow.progress(len(block))
            except ApiError as exc:
                if exc.status == 416 and have >= info.size_bytes:
                    break
                if exc.status != 403 or failures >= _ATTEMPTS:  # 403: the link expired
                    raise
                url = ""
                failures += 1
            except TransportError:  # lost mid-body: go on from what arrived
                if failures >= _ATTEMPTS:
                    raise
                failures += 1
        if have != info.size_bytes:
            raise IntegrityError(f"received {have} bytes, expected {info.size_bytes}")


def _sha256_file(path: Path, flow: Flow) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(BLOCK_BYTES):
            flow.check()
            digest.update(block)
    return digest.hexdigest()
