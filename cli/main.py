"""The `govault` console script: the command group with every command registered."""

from __future__ import annotations

from cli import auth_commands, file_commands, transfer_commands
from cli.app import main

for _module in (auth_commands, transfer_commands, file_commands):
    for _command in _module.COMMANDS:
        main.add_command(_command)

__all__ = ["main"]
