"""Launcher errors: one type, carrying a message a person can act on (which process, which log)."""

from __future__ import annotations


class StackError(RuntimeError):
    """The stack (or one of its processes) could not start or died."""


class LockedError(StackError):
    """Another launcher already uses this data directory."""


class PortInUseError(StackError):
    """A port the stack needs is already taken."""
