"""Validating rows: phone, caller ID, time zone and user data, one row at a time.

This is the part of an import that needs no database and no order, so it runs in worker
processes for large files (see :mod:`dialer.importer.loader`); de-duplication and the DNC
scrub need the whole file's history and run in the importing process.

Results travel between processes in a compact wire format (plain tuples, marshalled):

* accepted: ``(line, raw, handle, phone, caller_id, user_data, timezone, tz_candidates,
  tz_source)`` — a :class:`PreparedRecord`, which the store inserts as it is;
* rejected: ``(line, raw, reason, message)``;

where ``raw`` is the row's cells, marshalled, kept for the rejects report should the row be
rejected later (as a duplicate or DNC number).

For CSV files the workers also parse the CSV: the importing process cuts the file into
chunks at line ends outside quotes (by quote parity) and each worker parses its chunk with
the same :mod:`csv` dialect. A chunk that turns out to end inside a quoted field (a stray
quote fooled the parity count) says so, and the importer parses the rest of the file itself.

Checks, in order, each with its reject reason: a NUL byte in a field (``nul_byte``), a field
longer than the import's limit (``field_too_long``), more non-empty fields than the header
(``malformed_row``), no phone (``missing_phone``), a country or calling-code column naming
nothing known (``invalid_country``), the phone (``invalid_phone``, ``unrecoverable_format``),
the caller ID (``invalid_caller_id``, ``missing_caller_id``), the time-zone column
(``invalid_timezone``), the handle (``invalid_handle``).

A field over the limit is told apart from a quoting fault: when the value holds line breaks
and the lines inside it look like records of the file (as many delimiters as the header), a
quote opened on that line was not closed where the value ends, and the records after it
were swallowed into it. That is not one bad row but a file that cannot be read as written:
the checker reports it as :attr:`RowChecker.fault` and the import refuses the file, naming
the line.
"""

from __future__ import annotations

import csv
import gc
import io
import json
import marshal
import operator
import signal
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from json.encoder import encode_basestring_ascii
from typing import Any

from dialer.domain import phones
from dialer.domain.imports import REJECT_REASONS, RowProblem
from dialer.domain.numbering import PhoneNormaliser
from dialer.importer import sources

#: Records' handle column holds this many characters.
MAX_HANDLE = 200
#: The longest field an import accepts by default, in characters (``--max-field-chars``):
#: Python's own CSV default, and the size of the largest common CRM text field (a Salesforce
#: long text area). Excel cells hold 32,767; longer values are cut in the report workbook.
DEFAULT_MAX_FIELD = 131_072
#: User-data key for a phone extension (``x12``), unless the file has such a column already.
EXTENSION_KEY = "extension"

Row = tuple[int, list[str]]
#: A checked row in the wire format described above.
Checked = tuple[Any, ...]
ACCEPTED_WIDTH = 9
#: Appended to a chunk before parsing: parsed back as this lone field only if the chunk
#: ended outside a quoted field.
_SENTINEL = "\x1e"


@dataclass(frozen=True, kw_only=True)
class RowRules:
    """Everything a worker needs to check rows; small and picklable."""

    width: int
    """Columns in the header."""
    handle: int = -1
    phone: int
    caller_id: int = -1
    timezone: int = -1
    country: int = -1
    phone_code: int = -1
    user_columns: tuple[tuple[int, str], ...] = ()
    region: str = "US"
    """For numbers written without a country code, unless the row's country says otherwise."""
    caller_ids: tuple[str, ...] = ()
    """The campaign's caller IDs; when not empty, a row's caller ID must be one of them."""
    allow_random_caller_id: bool = False
    fallback_zones: tuple[str, ...] = ()
    max_field: int = DEFAULT_MAX_FIELD
    """Characters a field may hold; a row with a longer one is rejected (``field_too_long``)."""
    columns: tuple[str, ...] = ()
    """The header's column names (for messages)."""
    delimiter: str = ","


class RowChecker:
    def __init__(self, rules: RowRules) -> None:
        self.rules = rules
        self.numbers = PhoneNormaliser()
        self._caller_ids: dict[str, str | RowProblem] = {}
        self._zones: dict[tuple[object, ...], tuple[str | None, str, str]] = {}
        self._owned = frozenset(rules.caller_ids)
        self.fault: tuple[int, str] | None = None
        """(line, message) of a quoting fault that makes the file unreadable as written; the
        first one found, with the line as the rows it was checked with number it."""
        self.check = self._compile()

    def check_batch(self, rows: Sequence[Row]) -> list[Checked]:
        check = self.check
        if _has_nul(cells for _, cells in rows):
            check = self.check_with_nul
        return [check(line, cells) for line, cells in rows]

    def check_with_nul(self, line: int, cells: list[str]) -> Checked:
        """:attr:`check` for rows that may hold a NUL byte (the caller saw one in the batch)."""
        for index, cell in enumerate(cells):
            if "\x00" in cell:
                column = self._column(index)
                return (
                    line,
                    marshal.dumps(cells),
                    "nul_byte",
                    f"{column} holds a NUL byte (0x00), which text never does: the file is damaged on this line, "
                    "or part of it was saved in another format. Remove the character or export the list again",
                )
        return self.check(line, cells)

    def _column(self, index: int) -> str:
        names = self.rules.columns
        return f"column {names[index]!r}" if index < len(names) else f"column {index + 1}"

    def _long_field(self, line: int, cells: list[str], raw: bytes) -> Checked | None:
        """The reject for a row with a field over the limit (None when none is); a value that
        swallowed records is noted as the file's :attr:`fault` instead."""
        limit = self.rules.max_field
        for index, cell in enumerate(cells):
            if len(cell) <= limit:
                continue
            column = self._column(index)
            swallowed = _swallowed_records(cell, self.rules.width, self.rules.delimiter)
            if swallowed:
                if self.fault is None:
                    self.fault = (
                        line,
                        f"{column} holds a quoted value of {len(cell):,} characters that runs over {swallowed:,} "
                        "lines that look like records: a quote on that line is not closed where the value ends. "
                        'Fix the quoting on that line (a quote inside a value is written twice: "")',
                    )
                return ()
            return (
                line,
                raw,
                "field_too_long",
                f"{column} is {len(cell):,} characters long; a field may hold {limit:,}. Shorten it, or import "
                f"with --max-field-chars {len(cell)} (at most {sources.PARSE_LIMIT:,})",
            )
        return None

    def _compile(self) -> Callable[[int, list[str]], Checked]:
        """The per-row check as one function over local variables: it runs a million times."""
        rules = self.rules
        width, phone_at, cid_at, tz_at, handle_at = (
            rules.width,
            rules.phone,
            rules.caller_id,
            rules.timezone,
            rules.handle,
        )
        by_row_region = rules.phone_code >= 0 or rules.country >= 0
        default_region = rules.region
        caller_id_required = not rules.caller_ids and not rules.allow_random_caller_id
        normalise = self.numbers.normalise
        phone_error = phones.PhoneError
        caller_ids, zones = self._caller_ids, self._zones
        dumps, encode = marshal.dumps, encode_basestring_ascii
        names = [name for _, name in rules.user_columns]
        indices = [i for i, _ in rules.user_columns]
        user_data = _user_data_encoder(names, indices)
        has_extension_column = EXTENSION_KEY in names
        missing_phone = REJECT_REASONS["missing_phone"]
        missing_caller_id = REJECT_REASONS["missing_caller_id"]
        max_field, long_field = rules.max_field, self._long_field

        def check(line: int, cells: list[str]) -> Checked:
            raw = dumps(cells)
            if len(raw) > max_field:  # the marshalled row is at least as long as its longest field
                rejected = long_field(line, cells, raw)
                if rejected is not None:
                    return rejected
            if len(cells) != width:
                if not cells or not "".join(cells).strip():
                    return ()  # a blank line: not a record
                if len(cells) > width and "".join(cells[width:]).strip():
                    return (line, raw, "malformed_row", _too_many(cells, width))
                cells = cells[:width] + [""] * (width - len(cells))
            raw_phone = cells[phone_at]
            if not raw_phone or raw_phone.isspace():
                if not "".join(cells).strip():
                    return ()  # a blank line (of empty cells): not a record
                return (line, raw, "missing_phone", missing_phone)
            region = default_region
            if by_row_region:
                found = self._row_region(cells)
                if found.__class__ is RowProblem:
                    return (line, raw, found[1], found[2])
                region = found or region  # type: ignore[assignment]
            try:
                e164, number_region, extension, number_zones = normalise(raw_phone, region)
            except phone_error as exc:
                return (line, raw, exc.reason, str(exc))
            caller_id = None
            if cid_at >= 0 and (raw_cid := cells[cid_at].strip()):
                checked = caller_ids.get(raw_cid)
                if checked is None:
                    checked = caller_ids[raw_cid] = self._check_caller_id(raw_cid)
                if checked.__class__ is RowProblem:
                    return (line, raw, checked[1], checked[2])
                caller_id = checked
            elif caller_id_required:
                return (line, raw, "missing_caller_id", missing_caller_id)
            explicit = None
            if tz_at >= 0 and (raw_tz := cells[tz_at].strip()):
                explicit = phones.parse_zone(raw_tz)
                if explicit is None:
                    return (line, raw, "invalid_timezone", _bad_zone(raw_tz))
            zone_key = (explicit, number_zones, number_region)
            zone = zones.get(zone_key)
            if zone is None:
                zone = zones[zone_key] = self._zone(e164, explicit, number_zones, number_region)
            handle = cells[handle_at].strip() if handle_at >= 0 else ""
            if not handle:
                handle = e164
            elif len(handle) > MAX_HANDLE:
                return (line, raw, "invalid_handle", f"the record handle is {len(handle)} characters; at most 200")
            data = user_data(cells)
            if extension and not has_extension_column:
                data = (data[:-1] + ", " if len(data) > 2 else "{") + f"{encode(EXTENSION_KEY)}: {encode(extension)}}}"
            return (line, raw, handle, e164, caller_id, data, zone[0], zone[1], zone[2])

        return check

    def _zone(
        self, e164: str, explicit: tuple[str, ...] | None, zones: tuple[str, ...], region: str | None
    ) -> tuple[str | None, str, str]:
        resolution = phones.resolve_zone(
            e164, explicit=explicit, fallback=self.rules.fallback_zones, zones=zones, region=region
        )
        return resolution.timezone, json.dumps(list(resolution.candidates)), resolution.source

    def _row_region(self, cells: list[str]) -> str | RowProblem | None:
        rules = self.rules
        for index, what in ((rules.phone_code, "calling code"), (rules.country, "country")):
            if index < 0:
                continue
            value = cells[index].strip()
            if not value:
                continue
            region = phones.region_for_country(value)
            if region is None:
                return RowProblem(
                    0,
                    "invalid_country",
                    f"{value!r} is not a {what} (use ISO codes like US or GB, or calling codes like 1 or 44); "
                    "pass --map country= to ignore the column",
                )
            return region
        return None

    def _check_caller_id(self, raw: str) -> str | RowProblem:
        try:
            e164 = self.numbers.normalise(raw, self.rules.region).e164
        except phones.PhoneError as exc:
            hint = "" if "region" in str(exc) else phones.region_hint(raw)
            if hint:
                hint += (
                    f"; import with --region of that country (this import reads {self.rules.region}), "
                    "or write it in E.164"
                )
            return RowProblem(0, "invalid_caller_id", f"caller ID {raw!r}: {exc}{hint}")
        if self._owned and e164 not in self._owned:
            return RowProblem(
                0,
                "invalid_caller_id",
                f"caller ID {e164} is not one of the campaign's: {', '.join(sorted(self._owned))}",
            )
        return e164


def _user_data_encoder(names: Sequence[str], indices: Sequence[int]) -> Callable[[list[str]], str]:
    """cells → the JSON object of the user-data columns, as ``json.dumps`` writes it (keys in
    file order, ASCII escapes), built from a template because it runs once per row."""
    if not names:
        return lambda cells: "{}"
    template = "{" + ", ".join(encode_basestring_ascii(n).replace("%", "%%") + ": %s" for n in names) + "}"
    pick = operator.itemgetter(*indices)
    if len(indices) == 1:
        return lambda cells: template % encode_basestring_ascii(pick(cells))
    return lambda cells: template % tuple(map(encode_basestring_ascii, pick(cells)))


def _too_many(cells: list[str], width: int) -> str:
    return f"{len(_trimmed(cells))} fields but the header has {width}: a value with the delimiter in it needs quotes"


def _bad_zone(value: str) -> str:
    return f"{value!r} is not a time zone; use an IANA name such as America/Chicago (or ET, CT, MT, PT)"


def _trimmed(cells: list[str]) -> list[str]:
    end = len(cells)
    while end and not cells[end - 1].strip():
        end -= 1
    return cells[:end]


def _has_nul(rows: Iterable[list[str]]) -> bool:
    return any("\x00" in cell for cells in rows for cell in cells)


def _swallowed_records(value: str, width: int, delimiter: str) -> int:
    """How many lines inside ``value`` (after its first) look like records of a file whose
    header has ``width`` columns: 0 unless at least two do and they are most of them."""
    lines = [line for line in value.splitlines()[1:] if line.strip()]
    if len(lines) < 2:
        return 0
    sample = lines[:1000]
    alike = len(sample) if width < 2 else sum(1 for line in sample if line.count(delimiter) >= width - 1)
    return len(lines) if alike * 2 >= len(sample) else 0


def raw_cells(raw: bytes) -> list[str]:
    """The cells of a checked row, from its wire-format ``raw``."""
    cells: list[str] = marshal.loads(raw)
    return cells


@dataclass(frozen=True, kw_only=True)
class ChunkResult:
    records: int
    """Records (lines, as a spreadsheet counts them) in the chunk, blank ones included."""
    clean: bool
    """The chunk ended outside a quoted field, so the next one starts at a record."""
    checked: bytes
    """The marshalled list of checked rows, lines relative to the chunk."""
    undecodable: tuple[int, str] | None = None
    """(line in the chunk, the byte) when the chunk is not valid in the file's encoding."""
    fault: tuple[int, str] | None = None
    """(line in the chunk, message): a quoting fault (:attr:`RowChecker.fault`)."""


def check_chunk(
    checker: RowChecker, data: bytes, *, encoding: str, delimiter: str, skip: int, final: bool
) -> ChunkResult:
    """Parse a chunk of CSV (whole lines) and check its rows; the first ``skip`` records are
    not data (the header, lines above it); ``final``: the chunk ends the file."""
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        return ChunkResult(
            records=0, clean=False, checked=b"", undecodable=(line, data[exc.start : exc.start + 1].hex())
        )
    if final and not text.endswith(("\n", "\r")):
        text += "\n"  # the sentinel must start a line of its own
    reader = csv.reader(io.StringIO(text + _SENTINEL + "\n", newline=""), delimiter=delimiter, strict=False)
    try:
        rows = list(reader)
    except csv.Error:  # a value past the parser's limit: the importer reads from here itself
        return ChunkResult(records=0, clean=False, checked=b"")
    clean = bool(rows) and rows[-1] == [_SENTINEL]
    if clean:
        rows.pop()
    check = checker.check_with_nul if "\x00" in text else checker.check
    checker.fault = None
    checked = [check(line, cells) for line, cells in enumerate(rows[skip:], start=skip + 1)]
    return ChunkResult(
        records=len(rows), clean=clean, checked=marshal.dumps([c for c in checked if c]), fault=checker.fault
    )


# ------------------------------------------------------- worker process side
_checker: RowChecker | None = None
_dialect: tuple[str, str] = ("utf-8", ",")


def start_worker(rules: RowRules, encoding: str = "utf-8", delimiter: str = ",") -> None:
    """Pool initializer: one checker (and its caches) per worker process.

    The cyclic garbage collector is switched off: a worker makes millions of short-lived
    tuples and no cycles, and the collector's passes over them cost more than the checks.
    Ctrl-C reaches the whole process group: the workers ignore it, and the importing process
    stops them and rolls the import back."""
    global _checker, _dialect
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    gc.disable()
    csv.field_size_limit(sources.PARSE_LIMIT)
    _checker = RowChecker(rules)
    _dialect = (encoding, delimiter)


def check_rows_in_worker(rows: Sequence[Row]) -> tuple[bytes, tuple[int, str] | None]:
    """The batch's checked rows, marshalled, and its quoting fault (lines as in ``rows``)."""
    assert _checker is not None, "start_worker was not called"
    _checker.fault = None
    checked = marshal.dumps([c for c in _checker.check_batch(rows) if c])
    return checked, _checker.fault


def check_chunk_in_worker(data: bytes, skip: int, final: bool) -> ChunkResult:
    assert _checker is not None, "start_worker was not called"
    return check_chunk(_checker, data, encoding=_dialect[0], delimiter=_dialect[1], skip=skip, final=final)
