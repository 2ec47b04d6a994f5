"""Do-not-call files: one number per line, or a CSV whose first phone-like column holds them."""

from __future__ import annotations

import csv
from pathlib import Path

from dialer.domain import phones
from dialer.errors import ImportFileError


def read_dnc_file(
    path: Path, *, region: str = "US", encoding: str = "utf-8-sig"
) -> tuple[list[str], list[tuple[int, str]]]:
    """(E.164 numbers, [(line, raw value)] that are not numbers). Headers and blank lines are skipped."""
    numbers: list[str] = []
    bad: list[tuple[int, str]] = []
    try:
        with path.open("r", encoding=encoding, newline="") as handle:
            for line, row in enumerate(csv.reader(handle), start=1):
                value = next((cell.strip() for cell in row if cell.strip()), "")
                if not value:
                    continue
                try:
                    numbers.append(phones.normalise(value, region).e164)
                except phones.PhoneError:
                    if line == 1:
                        continue  # a header such as "phone"
                    bad.append((line, value))
    except OSError as exc:
        raise ImportFileError(f"cannot read {path}: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise ImportFileError(f"{path} is not valid {encoding}: {exc}. Pass --encoding latin-1.") from exc
    return numbers, bad
