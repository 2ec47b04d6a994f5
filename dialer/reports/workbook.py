"""The XLSX workbook: Summary, Records, Attempts, Abandonment, Rejects.

Written with xlsxwriter in ``constant_memory`` mode: each row goes to disk as soon as the
next one starts, so a workbook of any size needs the memory of one row per sheet plus one
batch from the store. Every sheet has a bold, frozen header row and an autofilter; column
widths follow the header and the first rows; date-times are real date-time cells (local to
the campaign's zone, named in the header or the Summary), rates are percentages. Text is
always a string cell and trigger-led text carries the quote-prefix flag
(:mod:`dialer.reports.safety`).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any

import xlsxwriter
from xlsxwriter.exceptions import FileCreateError
from xlsxwriter.format import Format
from xlsxwriter.worksheet import Worksheet

from dialer.reports.figures import ABANDON_CAP, AbandonDay, Tally
from dialer.reports.safety import TRIGGERS
from dialer.reports.sheets import Column, Row
from dialer.reports.sheetxml import MAX_CELL_TEXT, RowWriter, number_styles, truncate, utf16_len

SHEETS = ("Summary", "Records", "Attempts", "Abandonment", "Rejects")
#: Excel's limits: data rows (below the header) and columns per sheet.
MAX_ROWS = 1_048_575
MAX_COLUMNS = 16_384
DATETIME_FORMAT = "yyyy-mm-dd hh:mm:ss"
_EXCEL_EPOCH = date(1899, 12, 30).toordinal()
_WIDTH_SAMPLE = 200

#: Column kinds as :class:`~dialer.reports.sheetxml.RowWriter` knows them.
_FAST_KINDS = {
    "text": "text",
    "datetime": "localtime",
    "bool": "bool",
    "int": "number",
    "float": "number",
    "percent": "number",
}

SummaryLine = tuple[str, Any, str, str]
"""(measure, value, kind, note) — one line of the Summary sheet."""


class _DaySerials(dict[str, int]):
    """Excel day numbers of ``YYYY-MM-DD`` prefixes, computed once per day."""

    def __missing__(self, key: str) -> int:
        value = self[key] = date.fromisoformat(key).toordinal() - _EXCEL_EPOCH
        return value


class WorkbookWriter:
    """One workbook being written; sheets are created up front, in the order of :data:`SHEETS`."""

    def __init__(self, path: Path, *, fast: bool = True) -> None:
        self.fast = fast
        """Write the big sheets a row at a time (:mod:`dialer.reports.sheetxml`)."""
        self.book = xlsxwriter.Workbook(
            str(path),
            {
                "constant_memory": True,
                # Text stays text: never a formula, a number or a hyperlink.
                "strings_to_formulas": False,
                "strings_to_numbers": False,
                "strings_to_urls": False,
            },
        )
        add = self.book.add_format
        self.header = add({"bold": True, "bottom": 1, "bg_color": "#F2F2F2"})
        self.header_quoted = add({"bold": True, "bottom": 1, "bg_color": "#F2F2F2", "quote_prefix": True})
        self.quoted = add({"quote_prefix": True})
        self.datetime = add({"num_format": DATETIME_FORMAT})
        self.date = add({"num_format": "yyyy-mm-dd"})
        self.percent = add({"num_format": "0.00%"})
        self.percent_over = add({"num_format": "0.00%", "bold": True, "font_color": "#9C0006", "bg_color": "#FFC7CE"})
        self.flag_over = add({"bold": True, "font_color": "#9C0006", "bg_color": "#FFC7CE"})
        self.seconds = add({"num_format": "0.0"})
        self.bold = add({"bold": True})
        number_styles(
            [
                *(self.header, self.header_quoted, self.quoted, self.datetime, self.date, self.percent),
                *(self.percent_over, self.flag_over, self.seconds, self.bold),
            ]
        )
        self.sheets = {name: self.book.add_worksheet(name) for name in SHEETS}
        self.truncated = 0
        """Text cells cut to Excel's 32,767-character limit."""
        self._days = _DaySerials()

    # ------------------------------------------------------------------ cells
    def serial(self, local: str) -> float:
        """Local wall-clock text ``YYYY-MM-DD HH:MM:SS`` as an Excel date-time number."""
        return self._days[local[:10]] + (int(local[11:13]) * 3600 + int(local[14:16]) * 60 + int(local[17:19])) / 86400

    def _text(self, ws: Worksheet, row: int, col: int, value: str) -> None:
        if not value:
            return  # an empty cell, as the row writer leaves it
        if len(value) > MAX_CELL_TEXT // 2 and utf16_len(value) > MAX_CELL_TEXT:
            value = truncate(value)
            self.truncated += 1
        if value[:1] in TRIGGERS:
            ws.write_string(row, col, value, self.quoted)
        else:
            ws.write_string(row, col, value)

    def _writer(self, kind: str) -> Callable[[Worksheet, int, int, Any], None]:
        if kind == "text":
            return self._text
        if kind == "datetime":
            return lambda ws, r, c, v: ws.write_number(r, c, self.serial(v), self.datetime)
        if kind == "date":
            return lambda ws, r, c, v: ws.write_datetime(r, c, v, self.date)
        if kind == "bool":
            return lambda ws, r, c, v: ws.write_boolean(r, c, bool(v))
        if kind == "percent":
            return lambda ws, r, c, v: ws.write_number(r, c, v, self.percent)
        if kind == "float":
            return lambda ws, r, c, v: ws.write_number(r, c, v, self.seconds)
        if kind == "int":
            return lambda ws, r, c, v: ws.write_number(r, c, v)
        raise ValueError(f"unknown column kind {kind!r}")

    def _header(self, ws: Worksheet, row: int, names: Sequence[str]) -> None:
        for col, name in enumerate(names):
            ws.write_string(row, col, name, self.header_quoted if name[:1] in TRIGGERS else self.header)

    # ------------------------------------------------------------------ tables
    def write_table(self, name: str, columns: Sequence[Column], rows: Iterable[Row]) -> int:
        """Header, rows, frozen header, autofilter and widths; how many rows were written."""
        ws = self.sheets[name]
        widths = [_initial_width(c) for c in columns]
        rows = self._measured(rows, columns, widths)
        fast = RowWriter.attach(ws) if self.fast else None
        if fast is None:
            n = self._write_cells(ws, columns, rows)
        else:
            names = [c.name for c in columns]
            header, header_quoted = RowWriter.style(self.header), RowWriter.style(self.header_quoted)
            fast.write([names], kinds=["text"] * len(names), styles=[header] * len(names), quoted=header_quoted)
            n = fast.write(
                rows,
                kinds=[_FAST_KINDS[c.kind] for c in columns],
                styles=[RowWriter.style(self._format(c.kind)) for c in columns],
                quoted=RowWriter.style(self.quoted),
                first_row=1,
                to_serial=self.serial,
            )
            self.truncated += fast.truncated
        self._finish(ws, columns, widths, n)
        return n

    def _format(self, kind: str) -> Format | None:
        return {"datetime": self.datetime, "percent": self.percent, "float": self.seconds}.get(kind)

    def _write_cells(self, ws: Worksheet, columns: Sequence[Column], rows: Iterable[Row]) -> int:
        """The same table through xlsxwriter's public API, a cell at a time."""
        self._header(ws, 0, [c.name for c in columns])
        writers = [self._writer(c.kind) for c in columns]
        n = 0
        for row in rows:
            n += 1
            for col, value in enumerate(row):
                if value is not None:
                    writers[col](ws, n, col, value)
        return n

    @staticmethod
    def _measured(rows: Iterable[Row], columns: Sequence[Column], widths: list[float]) -> Iterator[Row]:
        """``rows``, widening text columns to fit the first rows as they pass."""
        sample = [i for i, c in enumerate(columns) if c.kind == "text" and c.width is None]
        iterator = iter(rows)
        for row in itertools.islice(iterator, _WIDTH_SAMPLE):
            for col in sample:
                value = row[col]
                if value is not None and len(value) + 2 > widths[col]:
                    widths[col] = min(len(value) + 2, 50)
            yield row
        yield from iterator

    def _finish(self, ws: Worksheet, columns: Sequence[Column], widths: Sequence[float], rows: int) -> None:
        ws.freeze_panes(1, 0)
        ws.autofilter(0, 0, max(rows, 1), len(columns) - 1)
        for col, width in enumerate(widths):
            ws.set_column(col, col, width)

    def write_abandonment(self, days: Sequence[AbandonDay]) -> int:
        ws = self.sheets["Abandonment"]
        columns = [
            Column("day", "date", width=12),
            Column("attempts", "int"),
            Column("live_answers", "int"),
            Column("abandoned", "int"),
            Column("abandon_rate", "percent"),
            Column("live_answers_30d", "int"),
            Column("abandoned_30d", "int"),
            Column("abandon_rate_30d", "percent"),
            Column("day_over_cap", "bool"),
            Column("rolling_30d_over_cap", "bool"),
        ]
        self._header(ws, 0, [c.name for c in columns])
        for n, d in enumerate(days, start=1):
            ws.write_datetime(n, 0, datetime.combine(d.day, datetime.min.time()), self.date)
            for col, value in ((1, d.attempts), (2, d.live_answers), (3, d.abandoned)):
                ws.write_number(n, col, value)
            if d.rate is not None:
                ws.write_number(n, 4, d.rate, self.percent_over if d.over_cap else self.percent)
            ws.write_number(n, 5, d.live_answers_30d)
            ws.write_number(n, 6, d.abandoned_30d)
            if d.rate_30d is not None:
                ws.write_number(n, 7, d.rate_30d, self.percent_over if d.over_cap_30d else self.percent)
            ws.write_boolean(n, 8, d.over_cap, self.flag_over if d.over_cap else None)
            ws.write_boolean(n, 9, d.over_cap_30d, self.flag_over if d.over_cap_30d else None)
        self._finish(ws, columns, [_initial_width(c) for c in columns], len(days))
        return len(days)

    def write_summary(
        self, lines: Sequence[SummaryLine], series: Sequence[tuple[datetime, Tally]], *, unit: str, zone: str
    ) -> int:
        """The measures, then the per-hour or per-day table and a chart drawn from it."""
        ws = self.sheets["Summary"]
        self._header(ws, 0, ["measure", "value", "note"])
        row = 0
        for row, (label, value, kind, note) in enumerate(lines, start=1):
            self._text(ws, row, 0, label)
            if value is None:
                pass
            elif kind == "percent":
                over = label.startswith("abandon rate") and isinstance(value, float) and value > ABANDON_CAP
                ws.write_number(row, 1, value, self.percent_over if over else self.percent)
            elif kind == "datetime":
                ws.write_datetime(row, 1, value, self.datetime)
            elif kind == "int":
                ws.write_number(row, 1, value)
            else:
                self._text(ws, row, 1, str(value))
            if note:
                self._text(ws, row, 2, note)
        ws.freeze_panes(1, 0)
        ws.autofilter(0, 0, row, 2)
        ws.set_column(0, 0, 38)
        ws.set_column(1, 1, 20)
        ws.set_column(2, 2, 60)
        if series:
            self._series(ws, row + 2, series, unit=unit, zone=zone)
        return row

    def _series(
        self, ws: Worksheet, top: int, series: Sequence[tuple[datetime, Tally]], *, unit: str, zone: str
    ) -> None:
        names = [f"{unit} ({zone})", "attempts", "live_answers", "connects", "abandoned", "abandon_rate", "abandon_cap"]
        self._header(ws, top, names)
        fmt = self.book.add_format({"num_format": "yyyy-mm-dd hh:00" if unit == "hour" else "yyyy-mm-dd"})
        for i, (start, t) in enumerate(series, start=top + 1):
            ws.write_datetime(i, 0, start, fmt)
            for col, value in ((1, t.attempts), (2, t.live_answers), (3, t.connects), (4, t.abandoned)):
                ws.write_number(i, col, value)
            if t.abandon_rate is not None:
                ws.write_number(i, 5, t.abandon_rate, self.percent_over if t.over_cap else self.percent)
            ws.write_number(i, 6, ABANDON_CAP, self.percent)
        first, last = top + 1, top + len(series)
        bars = self.book.add_chart({"type": "column"})
        for col, colour in ((1, "#9DC3E6"), (3, "#2E75B6")):
            bars.add_series(
                {
                    "name": ["Summary", top, col],
                    "categories": ["Summary", first, 0, last, 0],
                    "values": ["Summary", first, col, last, col],
                    "fill": {"color": colour},
                    "gap": 50,
                }
            )
        lines = self.book.add_chart({"type": "line"})
        for col, style in ((5, {"color": "#C00000", "width": 2}), (6, {"color": "#C00000", "dash_type": "dash"})):
            lines.add_series(
                {
                    "name": ["Summary", top, col],
                    "categories": ["Summary", first, 0, last, 0],
                    "values": ["Summary", first, col, last, col],
                    "y2_axis": True,
                    "line": style,
                    "marker": {"type": "none"},
                }
            )
        bars.combine(lines)
        bars.set_title({"name": f"Attempts, connects and abandon rate per {unit}"})
        bars.set_x_axis({"text_axis": True, "num_format": "yyyy-mm-dd hh:00" if unit == "hour" else "yyyy-mm-dd"})
        bars.set_y_axis({"name": "calls", "major_gridlines": {"visible": True, "line": {"color": "#E0E0E0"}}})
        lines.set_y2_axis({"name": "abandon rate", "num_format": "0%", "min": 0})
        bars.set_legend({"position": "bottom"})
        bars.set_size({"width": 900, "height": 380})
        ws.insert_chart(1, 4, bars)

    def close(self) -> None:
        """Write the workbook out; a file that cannot be created raises its :class:`OSError`."""
        try:
            self.book.close()
        except FileCreateError as exc:
            self._discard_row_files()
            cause = exc.args[0] if exc.args and isinstance(exc.args[0], OSError) else OSError(str(exc))
            raise cause from exc

    def _discard_row_files(self) -> None:
        """Close and delete the sheets' temporary row files (constant-memory mode), which
        xlsxwriter leaves open when the workbook itself cannot be created."""
        for sheet in self.book.worksheets():
            handle = getattr(sheet, "row_data_fh", None)
            if handle is not None and not getattr(sheet, "row_data_fh_closed", True):
                handle.close()
                sheet.row_data_fh_closed = True
            name = getattr(sheet, "row_data_filename", None)
            if name:
                Path(name).unlink(missing_ok=True)


def _initial_width(column: Column) -> float:
    if column.width is not None:
        return column.width
    base = {"datetime": 20, "date": 12, "bool": 11, "int": 10, "float": 11, "percent": 11}.get(column.kind, 10)
    return max(base, min(len(column.name) + 3, 50))
