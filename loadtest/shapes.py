"""The seed's k6 stage lists, as pure data and functions (the Locust shape class wraps them).

k6 `ramping-vus` semantics: each stage moves the user count linearly from the previous target to
its own target over its duration; the run starts at 0 users and ends after the last stage.

    stress (the report's runs, 6 min): 1m→250, 1m→500, 1m→750, 2m→1000, 1m→0   (× SCALE)
    load   (defined, unused by the seed): 1m→200, 3m hold 200, 1m→0
    spike  (defined, unused by the seed): 30s→2000, 1m hold 2000, 20s→0

Targets are `round(n × SCALE)` as in the seed's options.js; durations are × TIME_FACTOR.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

# (duration in seconds, target users at SCALE = 1)
BASE_STAGES: dict[str, tuple[tuple[float, int], ...]] = {
    "stress": ((60, 250), (60, 500), (60, 750), (120, 1000), (60, 0)),
    "load": ((60, 200), (180, 200), (60, 0)),
    "spike": ((30, 2000), (60, 2000), (20, 0)),
}


@dataclass(frozen=True)
class Stage:
    index: int
    start_s: float
    end_s: float
    from_users: int
    to_users: int

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s

    @property
    def label(self) -> str:
        if self.from_users == self.to_users:
            return f"hold {self.to_users}"
        return f"{self.from_users}→{self.to_users}"

    def users_at(self, t: float) -> float:
        if self.duration_s <= 0:
            return float(self.to_users)
        frac = min(1.0, max(0.0, (t - self.start_s) / self.duration_s))
        return self.from_users + (self.to_users - self.from_users) * frac

    def to_dict(self) -> dict[str, float | int | str]:
        return {**asdict(self), "label": self.label}


def stages(shape: str, scale: float = 1.0, time_factor: float = 1.0) -> list[Stage]:
    """The shape's stages with SCALE and TIME_FACTOR applied."""
    try:
        base = BASE_STAGES[shape]
    except KeyError:
        raise ValueError(f"unknown shape {shape!r} (one of {', '.join(BASE_STAGES)})") from None
    out: list[Stage] = []
    t, users = 0.0, 0
    for i, (duration, target) in enumerate(base):
        end = t + duration * time_factor
        to_users = round(target * scale)
        out.append(Stage(i, t, end, users, to_users))
        t, users = end, to_users
    return out


def total_duration_s(plan: list[Stage]) -> float:
    return plan[-1].end_s if plan else 0.0


def peak_users(plan: list[Stage]) -> int:
    return max((s.to_users for s in plan), default=0)


def stage_at(plan: list[Stage], t: float) -> Stage | None:
    """The stage running at `t` seconds after the start (None once the run is over)."""
    for stage in plan:
        if t < stage.end_s:
            return stage
    return None


def tick(plan: list[Stage], t: float) -> tuple[int, float] | None:
    """What a Locust LoadTestShape.tick() returns at `t`: (users, spawn rate) or None to stop.

    The user count follows k6's linear ramp; the spawn rate is the ramp's slope with headroom,
    so Locust keeps up with the line instead of jumping to the stage target.
    """
    stage = stage_at(plan, t)
    if stage is None:
        return None
    users = round(stage.users_at(t))
    slope = abs(stage.to_users - stage.from_users) / stage.duration_s if stage.duration_s else 0
    return users, max(1.0, slope * 2)
