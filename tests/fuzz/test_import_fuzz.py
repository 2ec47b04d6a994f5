"""Fuzzing the importer: whatever the file, `import_file` either imports it — every row
imported, updated, skipped as already there, or rejected with its line and a reason — or
refuses it as a whole with :class:`ImportFileError` and changes nothing. Never a traceback.

Inputs: random bytes; CSV built from awkward parts (mixed delimiters, CR-only / CRLF / LF
line ends, BOMs, NULs, quotes, giant fields, truncated UTF-8, UTF-16); 10,000 columns; and
XLSX garbage (random bytes named .xlsx, real workbooks cut short or with bytes flipped, and
workbooks with hostile cell values). Examples are bounded (see tests/fuzz/conftest.py).
"""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from openpyxl import Workbook

from dialer.domain.campaigns import Campaign, CampaignSpec
from dialer.errors import DialerError, ImportFileError
from dialer.importer import ImportOptions, import_file
from dialer.store.repository import SqlStore
from tests.conftest import T0


@dataclass
class Target:
    store: SqlStore
    campaign: Campaign
    folder: Path
    runs: int = 0

    def snapshot(self) -> tuple[object, ...]:
        imports = self.store.imports(self.campaign.id, limit=10_000)
        return (
            tuple(sorted(self.store.count_records(self.campaign.id).items())),
            len(imports),
            self.store.dnc_count(),
        )

    def check(self, data: bytes, *, suffix: str = ".csv", **options: object) -> None:
        """Import ``data``; assert the import's contract whatever happens."""
        self.runs += 1
        path = self.folder / f"input-{self.runs}{suffix}"
        path.write_bytes(data)
        rejects = self.folder / f"rejects-{self.runs}.csv"
        before = self.snapshot()
        try:
            report = import_file(
                self.store,
                self.campaign,
                path,
                ImportOptions(rejects_path=rejects, workers=0, **options),  # type: ignore[arg-type]
                now=T0,
            )
        except ImportFileError as exc:
            assert exc.message.strip(), "a refusal says why"
            assert self.snapshot() == before, "a refused file changes nothing"
            assert not rejects.exists(), "no rejects file from a refused import"
            return
        except DialerError as exc:  # pragma: no cover - a failure of the test's own store
            pytest.fail(f"the import failed with {type(exc).__name__}, not ImportFileError: {exc}")
        accounted = report.imported + report.updated + report.skipped_duplicates + report.rejected
        assert accounted == report.rows_read, report.as_dict()
        assert report.rejected == sum(report.by_reason.values())
        after = dict(self.store.count_records(self.campaign.id))
        assert sum(after.values()) - sum(dict(before[0]).values()) == report.imported  # type: ignore[arg-type]
        with rejects.open(encoding="utf-8-sig", newline="") as handle:
            rows = list(csv.reader(handle))
        assert rows[0][:3] == ["line", "reason", "message"]
        lines = [int(r[0]) for r in rows[1:]]
        assert len(lines) == report.rejected
        assert all(line >= 1 for line in lines) and len(set(lines)) == len(lines)
        assert all(r[1].strip() and r[2].strip() for r in rows[1:]), "every reject has a reason and a message"
        assert report.import_id is not None
        stored = self.store.import_rejects(report.import_id)
        assert sorted(r.line for r in stored) == sorted(lines)


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    folder = tmp_path_factory.mktemp("fuzz-import")
    store = SqlStore.open(f"sqlite:///{folder / 'fuzz.db'}")
    campaign = store.create_campaign(
        CampaignSpec(name="fuzz", flow_id="flow-1", caller_ids=("+12125550100",), agents=2), now=T0
    )
    store.add_dnc(["+12125550111"], source="test", note=None, now=T0)
    yield Target(store=store, campaign=campaign, folder=folder)
    store.close()


# ------------------------------------------------------------------ strategies
HEADERS = ["recordHandle", "phoneNumber", "outboundCallerId", "timezone", "first name", "Phone", "notes", ""]
PHONES = st.sampled_from(
    [
        "+12125550100",
        "(212) 555-0199",
        "212.555.0142",
        "+12125550111",  # on the DNC list
        "+442079460000",
        "0207 946 0000",
        "12125550100",
        "+1 212 555 01",
        "not a number",
        "",
        "+999999999999999999999",
        "２１２５５５０１７７",  # full-width digits
        '=HYPERLINK("tel:+12125550123")',
    ]
)
CELL = st.one_of(
    PHONES,
    st.text(max_size=30),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=12),
    st.sampled_from(['"', '""', '"a,b"', "\x00", "a\x00b", "\r", "\n", "\ufeff", "é", "\u2028", ";", "\t", "|"]),
)
DELIMITER = st.sampled_from([",", ";", "\t", "|"])
ENDING = st.sampled_from(["\n", "\r\n", "\r"])
ENCODING = st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "cp1252", "latin-1"])


@st.composite
def csv_files(draw: st.DrawFn) -> bytes:
    width = draw(st.integers(min_value=1, max_value=8))
    header = draw(st.lists(st.sampled_from(HEADERS), min_size=width, max_size=width))
    if draw(st.booleans()):
        header[draw(st.integers(0, width - 1))] = "phoneNumber"
    rows = draw(st.lists(st.lists(CELL, min_size=0, max_size=width + 2), max_size=12))
    lines = [header, *rows]
    text = ""
    for line in lines:
        delimiter = draw(DELIMITER) if draw(st.integers(0, 9)) == 0 else None  # now and then: mixed
        sep = delimiter or ","
        text += sep.join(_quote(c) if draw(st.booleans()) else c for c in line) + draw(ENDING)
    encoding = draw(ENCODING)
    data = text.encode(encoding, errors="replace")
    if draw(st.integers(0, 4)) == 0:  # cut anywhere: truncated UTF-8 sequences, half a quote
        data = data[: draw(st.integers(0, len(data)))]
    return data


def _quote(cell: str) -> str:
    return '"' + cell.replace('"', '""') + '"'


@st.composite
def xlsx_files(draw: st.DrawFn) -> bytes:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["recordHandle", "phoneNumber", "notes"])
    values = st.one_of(
        PHONES,
        st.integers(min_value=-(10**20), max_value=10**20),
        st.floats(allow_nan=True, allow_infinity=True),
        st.booleans(),
        st.none(),
        st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cc", "Cs")), max_size=20),
        st.sampled_from(["=1/0", "=A1", "=SUM(1,2)", '="+1212"&"5550100"']),
    )
    for row in draw(st.lists(st.lists(values, max_size=4), max_size=8)):
        sheet.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    data = bytearray(buffer.getvalue())
    # Positions are drawn independently of the size: a saved workbook's bytes (its timestamps)
    # differ from run to run, and Hypothesis needs the same draws to mean the same thing.
    damage = draw(st.sampled_from(["none", "truncate", "flip", "strip_member"]))
    if damage == "truncate":
        data = data[: draw(st.integers(0, 1_000_000)) % (len(data) + 1)]
    elif damage == "flip":
        for _ in range(draw(st.integers(1, 8))):
            i = draw(st.integers(0, 1_000_000)) % len(data)
            data[i] = draw(st.integers(0, 255))
    elif damage == "strip_member":
        data = bytearray(
            _without_member(
                bytes(data),
                draw(
                    st.sampled_from(
                        ["xl/workbook.xml", "xl/worksheets/sheet1.xml", "[Content_Types].xml", "xl/styles.xml"]
                    )
                ),
            )
        )
    return bytes(data)


def _without_member(data: bytes, name: str) -> bytes:
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as target:
        for item in source.infolist():
            if item.filename != name:
                target.writestr(item, source.read(item.filename))
    return out.getvalue()


# ----------------------------------------------------------------------- tests
@given(data=st.binary(max_size=2048))
@example(data=b"")
@example(data=b"\xef\xbb\xbf")
@example(data=b"\xff\xfe")
@example(data=b"phoneNumber\r+12125550100\r\xe2\x82")
@example(data=b"\x00\x00\x00")
def test_random_bytes(target: Target, data: bytes) -> None:
    target.check(data)


@given(data=csv_files())
def test_awkward_csv(target: Target, data: bytes) -> None:
    target.check(data)


@given(data=csv_files(), delimiter=DELIMITER, encoding=st.sampled_from(["utf-8", "latin-1", "utf-16"]))
def test_awkward_csv_with_explicit_format(target: Target, data: bytes, delimiter: str, encoding: str) -> None:
    target.check(data, delimiter=delimiter, encoding=encoding)


@given(size=st.integers(min_value=1, max_value=300_000), quoted=st.booleans())
def test_giant_fields(target: Target, size: int, quoted: bool) -> None:
    field = "x" * size
    cell = f'"{field}"' if quoted else field
    target.check(f"phoneNumber,notes\n+12125550177,{cell}\n+12125550178,short\n".encode(), max_field_chars=100_000)


def test_an_unterminated_quote_swallowing_the_file(target: Target) -> None:
    body = "\n".join(f"+1212555{i:04d},note" for i in range(2000, 2300))
    target.check(f'phoneNumber,notes\n+12125550190,"open quote\n{body}\n'.encode())


def test_ten_thousand_columns(target: Target) -> None:
    header = ["phoneNumber", *(f"c{i}" for i in range(9_999))]
    rows = [",".join(["+12125550180", *("v" for _ in range(9_999))]), ",".join(["+12125550181", "short"])]
    target.check((",".join(header) + "\n" + "\n".join(rows) + "\n").encode())


@given(data=st.binary(max_size=2048))
@example(data=b"PK\x03\x04")
@example(data=b"PK\x05\x06" + b"\x00" * 18)
def test_xlsx_random_bytes(target: Target, data: bytes) -> None:
    target.check(data, suffix=".xlsx")


@given(data=xlsx_files())
def test_xlsx_garbage(target: Target, data: bytes) -> None:
    target.check(data, suffix=".xlsx")


def test_the_suite_ran(target: Target) -> None:
    """Guards against a configuration that silently runs no examples."""
    assert target.runs >= 10
