"""Bytes on their way between disk and network, never held whole: file ranges read block by block
(`os.pread`, so parallel parts share nothing), an optional bandwidth cap, a cancel switch that
stops every transfer at the next block, and progress callbacks."""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

BLOCK_BYTES = 1024 * 1024


class Cancelled(Exception):
    """The transfer was stopped (Ctrl-C); what reached the server stays for a resume."""


class Flow:
    """Shared by every part of a transfer: the cancel switch, a progress callback, and an
    optional cap in bytes per second across all parts (a token bucket with one second of
    burst)."""

    def __init__(self, limit_bytes_per_s: float = 0.0,
                 on_bytes: Callable[[int], None] | None = None) -> None:
        self.cancel = threading.Event()
        self.limit = float(limit_bytes_per_s)
        self._on_bytes = on_bytes
        self._lock = threading.Lock()
        self._allowance = self.limit
        self._stamp = time.monotonic()

    def check(self) -> None:
        if self.cancel.is_set():
            raise Cancelled("transfer cancelled")

    def progress(self, n: int) -> None:
        if self._on_bytes is not None and n:
            self._on_bytes(n)

    def passing(self, n: int) -> None:
        """Account for `n` bytes about to move: waits as the cap requires, honours cancel."""
        self.check()
        if self.limit <= 0:
            return
        while True:
            with self._lock:
                now = time.monotonic()
                self._allowance = min(self.limit, self._allowance
                                      + (now - self._stamp) * self.limit)
                self._stamp = now
                if self._allowance >= min(n, self.limit):
                    self._allowance -= n
                    return
                wait = (min(n, self.limit) - self._allowance) / self.limit
            if self.cancel.wait(min(wait, 0.25)):
                raise Cancelled("transfer cancelled")


class FileRange:
    """A body factory for `length` bytes of `path` from `offset`; each call starts over (a retried
    request re-reads from disk), taking back the progress the failed attempt had reported.
    `reported`: the bytes the current attempt reported so far."""

    def __init__(self, path: Path, offset: int, length: int, flow: Flow) -> None:
        self.path, self.offset, self.length, self.flow = path, offset, length, flow
        self.reported = 0

    def __call__(self) -> Iterator[bytes]:
        flow = self.flow
        flow.progress(-self.reported)
        self.reported = 0
        fd = os.open(self.path, os.O_RDONLY)
        try:
            position, end = self.offset, self.offset + self.length
            while position < end:
                size = min(BLOCK_BYTES, end - position)
                flow.passing(size)
                block = os.pread(fd, size, position)
                if len(block) != size:
                    raise OSError(f"{self.path} changed while being uploaded (short read)")
                position += size
                yield block
                self.reported += size
                flow.progress(size)
        finally:
            os.close(fd)


def file_range(path: Path, offset: int, length: int, flow: Flow) -> FileRange:
    return FileRange(path, offset, length, flow)


def sha256_range(path: Path, offset: int, length: int, flow: Flow | None = None) -> str:
    digest = hashlib.sha256()
    fd = os.open(path, os.O_RDONLY)
    try:
        position, end = offset, offset + length
        while position < end:
            if flow is not None:
                flow.check()
            block = os.pread(fd, min(BLOCK_BYTES, end - position), position)
            if not block:
                raise OSError(f"{path} changed while being uploaded (short read)")
            digest.update(block)
            position += len(block)
    finally:
        os.close(fd)
    return digest.hexdigest()
