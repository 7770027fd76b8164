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

from pydantic import Field, ValidationError  # noqa: E402
from pydantic.fields import FieldInfo  # noqa: E402
from pydantic_settings import BaseSettings, SettingsConfigDict  # noqa: E402


class Settings(BaseSettings):
    """Base of every settings class: `GOVAULT_<FIELD>` variables, frozen once read, unknown
    variables ignored, an empty variable treated as unset. Units in field names
    (`rpc_timeout_s`, `chunk_size_bytes`)."""

    model_config = SettingsConfigDict(
        env_prefix=PREFIX, frozen=True, extra="ignore", env_ignore_empty=True,
        case_sensitive=False, populate_by_name=True,
    )


S = TypeVar("S", bound=Settings)


def var(name: str, default: Any = ..., **field: Any) -> Any:
    """A field read from `GOVAULT_<name>` when the attribute's name is not the variable's
    (`url = var("DATABASE_URL")`); the attribute name still works as a keyword."""
    return Field(default, validation_alias=PREFIX + name, **field)


def _variable(cls: type[Settings], name: str, field: FieldInfo) -> str:
    alias = field.validation_alias
    if isinstance(alias, str):
        return alias.upper()
    return (str(cls.model_config.get("env_prefix") or PREFIX) + name).upper()


def load(cls: type[S], environ: Mapping[str, str] | None = None) -> S:
    """`cls` read from the environment (or `environ`, for tests); fields that are Settings
    themselves are read the same way from the same variables. A missing or malformed value stops
    the process with one clear line per problem (ConfigError)."""
    environ = os.environ if environ is None else environ
    upper = {key.upper(): value for key, value in environ.items() if value != ""}
    values: dict[str, Any] = {}
    problems: list[str] = []
    for name, field in cls.model_fields.items():
        kind = field.annotation
        if isinstance(kind, type) and issubclass(kind, Settings):
            try:
                values[name] = load(kind, environ)
            except ConfigError as exc:
                problems.append(str(exc.code).removeprefix("configuration error: "))
            continue
        variable = _variable(cls, name, field)
        if variable in upper:
            values[name] = upper[variable]
    try:
        settings = cls.model_validate(values)
    except ValidationError as exc:
        problems += [p for p in (_problem(cls, err) for err in exc.errors()) if p]
    if problems:
        raise ConfigError("; ".join(problems))
    return settings


def _problem(cls: type[Settings], err: Any) -> str | None:
    loc = [str(part) for part in err["loc"]]
    if not loc:  # a rule across fields: its message names the variables
        return str(err["msg"]).removeprefix("Value error, ")
    field = cls.model_fields.get(loc[0])
    if field is not None:
        kind = field.annotation
        if isinstance(kind, type) and issubclass(kind, Settings):
            return None  # a part that failed to load: already reported
        name = _variable(cls, loc[0], field)
    elif loc[0].upper().startswith(PREFIX):  # an alias
        name = loc[0].upper()
    else:
        name = (str(cls.model_config.get("env_prefix") or PREFIX) + "_".join(loc)).upper()
    if err["type"] == "missing":
        return f"{name} is required but not set"
    return f"{name}: {err['msg']}"
