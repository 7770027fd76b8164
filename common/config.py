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

    @property
    def environ(self) -> Mapping[str, str]:
        return self._environ

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
            return int(default)  # type: ignore[call-overload,no-any-return]
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


# --- the typed settings loader (pydantic-settings) ------------------------------------------
# New settings classes derive from `Settings` and are built with `load(cls)`; the `Env` reader
# above remains only until every config.py has moved over (issue #9).

from typing import Any, TypeVar  # noqa: E402

from pydantic import ValidationError  # noqa: E402
from pydantic_settings import BaseSettings, SettingsConfigDict  # noqa: E402


class Settings(BaseSettings):
    """Base of every settings class: `GOVAULT_<FIELD>` variables, frozen once read, unknown
    variables ignored, an empty variable treated as unset. Units in field names
    (`rpc_timeout_s`, `chunk_size_bytes`)."""

    model_config = SettingsConfigDict(
        env_prefix=PREFIX, frozen=True, extra="ignore", env_ignore_empty=True,
        case_sensitive=False,
    )


S = TypeVar("S", bound=Settings)


def load(cls: type[S], environ: Mapping[str, str] | None = None) -> S:
    """`cls` read from the environment (or `environ`, for tests); a missing or malformed value
    stops the process with one clear line per problem (ConfigError)."""
    try:
        if environ is None:
            return cls()
        prefix = str(cls.model_config.get("env_prefix") or PREFIX)
        values = {key[len(prefix):].lower(): value for key, value in environ.items()
                  if key.upper().startswith(prefix) and value != ""}
        fields = cls.model_fields
        return cls.model_validate({k: v for k, v in values.items() if k in fields})
    except ValidationError as exc:
        prefix = str(cls.model_config.get("env_prefix") or PREFIX)
        problems = "; ".join(_problem(prefix, err) for err in exc.errors())
        raise ConfigError(problems) from None


def _problem(prefix: str, err: Any) -> str:
    name = prefix + "_".join(str(part) for part in err["loc"]).upper()
    if err["type"] == "missing":
        return f"{name} is required but not set"
    return f"{name}: {err['msg']}"
