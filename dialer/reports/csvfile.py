"""One sheet as CSV: UTF-8 with a byte-order mark, so Excel opens accents right.

Every text field is enclosed in double quotes and trigger-led text in the columns that can
come from outside the dialer gets OWASP's ``'`` prefix (:mod:`dialer.reports.safety`);
numbers and booleans are bare, empty cells are empty, date-times are local wall-clock text
``YYYY-MM-DD HH:MM:SS``. Rows are written a store batch at a time.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import IO, Any

from dialer.reports.safety import TRIGGERS, csv_text
from dialer.reports.sheets import Column, Row


def write_csv(path: Path, columns: Sequence[Column], rows: Iterable[Row], *, chunk: int = 5000) -> int:
    """Write the header and ``rows``; how many rows were written."""
    free = [i for i, c in enumerate(columns) if c.kind == "text" and c.free]
    n = 0
    # Rows are formatted into a string a chunk at a time and written (encoded) in one go.
    text = io.StringIO()
    writer = csv.writer(text, quoting=csv.QUOTE_NONNUMERIC, lineterminator="\r\n")
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        writer.writerow([csv_text(c.name) for c in columns])
        buffer: list[Row] = []
        for row in rows:
            for i in free:
                value = row[i]
                if value and value[0] in TRIGGERS:
                    row = [csv_text(v) if j in free and isinstance(v, str) else v for j, v in enumerate(row)]
                    break
            buffer.append(row)
            if len(buffer) >= chunk:
                n += _flush(writer, buffer, text, handle)
        n += _flush(writer, buffer, text, handle)
    return n


def _flush(writer: Any, buffer: list[Row], text: io.StringIO, handle: IO[str]) -> int:
    writer.writerows(buffer)
    handle.write(text.getvalue())
    text.seek(0)
    text.truncate()
    written = len(buffer)
    buffer.clear()
    return written


def csv_line(fields: Sequence[str]) -> str:
    """Fields joined into one CSV line (no line end): how an original file row looked."""
    out = io.StringIO()
    csv.writer(out, lineterminator="").writerow(fields)
    return out.getvalue()
