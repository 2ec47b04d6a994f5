"""A look at a file before importing it: the format found, which column holds which field,
and the first rows with how each would be judged.

The same functions as :func:`~dialer.importer.loader.import_file` read the file, map its
columns and check its rows, so the preview says what the import will do. Two judgements need
the whole file and the database and are left to the import itself: duplicates within the
file or against the campaign, and the do-not-call scrub.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from dialer.domain.campaigns import Campaign
from dialer.errors import ImportFileError
from dialer.importer import loader, sources
from dialer.importer import mapping as columns_
from dialer.importer import rows as rows_

#: Rows shown by default.
PREVIEW_ROWS = 10


@dataclass(frozen=True, kw_only=True)
class PreviewRow:
    line: int
    cells: tuple[str, ...]
    """The row's cells under the file's header (padded or cut to its width)."""
    accepted: bool
    reason: str | None = None
    message: str | None = None
    phone: str | None = None
    """The number as it will be dialed (E.164), for an accepted row."""
    handle: str | None = None


@dataclass(frozen=True, kw_only=True)
class FilePreview:
    header: tuple[str, ...]
    mapping: dict[str, str]
    """Field → column name, as the import will use it."""
    user_columns: tuple[str, ...]
    file_format: dict[str, str | None]
    sheets: tuple[str, ...]
    rows: tuple[PreviewRow, ...]
    size: int
    """Bytes of a CSV file, rows of an XLSX sheet."""
    problem: str | None = None
    """Why the file cannot be imported as mapped (the mapping must change), or ``None``."""


def inspect_file(
    campaign: Campaign,
    path: Path,
    options: loader.ImportOptions,
    *,
    rows: int = PREVIEW_ROWS,
) -> FilePreview:
    """Read the header and the first ``rows`` rows of ``path`` as an import into ``campaign``
    with ``options`` would. A file that cannot be read at all raises
    :class:`~dialer.errors.ImportFileError`; a mapping that cannot be imported (no phone
    column, no caller ID) is reported in :attr:`FilePreview.problem` with the rows unjudged."""
    region = loader.check_region(campaign, options)
    with sources.open_table(path, loader.source_options(options)) as table:
        first = list(itertools.islice(_records(table.rows), rows))
        width = len(table.header)
        try:
            column_map, rules = loader.plan_columns(
                campaign, table, options.mapping, region=region, max_field_chars=options.max_field_chars
            )
        except ImportFileError as exc:
            return FilePreview(
                header=tuple(table.header),
                mapping={},
                user_columns=(),
                file_format=table.describe(),
                sheets=table.sheets,
                rows=tuple(PreviewRow(line=line, cells=_fit(cells, width), accepted=False) for line, cells in first),
                size=table.size,
                problem=exc.message,
            )
        checker = rows_.RowChecker(rules)
        judged = []
        for (line, cells), result in zip(first, checker.check_batch(first), strict=True):
            if len(result) == rows_.ACCEPTED_WIDTH:
                judged.append(
                    PreviewRow(
                        line=line, cells=_fit(cells, width), accepted=True, phone=result[3], handle=str(result[2])
                    )
                )
            else:
                rejected = len(result) == 4
                judged.append(
                    PreviewRow(
                        line=line,
                        cells=_fit(cells, width),
                        accepted=False,
                        reason=str(result[2]) if rejected else None,
                        message=str(result[3]) if rejected else None,
                    )
                )
        return FilePreview(
            header=tuple(table.header),
            mapping=column_map.describe(),
            user_columns=tuple(name for _, name in column_map.user_columns),
            file_format=table.describe(),
            sheets=table.sheets,
            rows=tuple(judged),
            size=table.size,
        )


def _records(found: Iterable[rows_.Row]) -> Iterator[rows_.Row]:
    """Rows that are records (blank lines are not)."""
    for line, cells in found:
        if any(c.strip() for c in cells):
            yield line, cells


def _fit(cells: list[str], width: int) -> tuple[str, ...]:
    return tuple(cells[:width]) + ("",) * max(0, width - len(cells))


FIELDS = columns_.FIELDS
__all__ = ["FIELDS", "PREVIEW_ROWS", "FilePreview", "PreviewRow", "inspect_file"]
