from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest

from dialer.cli import main


@dataclass
class CliResult:
    code: int
    out: str
    err: str


@pytest.fixture
def dialer(capsys: pytest.CaptureFixture[str]) -> Callable[..., CliResult]:
    """Run the `dialer` CLI in-process through its real entry point (error handler included)."""

    def run(*args: str) -> CliResult:
        capsys.readouterr()
        code = main(list(args))
        captured = capsys.readouterr()
        return CliResult(code=code, out=captured.out, err=captured.err)

    return run
