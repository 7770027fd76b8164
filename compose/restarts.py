"""Restart policy for the local launcher: a process that dies on its own is started again after a
growing delay, like compose's `restart: unless-stopped` (0.5 s, 1 s, 2 s, … capped at 30 s; a
process that then stays up for a minute is forgiven its earlier crashes).

Pure bookkeeping, no processes here: `compose.stack.Stack.supervise_once()` asks `due(name)`
whether a dead process may be started again now and tells `started(name)` when it did.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

FIRST_DELAY_S = 0.5
MAX_DELAY_S = 30.0
STABLE_AFTER_S = 60.0


@dataclass
class _Record:
    crashes: int = 0  # consecutive crashes (reset once a run outlives STABLE_AFTER_S)
    started_at: float = 0.0
    died_at: float | None = None
    restarts: int = 0  # total, for reports


@dataclass
class RestartPolicy:
    clock: Callable[[], float] = time.monotonic
    _records: dict[str, _Record] = field(default_factory=dict)

    def started(self, name: str) -> None:
        """`name` was (re)started just now."""
        record = self._records.setdefault(name, _Record())
        if record.died_at is not None:
            record.restarts += 1
        record.started_at = self.clock()
        record.died_at = None

    def died(self, name: str) -> float:
        """`name` was found dead; returns the delay before it may be started again."""
        record = self._records.setdefault(name, _Record())
        now = self.clock()
        if record.died_at is None:
            if now - record.started_at >= STABLE_AFTER_S:
                record.crashes = 0
            record.crashes += 1
            record.died_at = now
        return self.delay_s(name)

    def down(self, name: str) -> bool:
        """True while `name` is known dead and not started again."""
        record = self._records.get(name)
        return record is not None and record.died_at is not None

    def delay_s(self, name: str) -> float:
        record = self._records.get(name)
        if record is None or record.crashes == 0:
            return 0.0
        return min(MAX_DELAY_S, FIRST_DELAY_S * float(2 ** (record.crashes - 1)))

    def due(self, name: str) -> bool:
        """True when a dead `name` has waited out its delay."""
        record = self._records.get(name)
        if record is None or record.died_at is None:
            return True
        return self.clock() - record.died_at >= self.delay_s(name)

    def restarts(self, name: str) -> int:
        record = self._records.get(name)
        return record.restarts if record else 0
