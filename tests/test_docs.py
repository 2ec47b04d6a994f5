"""Every CLI command has help and is documented in the README."""

from __future__ import annotations

from pathlib import Path

import click
import pytest

from dialer.cli import cli

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")


def commands(group: click.Group, prefix: str = "dialer") -> list[str]:
    out = []
    for name, command in sorted(group.commands.items()):
        full = f"{prefix} {name}"
        if isinstance(command, click.Group):
            out.extend(commands(command, full))
        else:
            out.append(full)
    return out


@pytest.mark.parametrize("command", commands(cli))
def test_every_command_is_documented(command: str) -> None:
    assert command in README, f"README does not mention `{command}`"


@pytest.mark.parametrize("command", commands(cli))
def test_every_command_has_help(command: str) -> None:
    from dialer.cli import main

    assert main([*command.split()[1:], "--help"]) == 0
