"""User data goes in exactly as written and comes out of the report exactly the same.

A CSV full of awkward values is imported, then the campaign is exported to XLSX and to CSV,
and both are re-read: the Records sheet straight from its XML (openpyxl leaves some of
OOXML's ``_xHHHH_`` escapes in place), the CSV with the csv module.
"""

from __future__ import annotations

import csv
import random
import re
import zipfile
from collections.abc import Callable
from pathlib import Path
from xml.etree import ElementTree

from dialer.domain.campaigns import Campaign
from dialer.domain.clock import VirtualClock
from dialer.importer import ImportOptions, import_file
from dialer.reports.export import export
from dialer.reports.safety import csv_text
from dialer.reports.sheets import RECORD_COLUMNS as RECORD_COLUMN_SPECS
from dialer.store.repository import SqlStore

RECORD_COLUMNS = [column.name for column in RECORD_COLUMN_SPECS]
NS = {"m": "http://schemas.openxmlformats.org/spreadsheetml/2006/main"}
REL = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}id"

AWKWARD = [
    "000123",
    "00000",
    "2024-03-01",
    "03/01/2024",
    "1/2",
    "1e5",
    "12345678901234567890",
    "=SUM(A1:A2)",
    "+1 means plus one",
    "-2+3",
    "@mention",
    "'quoted",
    '"double" quotes',
    "comma, semicolon; pipe | tab\tend",
    "line one\nline two",
    "crlf\r\ninside",
    "bare\rcarriage",
    "  leading and trailing  ",
    " ",
    "Zoë Ångström Núñez Øre",
    "日本語のテキスト",
    "עברית and العربية",
    "emoji 😀👍🏽",
    "zero\u200bwidth\u200djoin",
    "non\u00a0breaking",
    "_x000D_ looks like an escape",
    "_x005F_ too",
    "control \x01\x07\x1f chars",
    "x" * 5000,
    "TRUE",
    "NULL",
    "None",
    "null",
    "NaN",
    "#N/A",
]


def awkward_values(count: int) -> list[str]:
    rng = random.Random(3)
    alphabet = "aZ09 ,;\"'\n\r\t=+-@éñ€😀\u00a0\x01_x"
    values = list(AWKWARD)
    while len(values) < count:
        values.append("".join(rng.choice(alphabet) for _ in range(rng.randint(1, 30))))
    return values


def read_records_sheet(path: Path) -> list[list[str]]:
    """The Records sheet's cells as text, decoded per OOXML (``_xHHHH_`` escapes included)."""
    with zipfile.ZipFile(path) as book:
        workbook = ElementTree.fromstring(book.read("xl/workbook.xml"))
        rels = ElementTree.fromstring(book.read("xl/_rels/workbook.xml.rels"))
        rid = next(s.get(REL) for s in workbook.iterfind("m:sheets/m:sheet", NS) if s.get("name") == "Records")
        target = next(r.get("Target") for r in rels if r.get("Id") == rid)
        sheet = ElementTree.fromstring(book.read("xl/" + str(target).lstrip("/").removeprefix("xl/")))
        # Strings may be shared (sharedStrings.xml) or inline (constant-memory writers).
        shared = (
            [
                "".join(t.text or "" for t in si.iter(f"{{{NS['m']}}}t"))
                for si in ElementTree.fromstring(book.read("xl/sharedStrings.xml"))
            ]
            if "xl/sharedStrings.xml" in book.namelist()
            else []
        )
    rows = []
    for row in sheet.iterfind("m:sheetData/m:row", NS):
        cells: dict[int, str] = {}
        for cell in row.iterfind("m:c", NS):
            column = _column_index(str(cell.get("r")))
            value = cell.find("m:v", NS)
            if cell.get("t") == "s" and value is not None:
                cells[column] = shared[int(str(value.text))]
            elif cell.get("t") == "inlineStr":
                cells[column] = "".join(t.text or "" for t in cell.iter(f"{{{NS['m']}}}t"))
            elif value is not None:
                cells[column] = str(value.text)
        rows.append([_unescape(cells.get(i, "")) for i in range(max(cells, default=-1) + 1)])
    return rows


def _column_index(reference: str) -> int:
    number = 0
    for ch in re.match(r"[A-Z]+", reference).group(0):  # type: ignore[union-attr]
        number = number * 26 + ord(ch) - 64
    return number - 1


def _unescape(text: str) -> str:
    return re.sub(r"_x([0-9A-Fa-f]{4})_", lambda m: chr(int(m.group(1), 16)), text)


def test_user_data_round_trips_byte_exact(
    store: SqlStore, campaign_factory: Callable[..., Campaign], clock: VirtualClock, tmp_path: Path
) -> None:
    campaign = campaign_factory()
    values = awkward_values(300)
    columns = ["account", "notes", "=formula?", "Zoë's column", "record_handle"]  # the last clashes with ours
    source = tmp_path / "awkward.csv"
    expected: dict[str, dict[str, str]] = {}
    with source.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["recordHandle", "phoneNumber", *columns])
        for i in range(len(values)):
            row = [values[(i + k * 7) % len(values)] for k in range(len(columns))]
            handle_name = f"R-{i:04d}"
            writer.writerow([handle_name, f"(212) 555-{1000 + i:04d}", *row])
            expected[handle_name] = dict(zip(columns, row, strict=True))

    report = import_file(store, campaign, source, ImportOptions(), now=clock.now())
    assert report.imported == len(values) and report.rejected == 0

    stored = {r.handle: r.user_data for r in store.iter_records(campaign.id)}
    assert stored == expected
    assert all(list(stored[h]) == columns for h in stored)  # column order kept

    workbook = tmp_path / "report.xlsx"
    export(store, campaign, workbook, now=clock.now())
    header, *rows = read_records_sheet(workbook)
    assert header == [*RECORD_COLUMNS, *columns]
    from_sheet = {row[0]: dict(zip(columns, row[len(RECORD_COLUMNS) :], strict=False)) for row in rows}
    for handle_name, data in expected.items():
        got = from_sheet[handle_name]
        assert {k: got.get(k, "") for k in columns} == data, handle_name

    # CSV has no cell types: formula-led text carries OWASP's "'" prefix (reports/safety.py);
    # every other value keeps its bytes.
    sheet_csv = tmp_path / "records.csv"
    export(store, campaign, sheet_csv, now=clock.now(), sheet="records")
    with sheet_csv.open(encoding="utf-8-sig", newline="") as handle:
        csv_header, *csv_rows = list(csv.reader(handle))
    assert csv_header == [csv_text(name) for name in (*RECORD_COLUMNS, *columns)]
    from_csv = {row[0]: dict(zip(columns, row[len(RECORD_COLUMNS) :], strict=True)) for row in csv_rows}
    assert from_csv == {h: {k: csv_text(v) for k, v in data.items()} for h, data in expected.items()}
