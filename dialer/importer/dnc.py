"""Do-not-call files: one number per line, or a CSV/XLSX whose phone column holds them.

Numbers come in every format (``(212) 555-0143``, ``+1 212 555 0143``, ``12125550143``) and
are normalised to E.164 like record phones. A first row that holds no number is a header:
its phone column is found by the same names as in record files (``phone``, ``Phone Number``,
``contact_info``…), else the first column is used. Lines that hold no valid number are
reported with their line number; blank lines are skipped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from dialer.domain import phones
from dialer.domain.numbering import PhoneNormaliser
from dialer.errors import ImportFileError
from dialer.importer import mapping, sources


@dataclass(frozen=True, kw_only=True)
class BadLine:
    line: int
    value: str
    message: str


@dataclass(frozen=True, kw_only=True)
class DncFile:
    numbers: list[str]
    """Distinct E.164 numbers, in file order."""
    bad: list[BadLine] = field(default_factory=list)
    rows: int = 0
    column: str | None = None
    """The header of the column read, when the file has a header."""


def read_dnc(
    path: Path,
    *,
    region: str = "US",
    encoding: str | None = None,
    column: str | None = None,
    sheet: str | None = None,
) -> DncFile:
    """Read a do-not-call file; raises :class:`ImportFileError` when it cannot be read at all."""
    normaliser = PhoneNormaliser()
    region = region.upper()
    numbers: dict[str, None] = {}
    bad: list[BadLine] = []
    rows = 0
    options = sources.SourceOptions(encoding=encoding, sheet=sheet, header=False)
    with sources.open_table(path, options) as table:
        index = 0
        header_name: str | None = None
        first = True
        for line, cells in table.rows:
            if not any(c.strip() for c in cells):
                continue
            if first:
                first = False
                names = sources.name_columns(cells)
                looks_like_header = column is not None or not any(_number(normaliser, c, region) for c in cells)
                if looks_like_header:
                    index, header_name = _phone_column(path, names, column)
                    continue
                index = next((i for i, c in enumerate(cells) if _number(normaliser, c, region)), 0)
            rows += 1
            value = cells[index].strip() if index < len(cells) else ""
            if not value:
                bad.append(BadLine(line=line, value="", message="no number in the phone column"))
                continue
            try:
                numbers.setdefault(normaliser.normalise(value, region).e164, None)
            except phones.PhoneError as exc:
                bad.append(BadLine(line=line, value=value, message=str(exc)))
    return DncFile(numbers=list(numbers), bad=bad, rows=rows, column=header_name)


def _number(normaliser: PhoneNormaliser, cell: str, region: str) -> bool:
    try:
        normaliser.normalise(cell, region)
    except phones.PhoneError:
        return False
    return True


def _phone_column(path: Path, names: list[str], column: str | None) -> tuple[int, str]:
    if column is not None:
        found = mapping.find_column(names, column)
        if found is None:
            raise ImportFileError(f"{path.name} has no column {column!r}; columns are: {', '.join(names)}")
        return found, names[found]
    keys = [mapping.normalise_name(n) for n in names]
    for alias in mapping.FIELD_ALIASES["phoneNumber"]:
        if alias in keys:
            return keys.index(alias), names[keys.index(alias)]
    return 0, names[0]


def read_dnc_file(
    path: Path, *, region: str = "US", encoding: str | None = None
) -> tuple[list[str], list[tuple[int, str]]]:
    """(E.164 numbers, [(line, raw value)] that are not numbers): :func:`read_dnc` in short."""
    result = read_dnc(path, region=region, encoding=encoding)
    return result.numbers, [(b.line, b.value) for b in result.bad]
