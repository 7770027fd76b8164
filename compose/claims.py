"""Machine-wide claims on port offsets, so concurrent stacks (a `make up`, several test sessions)
never pick overlapping ports, even while one of them is still starting and binds nothing yet.

A claim is `$TMPDIR/govault-port-claims/<offset>.claim`, flock-ed by its owner for as long as it
runs (the kernel drops the lock when the owner exits, so stale files are ignored and removed).
Claims are counted per process, and a claim held by the parent process covers its children (a test
session claims an offset, then runs `python -m compose.local up` on it).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from compose.errors import PortInUseError
from compose.ports import overlap

CLAIMS_DIR = Path(tempfile.gettempdir()) / "govault-port-claims"

_fds: dict[int, int | None] = {}  # offset -> locked fd (None: borrowed from the parent)
_refs: dict[int, int] = {}


def claim(offset: int, owner: str) -> None:
    """Claim `offset` for this process, or raise PortInUseError naming the stack it overlaps."""
    if offset in _refs:
        _refs[offset] += 1
        return
    with _mutex():
        active = _active_claims()
        mine = {os.getpid(), os.getppid()}
        for other, (pid, other_owner) in sorted(active.items()):
            if other == offset and pid in mine:
                continue
            if overlap(offset, other):
                raise PortInUseError(
                    f"ports of offset {offset} overlap the stack at offset {other} "
                    f"({other_owner}, pid {pid}); stop it or pick another --port-offset")
        if offset in active:  # the parent's claim covers us
            _fds[offset] = None
        else:
            fd = os.open(CLAIMS_DIR / f"{offset}.claim", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC,
                         0o644)
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()} {owner}\n".encode())
            _fds[offset] = fd
        _refs[offset] = 1


def release(offset: int) -> None:
    if offset not in _refs:
        return
    _refs[offset] -= 1
    if _refs[offset] > 0:
        return
    del _refs[offset]
    fd = _fds.pop(offset)
    if fd is not None:
        with _mutex():
            (CLAIMS_DIR / f"{offset}.claim").unlink(missing_ok=True)
            os.close(fd)


def held() -> set[int]:
    """Offsets this process holds."""
    return set(_refs)


def active() -> dict[int, tuple[int, str]]:
    """Offsets other processes hold now: offset -> (pid, owner)."""
    with _mutex():
        return _active_claims()


def _active_claims() -> dict[int, tuple[int, str]]:
    found: dict[int, tuple[int, str]] = {}
    for path in CLAIMS_DIR.glob("*.claim"):
        try:
            offset = int(path.stem)
        except ValueError:
            continue
        if _fds.get(offset) is not None:  # our own
            continue
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:  # held: a live claim
            pid, _, owner = os.read(fd, 4096).decode(errors="replace").strip().partition(" ")
            found[offset] = (int(pid) if pid.isdigit() else 0, owner)
        else:  # nobody holds it: its owner is gone
            path.unlink(missing_ok=True)
        finally:
            os.close(fd)
    return found


@contextlib.contextmanager
def _mutex() -> Iterator[None]:
    if not CLAIMS_DIR.exists():
        CLAIMS_DIR.mkdir(exist_ok=True)
        with contextlib.suppress(PermissionError):
            CLAIMS_DIR.chmod(0o1777)  # shared by every user, like /tmp
    fd = os.open(CLAIMS_DIR / ".mutex", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
