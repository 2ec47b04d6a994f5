"""Reports appear whole: written under a temporary name, then moved into place.

An explicit ``--out`` replaces an existing file atomically (someone reading the old copy
keeps reading it); scheduled exports never replace a file at all and take the next free
name instead. Either way nobody ever opens a half-written report, and a failed export
leaves nothing behind.
"""

from __future__ import annotations

import errno
import os
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dialer.errors import DialerError


def write_atomically(path: Path, write: Callable[[Path], Any], *, replace: bool) -> tuple[Path, Any]:
    """Run ``write(temporary path)`` then move the file to ``path``; (final path, result).

    The temporary file sits in the same directory (so the rename is atomic) under a hidden
    name. ``replace=True`` replaces an existing file atomically (someone reading the old one
    keeps reading it); ``replace=False`` never touches an existing file and uses the first free
    name among ``path``, ``stem-2.ext``, ``stem-3.ext``…
    """
    temporary = path.with_name(f".{path.stem}.{uuid.uuid4().hex[:8]}.tmp{path.suffix}")
    try:
        result = write(temporary)
        with temporary.open("rb") as handle:
            os.fsync(handle.fileno())
        final = _move_into_place(temporary, path, replace=replace)
    except OSError as exc:
        _discard(temporary)
        raise cannot_write(path, exc) from exc
    except BaseException:
        _discard(temporary)
        raise
    return final, result


def cannot_write(path: Path, exc: OSError) -> DialerError:
    """The error for a report that cannot be written at ``path``, saying what to do."""
    reason = exc.strerror or str(exc)
    if isinstance(exc, IsADirectoryError) or path.is_dir():
        advice = f"{path} is a folder: give a file name, e.g. --out {path / 'report.xlsx'}"
    elif exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        advice = f"free space on the file system of {path.parent}, or choose another --out"
    else:
        advice = f"choose a folder you can write to with --out (this one: {path.parent})"
    return DialerError(f"cannot write the report {path}: {reason}. Nothing was written; {advice}")


def _discard(temporary: Path) -> None:
    try:
        temporary.unlink(missing_ok=True)
    except OSError:  # it could not be created in the first place
        pass


def _move_into_place(temporary: Path, path: Path, *, replace: bool) -> Path:
    if replace:
        try:
            os.replace(temporary, path)
        except PermissionError as exc:  # Windows: the old file is open in Excel
            raise DialerError(f"cannot replace {path}: {exc.strerror}. Close it, or choose another --out") from exc
        return path
    for n in range(1, 1000):
        candidate = path if n == 1 else path.with_name(f"{path.stem}-{n}{path.suffix}")
        try:
            os.link(temporary, candidate)  # fails if the name exists: never replaces a file
        except FileExistsError:
            continue
        except OSError:  # no hard links here (some network or FAT file systems)
            if candidate.exists():
                continue
            os.rename(temporary, candidate)
            return candidate
        temporary.unlink()
        return candidate
    raise DialerError(f"{path.parent} already holds 999 reports named like {path.name}; clear some out")
