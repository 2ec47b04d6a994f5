"""Reading CSV in every dialect and encoding lists come in, and XLSX."""

from __future__ import annotations

import codecs
from pathlib import Path

import pytest

from dialer.errors import ImportFileError
from dialer.importer import sources

ROWS = "phone,name\r\n2125550101,José Ñúñez\r\n"


def read(path: Path, **options: object) -> tuple[sources.Table, list[tuple[int, list[str]]]]:
    with sources.open_table(path, sources.SourceOptions(**options)) as table:  # type: ignore[arg-type]
        return table, list(table.rows)


@pytest.mark.parametrize(
    ("data", "encoding"),
    [
        (ROWS.encode("utf-8"), "utf-8"),
        (codecs.BOM_UTF8 + ROWS.encode("utf-8"), "utf-8-sig"),
        (ROWS.encode("cp1252"), "cp1252"),
        (ROWS.encode("cp1252") + "“quoted”\r\n".encode("cp1252"), "cp1252"),
        (ROWS.encode("latin-1") + b"\x81\r\n", "latin-1"),  # 0x81 is undefined in Windows-1252
        (codecs.BOM_UTF16_LE + ROWS.encode("utf-16-le"), "utf-16"),  # Excel's "Unicode Text"
    ],
)
def test_encodings_are_detected(tmp_path: Path, data: bytes, encoding: str) -> None:
    path = tmp_path / "list.csv"
    path.write_bytes(data)
    table, rows = read(path)
    assert table.encoding == encoding and table.header == ["phone", "name"]
    assert rows[0] == (2, ["2125550101", "José Ñúñez"])


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
def test_the_delimiter_is_sniffed(tmp_path: Path, delimiter: str) -> None:
    path = tmp_path / "list.txt"
    fields = [["phone", "name", "notes"], ["2125550101", "Ann", "a, b; c | d"], ["2125550102", "Bob", ""]]
    text = "\n".join(delimiter.join(f'"{f}"' if any(d in f for d in ",;\t|") else f for f in row) for row in fields)
    path.write_text(text + "\n", encoding="utf-8")
    table, rows = read(path)
    assert table.delimiter == delimiter and rows[0][1] == ["2125550101", "Ann", "a, b; c | d"]


def test_quoted_newlines_blank_lines_and_trailing_columns(tmp_path: Path) -> None:
    path = tmp_path / "list.csv"
    path.write_text('phone,notes,,\n2125550101,"one\ntwo",,\n\n2125550102,last,,\n', encoding="utf-8", newline="")
    table, rows = read(path)
    assert table.header == ["phone", "notes"]  # trailing empty header cells dropped
    assert rows == [(2, ["2125550101", "one\ntwo", "", ""]), (3, []), (4, ["2125550102", "last", "", ""])]


def test_header_names_are_made_unique(tmp_path: Path) -> None:
    path = tmp_path / "list.csv"
    path.write_text("phone,Notes,,Notes, x \n2125550101,a,b,c,d\n", encoding="utf-8")
    assert read(path)[0].header == ["phone", "Notes", "column 3", "Notes (2)", "x"]


def test_no_header(tmp_path: Path) -> None:
    path = tmp_path / "list.csv"
    path.write_text("2125550101,Ann\n2125550102,Bob\n", encoding="utf-8")
    table, rows = read(path, header=False)
    assert table.header == ["column 1", "column 2"] and table.header_line == 0
    assert rows[0] == (1, ["2125550101", "Ann"])


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("list.csv", b"", "is empty"),
        ("list.csv", b"  \r\n\r\n", "is empty"),
        ("list.csv", b"a,b\x00\x01\x02", "not a text file"),
        ("list.csv", "phone,name\n2125550101,Ann\n".encode("utf-16-le"), "UTF-16 .*--encoding utf-16-le"),
        ("list.csv", "phone,name\n2125550101,Ann\n".encode("utf-16-be"), "UTF-16 .*--encoding utf-16-be"),
        ("old.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "Excel 97-2003"),
        ("fake.xlsx", b"phone\n", "not an Excel workbook"),
        ("broken.xlsx", b"PK\x03\x04broken", "not an XLSX workbook"),
        ("list.ods", b"PKnot really", "cannot be read"),
    ],
)
def test_unreadable_files_name_the_fix(tmp_path: Path, name: str, data: bytes, message: str) -> None:
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(ImportFileError, match=message):
        read(path)


def test_a_wrong_encoding_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "list.csv"
    path.write_bytes(b"phone,name\n2125550101,Ann\n2125550102,Jos\xe9\n")
    with pytest.raises(ImportFileError, match=r"not valid utf-8 .*byte 0xe9.*--encoding cp1252"):
        read(path, encoding="utf-8")


def test_cell_text_is_what_a_spreadsheet_shows() -> None:
    from datetime import date, datetime

    assert sources.cell_text(2125550143.0) == "2125550143"
    assert sources.cell_text(2134, "00000") == "02134"
    assert sources.cell_text(12.5) == "12.5"
    assert sources.cell_text(True) == "TRUE"
    assert sources.cell_text(datetime(2024, 3, 1)) == "2024-03-01"
    assert sources.cell_text(datetime(2024, 3, 1, 9, 5)) == "2024-03-01 09:05:00"
    assert sources.cell_text(date(2024, 3, 1)) == "2024-03-01"
    assert sources.cell_text(None) == ""
