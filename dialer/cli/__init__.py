"""The command line: a thin layer over the library. The only package that prints."""

from __future__ import annotations

from dialer.cli import campaigns, data, demo, dialing, reports, sandbox, webhooks  # noqa: F401  (register commands)
from dialer.cli.app import cli, main

__all__ = ["cli", "main"]
