"""The command line: a thin layer over the library. The only package that prints."""

from __future__ import annotations

from dialer.cli import (  # noqa: F401  (register commands)
    campaigns,
    data,
    demo,
    dialing,
    dncfile,
    doctor,
    preview,
    reports,
    sandbox,
    users,
    web,
    webhooks,
)
from dialer.cli.app import cli, main

__all__ = ["cli", "main"]
