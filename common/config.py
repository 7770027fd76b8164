"""Reading `GOVAULT_*` environment variables into frozen, typed settings (pydantic-settings),
failing fast and clearly: every settings class of every process derives from `Settings` and is
built with `load(cls)`."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import Field, ValidationError
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, SettingsConfigDict

PREFIX = "GOVAULT_"


class ConfigError(SystemExit):
    """A required setting is missing or malformed; the process stops with this message."""

    def __init__(self, message: str) -> None:
        super().__init__(f"configuration error: {message}")



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
    """The field read from `GOVAULT_<name>` (`url: str = var("DATABASE_URL")`, required;
    `port: int = var("GRPC_PORT", 0, ge=0, le=65535, description="...")`): its bounds, and its
    description, which is the variable's meaning in docs/configuration.md. The attribute name
    still works as a keyword."""
    if "default_factory" not in field:
        field["default"] = default
    return Field(validation_alias=PREFIX + name, **field)


def _variable(cls: type[Settings], name: str, field: FieldInfo) -> str:
    alias = field.validation_alias
    if isinstance(alias, str):
        return alias.upper()
    return (str(cls.model_config.get("env_prefix") or PREFIX) + name).upper()


def variable_names(cls: type[Settings]) -> set[str]:
    """Every `GOVAULT_*` variable `cls` reads, its nested settings' included (docs, tests)."""
    names: set[str] = set()
    for name, field in cls.model_fields.items():
        nested = field.annotation
        if isinstance(nested, type) and issubclass(nested, Settings):
            names |= variable_names(nested)
        else:
            names.add(_variable(cls, name, field))
    return names


@dataclass(frozen=True)
class Variable:
    """One variable a settings class reads, for the docs: its default (None: required; a
    default computed at start-up is shown as its description says), bounds and meaning."""

    name: str
    default: str | None
    bounds: str
    description: str


_BOUNDS = (("ge", "≥ {}"), ("gt", "> {}"), ("le", "≤ {}"), ("lt", "< {}"))


def describe(cls: type[Settings]) -> list[Variable]:
    """Every variable `cls` reads (its nested settings' included), in declaration order. A
    field's description may be declared once on a base class (a subclass that only changes the
    default inherits it)."""
    found: list[Variable] = []
    for name, field in cls.model_fields.items():
        nested = field.annotation
        if isinstance(nested, type) and issubclass(nested, Settings):
            found += describe(nested)
            continue
        description = field.description or next(
            (base.model_fields[name].description for base in cls.__mro__[1:]
             if isinstance(base, type) and issubclass(base, Settings)
             and name in base.model_fields and base.model_fields[name].description), "")
        limits = {key: getattr(meta, key) for meta in field.metadata for key, _ in _BOUNDS
                  if getattr(meta, key, None) is not None}
        bounds = (f"{limits['ge']}–{limits['le']}" if limits.keys() == {"ge", "le"} else
                  ", ".join(text.format(limits[key]) for key, text in _BOUNDS if key in limits))
        found.append(Variable(_variable(cls, name, field), _shown(field), bounds,
                              " ".join((description or "").split())))
    return found


def _shown(field: FieldInfo) -> str | None:
    if field.is_required():
        return None
    if field.default_factory is not None:
        return "(computed)"
    value = field.default
    if value is None or value == "" or value == ():
        return "(none)"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


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
