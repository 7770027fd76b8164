"""Reading `GOVAULT_*` environment variables into frozen settings, failing fast and clearly."""

from __future__ import annotations

import builtins
import os
from collections.abc import Mapping

PREFIX = "GOVAULT_"
_MISSING = object()


class ConfigError(SystemExit):
    """A required setting is missing or malformed; the process stops with this message."""

    def __init__(self, message: str) -> None:
        super().__init__(f"configuration error: {message}")


class Env:
    """Typed access to `GOVAULT_*` variables (name given without the prefix)."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self._environ = os.environ if environ is None else environ

    def _raw(self, name: builtins.str, default: object) -> builtins.str | None:
        value = self._environ.get(PREFIX + name)
        if value is None or value == "":
            if default is _MISSING:
                raise ConfigError(f"{PREFIX}{name} is required but not set")
            return None
        return value

    def str(self, name: builtins.str, default: object = _MISSING) -> builtins.str:
        value = self._raw(name, default)
        return str(default) if value is None else value

    def optional(self, name: builtins.str) -> builtins.str | None:
        return self._raw(name, None)

    def int(self, name: builtins.str, default: object = _MISSING) -> builtins.int:
        value = self._raw(name, default)
        if value is None:
            return int(default)  # type: ignore[call-overload]
        try:
            return int(value)
        except ValueError:
            raise ConfigError(f"{PREFIX}{name} must be an integer, got {value!r}") from None

    def float(self, name: builtins.str, default: object = _MISSING) -> builtins.float:
        value = self._raw(name, default)
        if value is None:
            return float(default)  # type: ignore[arg-type]
        try:
            return float(value)
        except ValueError:
            raise ConfigError(f"{PREFIX}{name} must be a number, got {value!r}") from None

    def bool(self, name: builtins.str, default: builtins.bool = False) -> builtins.bool:
        value = self._raw(name, default)
        if value is None:
            return default
        lowered = value.strip().lower()
        if lowered in {"1", "true", "yes", "on"}:
            return True
        if lowered in {"0", "false", "no", "off"}:
            return False
        raise ConfigError(f"{PREFIX}{name} must be true or false, got {value!r}")

    def list(
        self, name: builtins.str, default: tuple[builtins.str, ...] = ()
    ) -> tuple[builtins.str, ...]:
        value = self._raw(name, None)
        if value is None:
            return default
        return tuple(item.strip() for item in value.split(",") if item.strip())
