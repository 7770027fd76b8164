"""Where the CLI keeps things, XDG style, every file mode 0600 and written atomically:

    $XDG_CONFIG_HOME/govault/config.json       {"server": ...} (saved by `login`)
    $XDG_CONFIG_HOME/govault/credentials.json  tokens per server URL
    $XDG_STATE_HOME/govault/uploads.json       upload sessions in progress, per absolute path

Each JSON file has a sibling `.lock` taken with flock around read-modify-write, so several
`govault` processes can run at once (and never refresh the same refresh token twice).
"""

from __future__ import annotations

import fcntl
import json
import os
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

from client.models import Tokens

DEFAULT_SERVER = "http://127.0.0.1:9000"


def config_dir() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "govault"


def state_dir() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "govault"


class JsonFile:
    """A small JSON object on disk, private to the user."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock_path = path.with_name(path.name + ".lock")
        self._mutex = threading.RLock()
        self._depth = 0
        self._fd = -1

    def read(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text())
        except FileNotFoundError:
            return {}
        except (OSError, ValueError):
            return {}  # unreadable or corrupt: start afresh rather than fail every command
        return data if isinstance(data, dict) else {}

    def write(self, data: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(data, f, indent=1, sort_keys=True)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)

    @contextmanager
    def locked(self) -> Iterator[None]:
        """Exclusive across processes; re-entrant within this one (flock is per open file, so
        a nested flock on a second descriptor would wait for ourselves)."""
        with self._mutex:
            if self._depth == 0:
                self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
                self._fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o600)
                fcntl.flock(self._fd, fcntl.LOCK_EX)
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
                if self._depth == 0:
                    os.close(self._fd)


def saved_server() -> str:
    value = JsonFile(config_dir() / "config.json").read().get("server")
    return value if isinstance(value, str) and value else ""


def save_server(server: str) -> None:
    file = JsonFile(config_dir() / "config.json")
    with file.locked():
        data = file.read()
        data["server"] = server
        file.write(data)


def resolve_server(option: str | None) -> str:
    """--server, else GOVAULT_SERVER, else the saved config, else the local default."""
    server = option or os.environ.get("GOVAULT_SERVER") or saved_server() or DEFAULT_SERVER
    return server.rstrip("/")


class FileTokenStore:
    """client.tokens.TokenStore over credentials.json, one entry per server."""

    def __init__(self, server: str) -> None:
        self.server = server
        self._file = JsonFile(config_dir() / "credentials.json")

    def load(self) -> Tokens | None:
        entry = self._file.read().get(self.server)
        if not isinstance(entry, dict) or not entry.get("access_token"):
            return None
        return Tokens.from_json(entry)

    def save(self, tokens: Tokens | None) -> None:
        with self._file.locked():
            data = self._file.read()
            if tokens is None:
                data.pop(self.server, None)
            else:
                data[self.server] = tokens.to_json()
            self._file.write(data)

    def exclusive(self) -> AbstractContextManager[None]:
        return self._file.locked()


class FileResumeStore:
    """client.uploads.ResumeStore over uploads.json."""

    def __init__(self) -> None:
        self._file = JsonFile(state_dir() / "uploads.json")

    def get(self, key: str) -> dict[str, Any] | None:
        record = self._file.read().get(key)
        return record if isinstance(record, dict) else None

    def put(self, key: str, record: dict[str, Any]) -> None:
        with self._file.locked():
            data = self._file.read()
            data[key] = record
            self._file.write(data)

    def drop(self, key: str) -> None:
        with self._file.locked():
            data = self._file.read()
            if data.pop(key, None) is not None:
                self._file.write(data)
