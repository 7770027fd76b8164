"""The bytes of one tus write on their way to the store, never held whole.

- `Body`: the request's bytes, counted against their declared length and hashed for the
  client's Upload-Checksum; the last frame is held back until both are verified, so a store
  write that would end with bad bytes never completes.
- `Source`: what a write places, in order: the upload's tail (read back from the store and
  checked against the SHA-256 recorded with it), then the body; cut into pieces of exact sizes
  (`piece(n)`), each hashed (SHA-256) as it streams into its S3 part or object.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Callable
from typing import Any

from common.errors import GoVaultError, InvalidArgument, Unavailable
from svc_upload import errors

# Upload-Checksum algorithms: name → (hash constructor, digest bytes).
CHECKSUMS: dict[str, tuple[Callable[[], Any], int]] = {
    "sha1": (hashlib.sha1, 20),
    "sha256": (hashlib.sha256, 32),
}


def body_checksum(algorithm: str, digest: bytes) -> tuple[str, bytes] | None:
    """The client's Upload-Checksum, checked for shape; None when it sent none."""
    if not algorithm and not digest:
        return None
    known = CHECKSUMS.get(algorithm)
    if known is None:
        raise errors.checksum_algorithm_unsupported(algorithm)
    if len(digest) != known[1]:
        raise InvalidArgument(f"a {algorithm} checksum is {known[1]} bytes (base64)")
    return algorithm, digest


class Body:
    def __init__(self, frames: AsyncIterator[bytes], length: int,
                 checksum: tuple[str, bytes] | None) -> None:
        self._frames = frames
        self.length = length
        self.received = 0
        self.checksum = checksum
        self._hasher = CHECKSUMS[checksum[0]][0]() if checksum else None
        self.error: GoVaultError | None = None

    async def frames(self) -> AsyncIterator[bytes]:
        held: bytes | None = None
        try:
            async for frame in self._frames:
                if not frame:
                    continue
                self.received += len(frame)
                if self.received > self.length:
                    raise errors.chunk_size_mismatch(
                        f"the body is longer than its {self.length} bytes")
                if self._hasher is not None:
                    self._hasher.update(frame)
                if held is not None:
                    yield held
                held = frame
            if self.received < self.length:
                raise errors.chunk_size_mismatch(f"the body ended after {self.received} of its "
                                      f"{self.length} bytes")
            if self._hasher is not None and self.checksum is not None:
                if self._hasher.digest() != self.checksum[1]:
                    raise errors.upload_checksum_mismatch(
                        f"the body does not match its {self.checksum[0]} "
                        "Upload-Checksum; nothing of it was kept")
            if held is not None:
                yield held
        except GoVaultError as exc:
            self.error = exc
            raise


class Piece:
    """`size` bytes of a Source, hashed as they stream."""

    def __init__(self, source: Source, size: int) -> None:
        self._source = source
        self.size = size
        self._hasher = hashlib.sha256()

    @property
    def sha256(self) -> str:
        return self._hasher.hexdigest()

    async def stream(self) -> AsyncIterator[bytes]:
        async for frame in self._source.take(self.size):
            self._hasher.update(frame)
            yield frame


class Source:
    def __init__(self, tail: AsyncIterator[bytes] | None, tail_bytes: int, tail_sha256: str,
                 body: Body) -> None:
        self._frames = self._all(tail, tail_bytes, tail_sha256, body)
        self._pending = b""

    @staticmethod
    async def _all(tail: AsyncIterator[bytes] | None, tail_bytes: int, tail_sha256: str,
                   body: Body) -> AsyncIterator[bytes]:
        if tail is not None:
            hasher = hashlib.sha256()
            count = 0
            async for frame in tail:
                count += len(frame)
                hasher.update(frame)
                yield frame
            if count != tail_bytes or hasher.hexdigest() != tail_sha256:
                raise Unavailable("the stored bytes of this upload do not match what was "
                                  "recorded; retry later")
        async for frame in body.frames():
            yield frame

    def piece(self, size: int) -> Piece:
        return Piece(self, size)

    async def take(self, size: int) -> AsyncIterator[bytes]:
        left = size
        while left > 0:
            if not self._pending:
                try:
                    self._pending = await anext(self._frames)
                except StopAsyncIteration:
                    raise errors.chunk_size_mismatch("the body ended early") from None
            if len(self._pending) <= left:
                frame, self._pending = self._pending, b""
            else:
                frame, self._pending = self._pending[:left], self._pending[left:]
            left -= len(frame)
            yield frame

    async def finish(self) -> None:
        """Reads to the end (an empty body, or bytes left over): the body's length and checksum
        are verified when its frames run out."""
        async for frame in self._frames:
            if frame:
                raise errors.chunk_size_mismatch("the body is longer than declared")
