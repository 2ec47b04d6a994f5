"""The ``--rejects`` file: every rejected row with its line, reason and message."""

from __future__ import annotations

import contextlib
import csv
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from dialer.domain.imports import RejectedRow
from dialer.errors import ImportFileError


class DryRun(Exception):
    """Raised inside the import transaction to roll a dry run back (its rejects file stays)."""


class RejectsFile:
    """The ``--rejects`` CSV: line, reason, message, then the original row under the file's
    header. Written as the import goes to a temporary file, moved into place on success."""

    def __init__(self, path: Path | None, header: Sequence[str]) -> None:
        self.path = path
        self.header = header
        self._handle: TextIO | None = None
        self._writer: csv._writer | None = None  # type: ignore[name-defined]
        self._partial = path.with_name(f".{path.name}.partial") if path is not None else None

    def __enter__(self) -> RejectsFile:
        if self.path is not None and self._partial is not None:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._handle = self._partial.open("w", encoding="utf-8-sig", newline="")
            except OSError as exc:
                raise ImportFileError(f"cannot write the rejects file {self.path}: {exc.strerror}") from exc
            self._writer = csv.writer(self._handle)
            self._writer.writerow(["line", "reason", "message", *self.header])
        return self

    def write(self, rejects: Sequence[RejectedRow]) -> None:
        if self._writer is not None:
            self._writer.writerows([r.line, r.reason, r.message, *r.raw] for r in rejects)

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if self._handle is None or self._partial is None or self.path is None:
            return
        self._handle.close()
        if exc_type is None or exc_type is DryRun:
            os.replace(self._partial, self.path)
        else:
            with contextlib.suppress(OSError):
                self._partial.unlink()
