"""One launcher per data directory: an flock on DATA/launcher.lock holding the owner's pid.

The kernel drops the lock when its holder exits, however it exits, so a stale file never blocks a
new start; the pid inside is only for the message.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from compose.errors import LockedError

LOCK_FILE = "launcher.lock"


class DataDirLock:
    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / LOCK_FILE
        self._fd: int | None = None

    def acquire(self) -> None:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 64).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise LockedError(
                f"another launcher (pid {holder}) is already running on {self.path.parent}; "
                f"stop it first (Ctrl-C in its terminal, or `kill {holder}`), "
                "or use another --data-dir and --port-offset"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is None:
            return
        os.ftruncate(self._fd, 0)
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)
        self._fd = None

    @property
    def held(self) -> bool:
        return self._fd is not None
