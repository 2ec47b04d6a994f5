"""One sheet as CSV: UTF-8 with a byte-order mark, so Excel opens accents right.

Every text field is enclosed in double quotes and trigger-led text in the columns that can
come from outside the dialer gets OWASP's ``'`` prefix (:mod:`dialer.reports.safety`);
numbers and booleans are bare, empty cells are ``""``, date-times are local wall-clock text
``YYYY-MM-DD HH:MM:SS``. Rows are written a store batch at a time, through the csv module
(:func:`write_csv`), or as lines the database rendered the same way (:func:`write_csv_lines`).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from pathlib import Path

from dialer.reports.safety import TRIGGERS, csv_text
from dialer.reports.sheets import Column, Row
from dialer.store.reporting import CsvKind


def write_csv(path: Path, columns: Sequence[Column], batches: Iterable[Sequence[Row]]) -> int:
    """Write the header and the rows of ``batches``; how many rows were written."""
    free = [i for i, c in enumerate(columns) if c.kind == "text" and c.free]
    n = 0
    # A batch is formatted into a string and written (encoded) in one go.
    text = io.StringIO()
    writer = csv.writer(text, quoting=csv.QUOTE_NONNUMERIC, lineterminator="\r\n")
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        writer.writerow([csv_text(c.name) for c in columns])
        for batch in batches:
            # Most batches hold no trigger-led text at all: check their first characters in bulk.
            if any(TRIGGERS.intersection({row[i][:1] for row in batch if row[i]}) for i in free):
                batch = [_neutralised(row, free) for row in batch]
            writer.writerows(batch)
            handle.write(text.getvalue())
            text.seek(0)
            text.truncate()
            n += len(batch)
        handle.write(text.getvalue())
    return n


def csv_kinds(columns: Sequence[Column]) -> list[CsvKind]:
    """How each column is written, for a database that renders the lines itself
    (:meth:`~dialer.store.reporting.ReportReader.attempt_csv_lines`)."""
    kinds: dict[str, CsvKind] = {"int": "number", "float": "number", "bool": "flag"}
    return ["free" if c.free else kinds.get(c.kind, "text") for c in columns]


def write_csv_lines(path: Path, columns: Sequence[Column], batches: Iterable[Sequence[str]]) -> int:
    """Write the header, then lines already rendered as :func:`write_csv` writes rows; how many."""
    n = 0
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        csv.writer(handle, quoting=csv.QUOTE_NONNUMERIC, lineterminator="\r\n").writerow(
            [csv_text(c.name) for c in columns]
        )
        for batch in batches:
            handle.write("\r\n".join(batch))
            handle.write("\r\n")
            n += len(batch)
    return n


def _neutralised(row: Row, free: Sequence[int]) -> Row:
    if not any(row[i] and row[i][0] in TRIGGERS for i in free):
        return row
    fixed = list(row)
    for i in free:
        if fixed[i]:
            fixed[i] = csv_text(fixed[i])
    return fixed


def csv_line(fields: Sequence[str]) -> str:
    """Fields joined into one CSV line (no line end): how an original file row looked."""
    out = io.StringIO()
    csv.writer(out, lineterminator="").writerow(fields)
    return out.getvalue()
