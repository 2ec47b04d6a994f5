"""Whole rows of a constant-memory xlsxwriter worksheet, serialised in one go.

xlsxwriter writes a cell at a time through several layers (argument conversion, bounds
checks, a row table, one file write per XML element); for the Records and Attempts sheets
of a large campaign that is most of an export's time. :class:`RowWriter` produces the same
SpreadsheetML that xlsxwriter's ``constant_memory`` mode produces for those cells — ``<row>``
elements of inline-string, number and boolean ``<c>`` cells, with xlsxwriter's escaping of
XML and control characters (``_xHHHH_``) and ``xml:space="preserve"`` for leading or
trailing whitespace — and appends a batch of whole rows to the worksheet's row file at once.

It relies on three xlsxwriter internals, checked in :meth:`RowWriter.attach`: the row file
of a constant-memory worksheet (``Worksheet.fh`` until the workbook closes),
``Worksheet._check_dimensions`` (which sets the sheet's ``<dimension>``) and
``Format._get_xf_index`` (a format's style number). ``attach`` returns ``None`` when any is
missing, and the workbook then writes through xlsxwriter's public API instead; the tests
write the same rows both ways and require identical sheet XML.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from xlsxwriter.format import Format
from xlsxwriter.utility import xl_col_to_name
from xlsxwriter.worksheet import Worksheet

from dialer.reports.safety import TRIGGERS

#: Excel's limit on the length of a cell's text, in UTF-16 code units.
MAX_CELL_TEXT = 32_767

_NEEDS_ESCAPE = re.compile(r"[&<>\x00-\x08\x0b-\x1f\ufffe\uffff]|_x[0-9a-fA-F]{4}_")
_ESCAPED_ESCAPE = re.compile(r"(_x[0-9a-fA-F]{4}_)")
_CONTROL = re.compile(r"([\x00-\x08\x0b-\x1f])")
_FLUSH_ROWS = 500
_PRESERVE = ' xml:space="preserve"'


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def truncate(text: str) -> str:
    """``text`` cut to Excel's cell limit, never inside a surrogate pair."""
    out = text[:MAX_CELL_TEXT]
    while utf16_len(out) > MAX_CELL_TEXT:
        out = out[:-1]
    return out


def escape_text(text: str) -> tuple[str, bool]:
    """(XML for a ``<t>`` element, whether it needs ``xml:space="preserve"``), as xlsxwriter does."""
    if _NEEDS_ESCAPE.search(text):
        text = _ESCAPED_ESCAPE.sub(r"_x005F\1", text)
        text = _CONTROL.sub(lambda m: f"_x{ord(m.group(1)):04X}_", text)
        text = text.replace("\ufffe", "_xFFFE_").replace("\uffff", "_xFFFF_")
        preserve = text[:1].isspace() or text[-1:].isspace()
        return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;"), preserve
    return text, text[:1].isspace() or text[-1:].isspace()


def number_styles(formats: Iterable[Format]) -> None:
    """Give ``formats`` their style numbers now, in this order, so a workbook's styles do not
    depend on which path wrote a sheet first (xlsxwriter numbers them on first use)."""
    if hasattr(Format, "_get_xf_index"):
        for fmt in formats:
            fmt._get_xf_index()


class RowWriter:
    """Appends rows to one constant-memory worksheet. Build it with :meth:`attach`."""

    def __init__(self, ws: Worksheet) -> None:
        self.ws = ws
        self.truncated = 0
        """Text cells cut to Excel's limit."""

    @classmethod
    def attach(cls, ws: Worksheet) -> RowWriter | None:
        """A writer for ``ws``, or ``None`` if this xlsxwriter lacks the hooks it needs."""
        fh = getattr(ws, "fh", None)
        if not getattr(ws, "constant_memory", False) or fh is None or not hasattr(fh, "write"):
            return None
        if not callable(getattr(ws, "_check_dimensions", None)) or not hasattr(Format, "_get_xf_index"):
            return None
        if ws.dim_rowmin is not None:  # something was already written through the public API
            return None
        return cls(ws)

    @staticmethod
    def style(fmt: Format | None) -> str:
        """The ``s`` attribute of cells in format ``fmt`` (empty for the default)."""
        return f' s="{fmt._get_xf_index()}"' if fmt is not None else ""

    def write(
        self,
        rows: Iterable[Sequence[Any]],
        *,
        kinds: Sequence[str],
        styles: Sequence[str],
        quoted: str,
        first_row: int = 0,
        to_serial: Callable[[str], float] | None = None,
    ) -> int:
        """Write ``rows`` from ``first_row`` (0-based); how many were written.

        ``kinds[c]`` is ``text``, ``number``, ``bool`` or ``localtime`` (wall-clock text made
        a date-time number by ``to_serial``); ``styles[c]`` is the ``s`` attribute of column
        ``c`` (see :meth:`style`), and text beginning with a formula trigger gets ``quoted``
        (a quote-prefix style) instead. ``None`` and empty text leave a cell empty.
        """
        letters = [xl_col_to_name(c) for c in range(len(kinds))]
        columns = list(enumerate(zip(letters, kinds, styles, strict=True)))
        out: list[str] = []
        written = 0
        first_col = last_col = first_cells_row = last_row = -1
        for n, row in enumerate(rows, start=first_row):
            r = n + 1
            cells = []
            low = high = -1
            for (c, (letter, kind, style)), value in zip(columns, row, strict=False):
                if value is None:
                    continue
                if kind == "text":
                    if not value:
                        continue
                    if len(value) > MAX_CELL_TEXT // 2 and utf16_len(value) > MAX_CELL_TEXT:
                        value = truncate(value)
                        self.truncated += 1
                    if _NEEDS_ESCAPE.search(value):
                        text, preserve = escape_text(value)
                    else:
                        text, preserve = value, value[0].isspace() or value[-1].isspace()
                    cells.append(
                        f'<c r="{letter}{r}"{quoted if value[0] in TRIGGERS else style} t="inlineStr">'
                        f"<is><t{_PRESERVE if preserve else ''}>{text}</t></is></c>"
                    )
                elif kind == "bool":
                    cells.append(f'<c r="{letter}{r}"{style} t="b"><v>{1 if value else 0}</v></c>')
                elif kind == "localtime":
                    cells.append(f'<c r="{letter}{r}"{style}><v>{to_serial(value):.16G}</v></c>')  # type: ignore[misc]
                else:
                    cells.append(f'<c r="{letter}{r}"{style}><v>{value:.16G}</v></c>')
                high = c
                if low < 0:
                    low = c
            written += 1
            if cells:
                out.append(f'<row r="{r}">{"".join(cells)}</row>')
                first_col = low if first_col < 0 else min(first_col, low)
                last_col = max(last_col, high)
                last_row = n
                if first_cells_row < 0:
                    first_cells_row = n
                if len(out) >= _FLUSH_ROWS:
                    self.ws.fh.write("".join(out))
                    out.clear()
        self.ws.fh.write("".join(out))
        if last_row >= 0:
            self.ws._check_dimensions(first_cells_row, first_col)
            self.ws._check_dimensions(last_row, last_col)
        return written
