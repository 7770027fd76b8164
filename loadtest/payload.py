"""Upload bodies: FILE_SIZE random bytes, different for every iteration, cheap to produce.

The seed uploaded the same all-zero 1 MiB file every time, which a store could deduplicate or
compress. Here one random buffer of FILE_SIZE is made per process; each iteration's first 32
bytes are replaced by fresh random ones, so every upload has its own content and checksum while
later chunks (identical between iterations) are sliced and hashed once and then reused. Memory
per process is about two copies of FILE_SIZE, not one per virtual user.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass

UNIQUE_PREFIX = 32


@dataclass(frozen=True)
class Piece:
    index: int  # 0-based chunk index (proxy) or part number - 1 (multipart)
    data: bytes
    sha256_hex: str

    @property
    def size(self) -> int:
        return len(self.data)


class Payload:
    def __init__(self, size_bytes: int) -> None:
        if size_bytes <= 0:
            raise ValueError("size must be > 0")
        self.size = size_bytes
        self._base = os.urandom(size_bytes)
        self._cache: dict[tuple[int, int], Piece] = {}

    def pieces(self, piece_size: int) -> list[tuple[int, int, int]]:
        """(index, offset, length) of each piece when split in `piece_size` pieces."""
        if piece_size <= 0:
            raise ValueError("piece size must be > 0")
        return [(i, off, min(piece_size, self.size - off))
                for i, off in enumerate(range(0, self.size, piece_size))]

    def piece(self, index: int, offset: int, length: int, unique: bytes | None = None) -> Piece:
        """The bytes at [offset, offset+length); piece 0 starts with `unique` when given."""
        if offset == 0 and unique is not None:
            head = unique[: min(len(unique), length)]
            data = head + self._base[len(head):length]
            return Piece(index, data, hashlib.sha256(data).hexdigest())
        key = (offset, length)
        piece = self._cache.get(key)
        if piece is None:
            data = self._base[offset:offset + length]
            piece = Piece(index, data, hashlib.sha256(data).hexdigest())
            self._cache[key] = piece
        return piece

    @staticmethod
    def new_unique() -> bytes:
        return os.urandom(UNIQUE_PREFIX)

    def whole(self, unique: bytes) -> bytes:
        """The complete body for one iteration (baseline single PUT)."""
        head = unique[: min(len(unique), self.size)]
        return head + self._base[len(head):]
