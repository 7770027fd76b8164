"""Process supervision: spawn children with their output appended to DATA/logs/<name>.log (0640 in
a 0750 directory), notice when one dies, stop them in order (SIGTERM, then SIGKILL after a grace
period).

Children run in their own session, so a Ctrl-C in the terminal reaches only the launcher, which
then stops them in the right order. On Linux they also get a parent-death signal (via `setpriv`),
so even a SIGKILLed launcher leaves no server behind.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from compose.errors import StackError

# Log lines carry user ids and client addresses: not for every local user to read.
LOG_DIR_MODE = 0o750
LOG_FILE_MODE = 0o640


@dataclass
class Child:
    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path
    stop_signal: int = signal.SIGTERM

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def describe_exit(self) -> str:
        code = self.popen.returncode
        if code is None:
            return f"{self.name} (pid {self.pid}) is running"
        how = f"signal {signal.Signals(-code).name}" if code < 0 else f"exit status {code}"
        return f"{self.name} (pid {self.pid}) exited with {how}"


@dataclass
class Supervisor:
    log_dir: Path
    children: list[Child] = field(default_factory=list)
    echo: bool = False
    _echo_thread: LogEcho | None = None

    def spawn(
        self,
        name: str,
        argv: Sequence[str],
        env: Mapping[str, str],
        *,
        cwd: Path | None = None,
        user: str | None = None,
        stop_signal: int = signal.SIGTERM,
        death_signal: str = "TERM",
    ) -> Child:
        log_path = self.open_log_dir() / f"{name}.log"
        fd = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, LOG_FILE_MODE)
        os.fchmod(fd, LOG_FILE_MODE)  # a file an older launcher left readable by everyone
        with open(fd, "ab", buffering=0) as log:
            log.write(_marker(name, argv))
            try:
                popen = subprocess.Popen(
                    [*_wrapper(user, death_signal), *argv],
                    env=dict(env),
                    cwd=cwd,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            except OSError as exc:
                raise StackError(f"cannot start {name} ({argv[0]}): {exc}") from exc
        child = Child(name, popen, log_path, stop_signal)
        self.children.append(child)
        if self.echo:
            self._echo().follow(child.name, log_path)
        return child

    def open_log_dir(self) -> Path:
        """DATA/logs, readable by its owner and group only (log lines carry user ids and
        addresses): LOG_DIR_MODE, set again on a directory an older launcher made."""
        self.log_dir.mkdir(mode=LOG_DIR_MODE, parents=True, exist_ok=True)
        self.log_dir.chmod(LOG_DIR_MODE)
        return self.log_dir

    def forget(self, child: Child) -> None:
        """Drop a child that has exited (before it is started again)."""
        if child in self.children and not child.alive():
            self.children.remove(child)

    def first_dead(self) -> Child | None:
        return next((child for child in self.children if not child.alive()), None)

    def stop(self, child: Child, grace_s: float = 15.0) -> None:
        """Ask `child` to stop, wait up to `grace_s`, then kill it."""
        if child.alive():
            _signal(child, child.stop_signal)
            try:
                child.popen.wait(grace_s)
            except subprocess.TimeoutExpired:
                _signal(child, signal.SIGKILL)
                child.popen.wait()
        if child in self.children:
            self.children.remove(child)

    def kill_all(self) -> None:
        for child in self.children:
            if child.alive():
                _signal(child, signal.SIGKILL)
        for child in self.children:
            child.popen.wait()
        self.children.clear()

    def close(self) -> None:
        if self._echo_thread is not None:
            self._echo_thread.close()
            self._echo_thread = None

    def _echo(self) -> LogEcho:
        if self._echo_thread is None:
            self._echo_thread = LogEcho()
            self._echo_thread.start()
        return self._echo_thread


def _marker(name: str, argv: Sequence[str]) -> bytes:
    """A JSON line separating runs in an appended log (log files stay JSON lines)."""
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    line = {"timestamp": stamp, "level": "info", "service": "launcher",
            "event": f"starting {name}", "argv": list(argv)}
    return (json.dumps(line) + "\n").encode()


def _signal(child: Child, sig: int) -> None:
    # The child leads its own process group: signal the group so helpers it forked go too.
    try:
        os.killpg(child.pid, sig)
    except ProcessLookupError:
        pass


def _wrapper(user: str | None, death_signal: str) -> list[str]:
    """`setpriv` prefix: drop to `user` (when root) and set a parent-death signal."""
    setpriv = shutil.which("setpriv") if sys.platform.startswith("linux") else None
    if setpriv is None:
        if user is not None:
            raise StackError(f"running a server as {user!r} needs util-linux `setpriv`")
        return []
    argv = [setpriv, f"--pdeathsig={death_signal}"]
    if user is not None:
        entry = pwd.getpwnam(user)
        argv[1:1] = [f"--reuid={entry.pw_uid}", f"--regid={entry.pw_gid}", "--init-groups"]
    return [*argv, "--"]


def run_as(
    user: str | None, argv: Sequence[str], **kwargs: object
) -> subprocess.CompletedProcess[str]:
    """Run a short command (initdb, pg_ctl) as `user`, capturing its output."""
    prefix = _wrapper(user, "KILL") if user is not None else []
    return subprocess.run(  # type: ignore[call-overload, no-any-return]
        [*prefix, *argv], capture_output=True, text=True, stdin=subprocess.DEVNULL, **kwargs
    )


def tail(path: Path, lines: int = 30) -> str:
    """The last `lines` lines of a log file (for error messages)."""
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - 64 * 1024))
            text = handle.read().decode(errors="replace")
    except FileNotFoundError:
        return "(no log written)"
    run = text.rfind('"service": "launcher", "event": "starting')  # this run's lines only
    if run >= 0:
        text = text[text.rfind("\n", 0, run) + 1:]
    return "\n".join(text.splitlines()[-lines:])


def wait_until(
    what: str,
    ready: Callable[[], bool],
    timeout_s: float,
    watched: Sequence[Child] = (),
    interval_s: float = 0.2,
) -> None:
    """Poll `ready()` until true; fail early if a watched child dies, or after `timeout_s`
    (showing the log of the last watched child: the one being waited for)."""
    deadline = time.monotonic() + timeout_s
    while True:
        for child in watched:
            if not child.alive():
                raise StackError(death_message(child, f"while waiting for {what}"))
        if ready():
            return
        if time.monotonic() > deadline:
            hint = ""
            if watched:  # the last one is the process being waited for
                log = watched[-1].log_path
                hint = f"; see its log {log}\n--- last lines of {log}:\n{tail(log)}"
            raise StackError(f"timed out after {timeout_s:.0f}s waiting for {what}{hint}")
        time.sleep(interval_s)


def death_message(child: Child, context: str = "") -> str:
    where = f" {context}" if context else ""
    return (
        f"{child.describe_exit()}{where}; see its log {child.log_path}\n"
        f"--- last lines of {child.log_path}:\n{tail(child.log_path)}"
    )


class LogEcho(threading.Thread):
    """Follows log files and copies new lines to stderr prefixed with the process name."""

    def __init__(self) -> None:
        super().__init__(name="log-echo", daemon=True)
        self._files: dict[str, tuple[Path, int]] = {}
        self._lock = threading.Lock()
        self._stopped = threading.Event()

    def follow(self, name: str, path: Path) -> None:
        with self._lock:
            self._files[name] = (path, path.stat().st_size if path.exists() else 0)

    def close(self) -> None:
        self._stopped.set()
        self.join(timeout=2)
        self._pump()

    def run(self) -> None:
        while not self._stopped.wait(0.2):
            self._pump()

    def _pump(self) -> None:
        with self._lock:
            files = dict(self._files)
        width = max([9, *(len(name) for name in files)])
        for name, (path, offset) in files.items():
            try:
                with open(path, "rb") as handle:
                    handle.seek(offset)
                    chunk = handle.read()
            except FileNotFoundError:
                continue
            complete = chunk.rfind(b"\n") + 1
            if not complete:
                continue
            for line in chunk[:complete].decode(errors="replace").splitlines():
                sys.stderr.write(f"{name:<{width}} | {line}\n")
            sys.stderr.flush()
            with self._lock:
                self._files[name] = (path, offset + complete)
