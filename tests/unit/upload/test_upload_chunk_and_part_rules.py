"""Rules without I/O for bytes in pieces the client chose: a proxy chunk size told by one chunk
(issue 24, item 3), and how a tus upload's bytes become S3 parts (svc_upload/tus.py)."""

from __future__ import annotations

import pytest

from common.errors import InvalidArgument
from svc_upload.config import UploadRules
from svc_upload.rules import told_chunk_size
from svc_upload.tus import PLANNED_PARTS, plan_parts, tus_part_size

MIB = 1024 * 1024
DEFAULT = 5 * MIB


@pytest.mark.parametrize(("size", "index", "length", "told"), [
    (12 * MIB, 0, 10 * MIB, 10 * MIB),   # a full chunk
    (12 * MIB, 1, 2 * MIB, 10 * MIB),    # the last one of 10 MiB chunks
    (12 * MIB, 0, 5 * MIB, 5 * MIB),
    (12 * MIB, 2, 2 * MIB, 5 * MIB),     # the last one of 5 MiB chunks
    (12 * MIB, 0, 12 * MIB, 12 * MIB),   # the whole file
    (15 * MIB, 2, 5 * MIB, 5 * MIB),     # a last chunk of full size
    (12 * MIB, 1, 3 * MIB, 9 * MIB),     # 9 MiB chunks: 9 + 3
    (12 * MIB, 1, -1, DEFAULT),          # length unknown: the proposal
])
def test_a_chunk_tells_the_chunk_size(size: int, index: int, length: int, told: int) -> None:
    assert told_chunk_size(size, index, length, DEFAULT) == told


@pytest.mark.parametrize(("size", "index", "length"), [
    (12 * MIB, 0, MIB),          # under 5 MiB and not the whole file
    (12 * MIB, 3, MIB),          # 11/3 MiB is no whole chunk size
    (12 * MIB, 5, 2 * MIB),      # 2 MiB chunks are too small
])
def test_no_chunk_size_explains_it(size: int, index: int, length: int) -> None:
    with pytest.raises(InvalidArgument) as err:
        told_chunk_size(size, index, length, DEFAULT)
    assert err.value.code == "CHUNK_SIZE_MISMATCH"


@pytest.mark.parametrize(("available", "completes", "parts"), [
    (4 * MIB, False, []),                           # a tail
    (4 * MIB, True, [4 * MIB]),                     # the last part
    (0, True, []),
    (5 * MIB, False, [5 * MIB]),
    (9 * MIB, False, [9 * MIB]),                    # the rest joins the last part
    (12 * MIB, False, [5 * MIB, 7 * MIB]),
    (12 * MIB, True, [5 * MIB, 7 * MIB]),
    (10 * MIB + 1, True, [5 * MIB, 5 * MIB + 1]),
    (60 * MIB, True, [15 * MIB] * 4),               # a large body: fewer, larger parts
    (200 * MIB, False, [32 * MIB] * 5 + [40 * MIB]),
])
def test_bytes_become_parts(available: int, completes: bool, parts: list[int]) -> None:
    planned = plan_parts(available, 5 * MIB, completes)
    assert planned == parts
    assert sum(planned) == (available if planned or completes else 0)
    assert all(p >= 5 * MIB for p in planned[:-1])
    assert all(p < 2 * max(5 * MIB, planned[0]) for p in planned)


def test_part_size_leaves_numbers_for_retries() -> None:
    rules = UploadRules()
    assert tus_part_size(1024 * MIB, rules) == 5 * MIB
    assert tus_part_size(None, rules) * PLANNED_PARTS >= rules.max_file_size_bytes
    huge = 5 * 1024 * 1024 * MIB
    assert tus_part_size(huge, rules) * PLANNED_PARTS >= huge
    assert tus_part_size(huge, rules) % MIB == 0
