"""What the CLI shows: data on stdout (plain lines, a table on a terminal, or JSON with --json),
notes and errors on stderr, and progress bars on stderr only when it is a terminal."""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text


@dataclass
class Output:
    as_json: bool = False
    quiet: bool = False

    def __post_init__(self) -> None:
        self.err = Console(stderr=True, highlight=False, soft_wrap=True)
        self.out = Console(highlight=False, soft_wrap=True)

    @property
    def progress_enabled(self) -> bool:
        return not self.quiet and sys.stderr.isatty()

    def json(self, value: Any) -> None:
        sys.stdout.write(json.dumps(value, separators=(",", ":")) + "\n")
        sys.stdout.flush()

    def line(self, text: str) -> None:
        sys.stdout.write(text + "\n")
        sys.stdout.flush()

    def note(self, text: str) -> None:
        if not self.quiet:
            sys.stderr.write(f"govault: {text}\n")
            sys.stderr.flush()

    def error(self, text: str) -> None:
        sys.stderr.write(f"govault: error: {text}\n")
        sys.stderr.flush()

    def table(self, headers: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
        """A table on a terminal; tab-separated lines (no header) when piped."""
        if not sys.stdout.isatty():
            for row in rows:
                self.line("\t".join(row))
            return
        table = Table(*headers, box=None, pad_edge=False, header_style="bold")
        for row in rows:
            table.add_row(*row)
        self.out.print(table)

    @contextmanager
    def transfer(self, label: str) -> Iterator[Bar]:
        bar = Bar(self, label)
        try:
            yield bar
        finally:
            bar.stop()


class Bar:
    """One transfer's progress: a Rich bar with size, speed and ETA on a terminal, else
    nothing. `advance` is called from worker threads (negative when a retried part starts
    over)."""

    def __init__(self, output: Output, label: str) -> None:
        self._label = label
        self._lock = threading.Lock()
        self._progress: Progress | None = None
        self._task: TaskID | None = None
        self._pending = 0
        if output.progress_enabled:
            self._progress = Progress(
                TextColumn("[bold]{task.description}"), BarColumn(),
                TextColumn("{task.percentage:>3.0f}%"), DownloadColumn(binary_units=True),
                SpeedColumn(), TimeRemainingColumn(), console=output.err,
                transient=False, refresh_per_second=8)

    def start(self, total: int) -> None:
        if self._progress is None:
            return
        with self._lock:
            self._progress.start()
            self._task = self._progress.add_task(self._label, total=total,
                                                 completed=self._pending)
            self._pending = 0

    def advance(self, n: int) -> None:
        if self._progress is None:
            return
        with self._lock:
            if self._task is None:
                self._pending += n
            else:
                self._progress.advance(self._task, n)

    def stop(self) -> None:
        if self._progress is not None:
            self._progress.stop()


class SpeedColumn(ProgressColumn):
    """Transfer speed in binary units (MiB/s), matching the sizes beside it."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        if speed is None:
            return Text("?", style="progress.data.speed")
        for unit in ("B", "KiB", "MiB", "GiB"):
            if speed < 1024 or unit == "GiB":
                return Text(f"{speed:.1f} {unit}/s", style="progress.data.speed")
            speed /= 1024
        raise AssertionError("unreachable")
