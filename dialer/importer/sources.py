"""Reading the files campaign managers have: CSV in any common dialect and encoding, and XLSX.

:func:`open_table` yields a :class:`Table`: the header, then the rows as (line, cells), where
``line`` is the row number a spreadsheet shows (1-based, the header is line 1; a quoted field
with newlines is one line, a blank line is a line). Cells are the exact strings of the file.

* **Encoding.** A byte-order mark decides (UTF-8, UTF-16); otherwise the whole file is checked
  as UTF-8 in one streaming pass (which also computes its SHA-256), and a file that is not
  UTF-8 is read as Windows-1252 — the encoding of "CSV" saved by Excel on Windows — or as
  Latin-1 when it uses one of the five bytes Windows-1252 leaves undefined. ``encoding``
  overrides the detection.
* **Delimiter.** ``,`` ``;`` tab and ``|`` are tried on the first 64 KiB; the one that splits
  the header into the most columns that the following rows agree with wins.
* **XLSX.** The first sheet (or ``sheet``), streamed. Numbers that are whole become integers
  (``2125550143``, not ``2125550143.0``), zero-padded number formats (``00000``) keep their
  zeros, dates become ISO dates, booleans ``TRUE``/``FALSE`` — what the sheet shows.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path
from typing import Any, BinaryIO

from dialer.errors import ImportFileError

DELIMITERS = (",", ";", "\t", "|")
SAMPLE_CHARS = 64 * 1024
CHUNK = 1 << 20
#: The longest field the CSV parser reads, in characters. A field this long is almost always a
#: quote that is never closed; rows whose fields pass the (lower, configurable) import limit are
#: rejected one by one (:mod:`dialer.importer.rows`), but the parser stops here to bound memory.
PARSE_LIMIT = 64 * 1024 * 1024
#: Appended as a last line of its own when parsing: read back as this lone field only when the
#: text ended outside a quoted field.
SENTINEL = "\x1e"

_BOMS = ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))
_DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}


@dataclass(frozen=True, kw_only=True)
class SourceOptions:
    encoding: str | None = None
    """None: detect."""
    delimiter: str | None = None
    """None: sniff."""
    sheet: str | None = None
    """XLSX sheet; None: the first."""
    header: bool = True
    """False: every line is a record and columns are named ``column 1``, ``column 2``…"""


@dataclass(kw_only=True)
class Table:
    path: Path
    kind: str
    """``csv`` or ``xlsx``."""
    header: list[str]
    rows: Iterator[tuple[int, list[str]]]
    encoding: str | None = None
    delimiter: str | None = None
    sheet: str | None = None
    sheets: tuple[str, ...] = ()
    """Every sheet of an XLSX workbook."""
    sha256: str | None = None
    header_line: int = 0
    """The line of the header (0 without one): lines up to it are not records."""
    data_start: int = 0
    """Bytes before the text (a byte-order mark)."""
    size: int = 0
    """Progress total: bytes for CSV, rows for XLSX."""
    _position: BinaryIO | None = field(default=None, repr=False)
    _rows_done: list[int] = field(default_factory=lambda: [0], repr=False)

    def progress(self) -> int:
        """Progress so far, in the unit of :attr:`size`."""
        if self._position is not None:
            try:
                return self._position.tell()
            except (OSError, ValueError):
                return self.size
        return self._rows_done[0]

    def describe(self) -> dict[str, str | None]:
        if self.kind == "xlsx":
            return {"format": "xlsx", "sheet": self.sheet}
        return {"format": "csv", "encoding": self.encoding, "delimiter": _DELIMITER_NAMES.get(self.delimiter or "")}


@contextmanager
def open_table(path: Path, options: SourceOptions | None = None) -> Iterator[Table]:
    """Open ``path`` as a table; raises :class:`ImportFileError` (naming the fix) if it cannot be read."""
    options = options or SourceOptions()
    try:
        with path.open("rb") as probe:
            head = probe.read(8)
    except OSError as exc:
        raise ImportFileError(f"cannot open {path}: {exc.strerror}. Check the path and permissions.") from exc
    suffix = path.suffix.lower()
    if head.startswith(b"PK\x03\x04") or suffix in (".xlsx", ".xlsm"):
        if not head.startswith(b"PK\x03\x04"):
            raise ImportFileError(f"{path.name} is named .xlsx but is not an Excel workbook. Export it again as XLSX.")
        with _open_xlsx(path, options) as table:
            yield table
        return
    if head.startswith(b"\xd0\xcf\x11\xe0") or suffix == ".xls":
        raise ImportFileError(
            f"{path.name} is an Excel 97-2003 (.xls) workbook, which cannot be read. "
            "Save it as .xlsx or CSV in Excel (File › Save As) and import that."
        )
    if suffix in (".ods", ".numbers"):
        raise ImportFileError(f"{path.name}: {suffix} files cannot be read. Export the sheet as .xlsx or CSV.")
    with _open_csv(path, options) as table:
        yield table


# ---------------------------------------------------------------------- CSV
def detect_encoding(path: Path) -> tuple[str, str]:
    """(encoding, sha256) in one streaming pass over ``path``."""
    digest = hashlib.sha256()
    decoder = codecs.getincrementaldecoder("utf-8")()
    utf8 = True
    cp1252 = True
    bom: str | None = None
    first = True
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
            if first:
                first = False
                bom = next((name for mark, name in _BOMS if chunk.startswith(mark)), None)
                if bom is None:
                    _refuse_binary(path, chunk[:65536])
            if bom is None and utf8:
                try:
                    decoder.decode(chunk)
                except UnicodeDecodeError:
                    utf8 = False
            if bom is None and not utf8 and cp1252:
                try:
                    chunk.decode("cp1252")
                except UnicodeDecodeError:
                    cp1252 = False
    if bom is None and utf8:
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            utf8 = False
    if bom is not None:
        encoding = bom
    elif utf8:
        encoding = "utf-8"
    else:
        encoding = "cp1252" if cp1252 else "latin-1"
    return encoding, digest.hexdigest()


def _refuse_binary(path: Path, head: bytes) -> None:
    """Refuse a file that is not text at all: UTF-16 without its byte-order mark, or a binary
    format (more than one byte in a hundred is NUL). A text file with a stray NUL here and there
    is read, and the rows holding one are rejected with their line (:mod:`dialer.importer.rows`);
    other control characters are data, kept as they are."""
    nuls = head.count(b"\x00")
    if nuls and nuls * 4 > len(head):
        odd = head[1::2].count(b"\x00")
        if odd * 10 >= nuls * 9 or (nuls - odd) * 10 >= nuls * 9:
            order = "le" if odd > nuls - odd else "be"
            raise ImportFileError(
                f"{path.name} looks like UTF-16 text without a byte-order mark (every other byte is NUL). "
                f"Pass --encoding utf-16-{order}, or save it from the spreadsheet as CSV UTF-8."
            )
    if nuls and nuls * 100 > len(head):
        line = head.count(b"\n", 0, head.find(b"\x00")) + 1
        raise ImportFileError(
            f"{path.name} is not a text file: {nuls} of its first {len(head):,} bytes are NUL (the first on line "
            f"{line}). Export the list as CSV or XLSX and import that."
        )


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def sniff_delimiter(sample: str, *, complete: bool) -> str:
    """The delimiter that splits the header into the most columns the next rows agree with."""
    best: tuple[float, int, int] | None = None
    chosen = ","
    for rank, delimiter in enumerate(DELIMITERS):
        try:
            rows = [r for r in csv.reader(io.StringIO(sample), delimiter=delimiter) if any(c.strip() for c in r)]
        except csv.Error:
            continue
        if not complete and len(rows) > 1:
            rows = rows[:-1]  # the sample may end inside the last row
        if not rows or len(rows[0]) < 2:
            continue
        width = len(_trim(rows[0]))
        if width < 2:
            continue
        agreeing = sum(1 for r in rows[1:] if len(_trim(r)) == width or len(r) == len(rows[0]))
        score = (agreeing / max(len(rows) - 1, 1), width, -rank)
        if best is None or score > best:
            best, chosen = score, delimiter
    return chosen


def _trim(row: list[str]) -> list[str]:
    """``row`` without trailing empty cells (spreadsheets pad rows with them)."""
    end = len(row)
    while end > 0 and not row[end - 1].strip():
        end -= 1
    return row[:end]


def _check_encoding(path: Path, encoding: str) -> str:
    try:
        return codecs.lookup(encoding).name
    except LookupError:
        raise ImportFileError(
            f"unknown encoding {encoding!r}. Use utf-8, utf-8-sig, cp1252, latin-1 or utf-16 "
            f"(or whatever `file {path.name}` reports)."
        ) from None


@contextmanager
def _open_csv(path: Path, options: SourceOptions) -> Iterator[Table]:
    if options.encoding:
        encoding = _check_encoding(path, options.encoding)
        sha = _file_sha256(path)
    else:
        encoding, sha = detect_encoding(path)
    if options.delimiter is not None and options.delimiter not in DELIMITERS and len(options.delimiter) != 1:
        raise ImportFileError(f"--delimiter {options.delimiter!r} must be one character, e.g. ';' or '\\t'")
    binary = path.open("rb")
    try:
        text = io.TextIOWrapper(binary, encoding=encoding, newline="", errors="strict")
        try:
            sample = text.read(SAMPLE_CHARS)
            complete = len(sample) < SAMPLE_CHARS
            text.seek(0)
        except UnicodeError as exc:  # UnicodeDecodeError, or a UTF-16 stream with no BOM
            raise unicode_failure(path, encoding, exc, line=None) from exc
        if not sample.strip():
            raise ImportFileError(f"{path.name} is empty; it needs a header row and at least one record")
        delimiter = options.delimiter or sniff_delimiter(sample, complete=complete)
        header, rows, header_line = _header(path, _csv_rows(path, text, delimiter, encoding), options)
        with path.open("rb") as probe:
            bom = 3 if encoding == "utf-8-sig" and probe.read(3) == codecs.BOM_UTF8 else 0
        yield Table(
            path=path,
            kind="csv",
            header=header,
            rows=rows,
            encoding=encoding,
            delimiter=delimiter,
            sha256=sha,
            header_line=header_line,
            data_start=bom,
            size=path.stat().st_size,
            _position=binary,
        )
    finally:
        binary.close()


def _csv_rows(
    path: Path, text: Iterator[str], delimiter: str, encoding: str, first_line: int = 0
) -> Iterator[tuple[int, list[str]]]:
    """The records of ``text``, numbered from ``first_line + 1``.

    A sentinel line is parsed after the text: read back as itself, the text ended outside a
    quoted field. Swallowed into the last record, a quote opened there was never closed: a
    value that runs over further lines to the end of the file swallowed them (a quoting
    fault, refused with the line); one on the last line alone is read as it is.
    """
    csv.field_size_limit(PARSE_LIMIT)
    reader = csv.reader(itertools.chain(text, (SENTINEL + "\n",)), delimiter=delimiter, strict=False)
    line = first_line
    pending: list[str] | None = None
    try:
        for row in reader:
            if pending is not None:
                yield line, pending
            line += 1
            pending = row
    except UnicodeError as exc:
        raise unicode_failure(path, encoding, exc, line=line + 1) from exc
    except csv.Error as exc:
        if "field limit" in str(exc):
            raise ImportFileError(
                f"{path.name} line {line + 1}: a value runs past {PARSE_LIMIT:,} characters, the most the importer "
                "reads: a quote opened on that line is most likely never closed. Fix the quoting on that line "
                '(a quote inside a value is written twice: ""); a genuine value that long must be shortened.'
            ) from exc
        raise ImportFileError(f"{path.name} line {line + 1}: {exc}. Fix the quoting on that line.") from exc
    if pending is None or pending == [SENTINEL]:
        return
    # The sentinel was swallowed: the last record's quoted value runs to the end of the file.
    value = pending[-1]
    cut = value.rfind(SENTINEL)
    pending[-1] = value[:cut] if cut >= 0 else value
    inner = pending[-1].count("\n") + (pending[-1].count("\r") if "\n" not in pending[-1] else 0)
    if inner:
        raise ImportFileError(
            f"{path.name} line {line}: a quoted value opens on that line and is never closed, so it runs over the "
            f"{inner:,} lines after it to the end of the file. Close the quote on line {line} "
            '(a quote inside a value is written twice: "").'
        )
    yield line, pending


@contextmanager
def csv_rows_from(
    path: Path, *, offset: int, encoding: str, delimiter: str, first_line: int
) -> Iterator[Iterator[tuple[int, list[str]]]]:
    """Rows of ``path`` from byte ``offset`` (the start of a record), numbered after ``first_line``."""
    text = io.TextIOWrapper(path.open("rb"), encoding=encoding, newline="", errors="strict")
    try:
        text.buffer.seek(offset)
        yield _csv_rows(path, text, delimiter, encoding, first_line)
    finally:
        text.close()


def unicode_failure(path: Path, encoding: str, exc: UnicodeError, *, line: int | None) -> ImportFileError:
    """The refusal for a file that does not decode as ``encoding``."""
    if isinstance(exc, UnicodeDecodeError):
        byte = exc.object[exc.start : exc.start + 1].hex() if isinstance(exc.object, bytes) else "?"
        return decode_error(path, encoding, byte, line=line)
    if codecs.lookup(encoding).name == "utf-16":  # the plain codec needs a byte-order mark to know the order
        return ImportFileError(
            f"{path.name} has no UTF-16 byte-order mark, so its byte order is unknown. Pass --encoding utf-16-le "
            "(Windows) or --encoding utf-16-be, or leave --encoding out to detect it."
        )
    return ImportFileError(
        f"{path.name} cannot be decoded as {encoding} ({exc}). Pass the file's real encoding with --encoding, or "
        "leave --encoding out to detect it."
    )


def decode_error(path: Path, encoding: str, byte: str, *, line: int | None) -> ImportFileError:
    where = f" near line {line}" if line else ""
    alternative = "cp1252" if codecs.lookup(encoding).name.startswith("utf") else "utf-8"
    return ImportFileError(
        f"{path.name} is not valid {encoding}{where} (byte 0x{byte}). "
        f"Pass --encoding {alternative} or --encoding latin-1 (or whatever `file {path.name}` reports), "
        "or leave --encoding out to detect it."
    )


def _header(
    path: Path, rows: Iterator[tuple[int, list[str]]], options: SourceOptions
) -> tuple[list[str], Iterator[tuple[int, list[str]]], int]:
    """(column names, the rows after the header, the header's line): the first non-blank row
    names the columns, or, with ``header=False``, they are ``column 1``, ``column 2``… and
    every row is a record."""
    if not options.header:
        first = next(rows, None)
        if first is None:
            raise ImportFileError(f"{path.name} is empty; it needs at least one record")
        return [f"column {i}" for i in range(1, len(_trim(first[1])) + 1)], itertools.chain([first], rows), 0
    for line, row in rows:
        if any(cell.strip() for cell in row):
            return name_columns(row), rows, line
    raise ImportFileError(f"{path.name} is empty; it needs a header row and at least one record")


def name_columns(row: list[str]) -> list[str]:
    """Header cells as column names: trimmed; trailing empty ones dropped; blank or repeated
    names made unique (``column 5``, ``Phone (2)``) so every user-data key is distinct."""
    names = [cell.strip() for cell in _trim(row)]
    seen: dict[str, int] = {}
    result = []
    for i, name in enumerate(names, start=1):
        name = name or f"column {i}"
        if name in seen:
            seen[name] += 1
            name = f"{name} ({seen[name]})"
        else:
            seen[name] = 1
        result.append(name)
    return result


# --------------------------------------------------------------------- XLSX
@contextmanager
def _open_xlsx(path: Path, options: SourceOptions) -> Iterator[Table]:
    import openpyxl
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except (InvalidFileException, KeyError, OSError, ValueError) as exc:
        raise ImportFileError(f"{path.name} is not a readable XLSX workbook ({exc}). Export it again as XLSX.") from exc
    except Exception as exc:  # zipfile.BadZipFile and friends: a damaged file
        raise ImportFileError(f"{path.name} is damaged or not an XLSX workbook ({exc}). Export it again.") from exc
    try:
        names = book.sheetnames
        sheet: Any
        if options.sheet is not None:
            if options.sheet not in names:
                raise ImportFileError(
                    f"{path.name} has no sheet {options.sheet!r}; sheets are: {', '.join(names)}. Pass --sheet NAME."
                )
            sheet = book[options.sheet]
        elif book.worksheets:
            sheet = book.worksheets[0]
        else:
            raise ImportFileError(f"{path.name} has no worksheet (only charts, or none). Put the records on a sheet.")
        done = [0]
        header, rows, header_line = _header(path, _xlsx_rows(path, sheet, done), options)
        yield Table(
            path=path,
            kind="xlsx",
            header=header,
            rows=rows,
            sheet=sheet.title,
            sheets=tuple(names),
            sha256=_file_sha256(path),
            header_line=header_line,
            size=_max_row(sheet),
            _rows_done=done,
        )
    finally:
        book.close()


def _max_row(sheet: Any) -> int:
    """The sheet's row count as its dimension says (progress only; 0 when unknown or damaged)."""
    try:
        return int(sheet.max_row or 0)
    except Exception:  # a damaged dimension element: progress is shown without a total
        return 0


def _xlsx_rows(path: Path, sheet: object, done: list[int]) -> Iterator[tuple[int, list[str]]]:
    """The sheet's rows. A read-only workbook is parsed as it is read, so damage inside the
    sheet (a cut or corrupted archive member, broken XML) shows up here, not when it opens."""
    rows = sheet.iter_rows(min_row=1, min_col=1)  # type: ignore[attr-defined]
    line = 0
    while True:
        try:
            row = next(rows)
            cells = [cell_text(c.value, getattr(c, "number_format", None)) for c in row]
        except StopIteration:
            return
        except Exception as exc:  # zipfile, zlib, XML and openpyxl errors alike: the file is damaged
            raise ImportFileError(
                f"{path.name} is damaged after row {line} ({type(exc).__name__}: {exc}); nothing was imported. "
                "Open it in a spreadsheet program and save it again as XLSX."
            ) from exc
        line += 1
        done[0] = line
        yield line, cells


def cell_text(value: object, number_format: str | None = None) -> str:
    """A cell as the text a spreadsheet shows for it (for the formats that matter in lists)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return _zero_pad(str(value), number_format)
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 2**53:
            return _zero_pad(str(int(value)), number_format)
        return repr(value)
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == time(0) else value.isoformat(sep=" ")
    if isinstance(value, date | time):
        return value.isoformat()
    return str(value)


def _zero_pad(digits: str, number_format: str | None) -> str:
    if number_format and number_format.strip("0") == "" and not digits.startswith("-"):
        return digits.zfill(len(number_format))
    return digits
