"""The load test's knobs, read once from the environment into a frozen `LoadSettings`.

Bare names, as the seed's k6 scripts used them (`SCALE=0.5 STRATEGY=proxy locust ...`):

| variable | default | meaning |
|---|---|---|
| SCALE | 1 | multiplies every user count (peak 1000 × SCALE users in the stress shape) |
| TIME_FACTOR | 1 | multiplies every stage duration (0.1 → the 6-minute test takes 36 s) |
| SHAPE | stress | stress, load or spike (shapes.py) |
| STRATEGY | proxy | proxy, multipart, tus (creation-with-upload) or baseline (raw PUT to S3) |
| FILE_SIZE | 1048576 | bytes per upload (random, unique per iteration) |
| PART_SIZE | 104857600 | multipart part size (≥ 5 MiB, S3's minimum), as the original's 100 MiB |
| REFRESH_MODE | refresh | refresh: POST /auth/refresh; login: log in again (as the seed) |
| THINK_AUTH_S, THINK_LIST_S, THINK_COMPLETE_S | 1, 1, 0.2 | the seed's sleeps |
| CONFIRM | 0 | 1: GET /api/files/f/{id} after each upload (counted as a step) |
| USERS_FILE | — | accounts prepared by `python -m loadtest.users` (else registered at test start) |
| RESULTS_DIR | . | where per-worker records go |
| EDGE_URL | http://127.0.0.1:9000 | the gateway (also Locust's --host) |
| STACK_FILE | — | a launcher's stack.json: S3 endpoint and keys for the baseline |
| PROGRESS_S | 5 | seconds between progress lines (0: none) |
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

# Stacks the benchmarks start themselves: no storage quota (a benchmark reuses a few accounts for
# thousands of uploads; what it measures is throughput, not the 10 GiB default quota).
BENCH_ENVIRON = {**os.environ, "GOVAULT_DEFAULT_QUOTA_BYTES": "0"}

STRATEGIES = ("baseline", "proxy", "multipart", "tus")
SHAPES = ("stress", "load", "spike")
REFRESH_MODES = ("refresh", "login")
MIN_PART_SIZE = 5 * 1024 * 1024
MIB = 1024 * 1024


class SettingsError(ValueError):
    """A knob has a value the test cannot run with."""


@dataclass(frozen=True)
class LoadSettings:
    scale: float = 1.0
    time_factor: float = 1.0
    shape: str = "stress"
    strategy: str = "proxy"
    file_size_bytes: int = MIB
    part_size_bytes: int = 100 * MIB
    refresh_mode: str = "refresh"
    think_auth_s: float = 1.0
    think_list_s: float = 1.0
    think_complete_s: float = 0.2
    confirm: bool = False
    users_file: str | None = None
    results_dir: str = "."
    edge_url: str = "http://127.0.0.1:9000"
    stack_file: str | None = None
    progress_s: float = 5.0

    @property
    def user_count(self) -> int:
        """Accounts registered in setup: round(1000 × SCALE), at least 1 (the seed's setup())."""
        return max(1, round(1000 * self.scale))

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> LoadSettings:
        env = os.environ if environ is None else environ

        def get(name: str, default: str) -> str:
            value = env.get(name, "")
            return value if value != "" else default

        def number(name: str, default: str, kind: type = float) -> float:
            raw = get(name, default)
            try:
                return kind(float(raw)) if kind is int else float(raw)
            except ValueError:
                raise SettingsError(f"{name} must be a number, got {raw!r}") from None

        settings = cls(
            scale=number("SCALE", "1"),
            time_factor=number("TIME_FACTOR", "1"),
            shape=get("SHAPE", "stress").lower(),
            strategy=get("STRATEGY", "proxy").lower(),
            file_size_bytes=int(number("FILE_SIZE", str(MIB), int)),
            part_size_bytes=int(number("PART_SIZE", str(100 * MIB), int)),
            refresh_mode=get("REFRESH_MODE", "refresh").lower(),
            think_auth_s=number("THINK_AUTH_S", "1"),
            think_list_s=number("THINK_LIST_S", "1"),
            think_complete_s=number("THINK_COMPLETE_S", "0.2"),
            confirm=get("CONFIRM", "0").lower() in ("1", "true", "yes", "on"),
            users_file=env.get("USERS_FILE") or None,
            results_dir=get("RESULTS_DIR", "."),
            edge_url=get("EDGE_URL", "http://127.0.0.1:9000").rstrip("/"),
            stack_file=env.get("STACK_FILE") or None,
            progress_s=number("PROGRESS_S", "5"),
        )
        settings.validate()
        return settings

    def validate(self) -> None:
        if self.scale <= 0:
            raise SettingsError(f"SCALE must be > 0, got {self.scale}")
        if self.time_factor <= 0:
            raise SettingsError(f"TIME_FACTOR must be > 0, got {self.time_factor}")
        if self.shape not in SHAPES:
            raise SettingsError(f"SHAPE must be one of {', '.join(SHAPES)}, got {self.shape!r}")
        if self.strategy not in STRATEGIES:
            raise SettingsError(
                f"STRATEGY must be one of {', '.join(STRATEGIES)}, got {self.strategy!r}")
        if self.refresh_mode not in REFRESH_MODES:
            raise SettingsError(f"REFRESH_MODE must be refresh or login, got {self.refresh_mode!r}")
        if self.file_size_bytes <= 0:
            raise SettingsError(f"FILE_SIZE must be > 0, got {self.file_size_bytes}")
        if self.part_size_bytes < MIN_PART_SIZE:
            raise SettingsError(f"PART_SIZE must be at least {MIN_PART_SIZE} (S3's minimum part), "
                                f"got {self.part_size_bytes}")
        for name in ("think_auth_s", "think_list_s", "think_complete_s"):
            if getattr(self, name) < 0:
                raise SettingsError(f"{name.upper()} must be >= 0")
