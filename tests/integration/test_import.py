"""The loader on the files campaign managers have (tests/data), on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from dialer.domain.campaigns import REGION_SAFE_ZONES, Campaign
from dialer.domain.clock import VirtualClock
from dialer.errors import ImportFileError
from dialer.importer import ImportOptions, ImportReport, import_file, parallel
from dialer.importer import loader as loader_module
from dialer.store.repository import SqlStore

DATA = Path(__file__).resolve().parent.parent / "data"
CampaignFactory = Callable[..., Campaign]


@pytest.fixture
def us_campaign(campaign_factory: CampaignFactory) -> Campaign:
    return campaign_factory(caller_ids=("+12125550100", "+13125550100"))


def run(store: SqlStore, campaign: Campaign, name: str, clock: VirtualClock, **options: Any) -> ImportReport:
    path = options.pop("path", DATA / name)
    return import_file(store, campaign, path, ImportOptions(**options), now=clock.now())


def records(store: SqlStore, campaign: Campaign) -> dict[str, Any]:
    return {r.handle: r for r in store.iter_records(campaign.id)}


def read_rejects(path: Path) -> tuple[list[str], dict[int, list[str]]]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        header, *rows = list(csv.reader(handle))
    return header, {int(r[0]): r for r in rows}


# ------------------------------------------------------------ the seed shape
def test_preview_records_every_row_accounted_for(
    store: SqlStore, us_campaign: Campaign, clock: VirtualClock, tmp_path: Path
) -> None:
    store.add_dnc(["+12125550199"], source="test", now=clock.now())
    rejects = tmp_path / "rejects.csv"
    report = run(store, us_campaign, "preview_records.csv", clock, rejects_path=rejects)

    assert report.rows_read == 22 and report.imported == 11 and report.rejected == 11
    assert report.by_reason == {
        "dnc": 1,
        "duplicate_in_file": 2,
        "invalid_caller_id": 2,
        "invalid_phone": 3,
        "malformed_row": 1,
        "missing_phone": 1,
        "unrecoverable_format": 1,
    }
    assert report.mapping == {
        "recordHandle": "recordHandle",
        "phoneNumber": "phoneNumber",
        "outboundCallerId": "outboundCallerId",
    }
    header, by_line = read_rejects(rejects)
    source_header = "recordHandle,phoneNumber,outboundCallerId,first_name,last_name,account,signup_date,notes"
    assert header == ["line", "reason", "message", *source_header.split(",")]
    # Spreadsheet lines: PR-1002's notes hold a newline but it is one row, so PR-1006 is line 7;
    # the blank line 16 is a line too.
    assert {line: row[1] for line, row in by_line.items()} == {
        7: "missing_phone",
        8: "invalid_phone",
        9: "invalid_phone",
        10: "invalid_phone",
        11: "unrecoverable_format",
        12: "invalid_caller_id",
        13: "invalid_caller_id",
        14: "duplicate_in_file",
        15: "duplicate_in_file",
        17: "malformed_row",
        23: "dnc",
    }
    assert by_line[8][2] == "'555-0199' is not a valid US number (a local number without its area code)"
    assert by_line[10][2] == "'CALL ME' contains letters, not only digits"
    assert "digits are lost" in by_line[11][2] or "last digits are lost" in by_line[11][2]
    assert by_line[12][2].startswith("caller ID '+19995550100'")
    assert by_line[17][3:] == ["PR-1015", "(212) 555-0153", "", "Too", "Many", "000137", "", "notes", "EXTRA"]

    got = records(store, us_campaign)
    assert got["PR-1001"].phone == "+12125550143" and got["PR-1001"].caller_id is None
    assert dict(got["PR-1001"].user_data) == {
        "first_name": "Zoë",
        "last_name": "Ångström",
        "account": "000123",
        "signup_date": "2024-03-01",
        "notes": "=SUM(A1:A2)",
    }
    assert list(got["PR-1001"].user_data) == ["first_name", "last_name", "account", "signup_date", "notes"]
    assert got["PR-1002"].user_data["notes"] == "line one\nline two"
    assert got["PR-1003"].caller_id == "+12125550100"  # (212) 555-0100 is one of the campaign's
    assert got["PR-1005"].phone == "+16025550106" and got["PR-1005"].user_data["extension"] == "204"
    assert got["PR-1016"].phone == "+12125550154"  # every digit survived the scientific notation
    assert got["PR-1017"].phone == "+12125550155"
    assert got["PR-1022"].user_data["account"] == "   padded   "
    assert got["PR-1022"].user_data["notes"] == "  kept as is  "
    # Zones: from the number; two candidates for Alaska; the country's safe set for toll-free.
    assert (got["PR-1001"].timezone, got["PR-1001"].tz_source) == ("America/New_York", "number")
    assert got["PR-1018"].timezone == "Europe/London"
    assert got["PR-1020"].timezone is None and got["PR-1020"].tz_source == "safe"
    assert set(got["PR-1020"].zones) == {"America/Adak", "America/Anchorage"}
    assert got["PR-1019"].zones == REGION_SAFE_ZONES["US"] and "Pacific/Guam" not in got["PR-1019"].zones

    (summary,) = store.imports(us_campaign.id)
    assert summary.rejected == 11 and summary.by_reason == report.by_reason and summary.sha256
    stored = store.import_rejects(summary.id)
    assert [r.line for r in stored] == sorted(by_line)
    assert stored[0].raw == ("PR-1006", "", "", "Nobody", "Here", "000128", "", "no number at all")


def test_reimporting_is_idempotent_and_update_replaces_data(
    store: SqlStore, us_campaign: Campaign, clock: VirtualClock, tmp_path: Path
) -> None:
    first = run(store, us_campaign, "preview_records.csv", clock)
    before = {h: (r.phone, dict(r.user_data)) for h, r in records(store, us_campaign).items()}
    again = run(store, us_campaign, "preview_records.csv", clock)
    assert again.imported == 0 and again.skipped_duplicates == first.imported
    assert again.by_reason == first.by_reason and again.previous_import == first.import_id
    assert {h: (r.phone, dict(r.user_data)) for h, r in records(store, us_campaign).items()} == before

    changed = tmp_path / "changed.csv"
    changed.write_text(
        "recordHandle,phoneNumber,first_name\n"
        "PR-1001,(212) 555-0143,Zoe (corrected)\n"  # same record, new data
        "PR-9999,(212) 555-0144,Someone Else\n"  # a new handle with PR-1002's phone
        "PR-1003,(212) 555-0157,Chloe\n",  # the record's new number
        encoding="utf-8",
    )
    updated = run(store, us_campaign, "", clock, path=changed, on_duplicate="update")
    assert (updated.imported, updated.updated, updated.skipped_duplicates) == (0, 2, 1)
    got = records(store, us_campaign)
    assert dict(got["PR-1001"].user_data) == {"first_name": "Zoe (corrected)"}
    assert got["PR-1003"].phone == "+12125550157"
    assert "PR-9999" not in got
    assert len(got) == first.imported


# ------------------------------------------------------------- real sources
def test_genesys_calling_list(store: SqlStore, us_campaign: Campaign, clock: VirtualClock) -> None:
    report = run(store, us_campaign, "genesys_calling_list.csv", clock)
    assert report.file_format == {"format": "csv", "encoding": "utf-8", "delimiter": "pipe"}
    assert report.mapping == {"recordHandle": "record_id", "phoneNumber": "contact_info", "timezone": "tz_dbid"}
    assert report.imported == 5 and report.by_reason == {"invalid_timezone": 1}
    got = records(store, us_campaign)
    assert (got["5001"].timezone, got["5001"].tz_source) == ("America/Chicago", "record")
    assert got["5002"].timezone == "America/Los_Angeles"
    assert got["5003"].timezone is None and set(got["5003"].zones) == {"America/Denver", "America/Phoenix"}
    assert (got["5004"].timezone, got["5004"].tz_source) == ("America/New_York", "number")
    assert got["5006"].phone == "+14165550116" and got["5006"].timezone == "America/New_York"
    assert got["5001"].user_data["balance"] == "1,204.50" and got["5001"].user_data["daily_from"] == "28800"


def test_vicidial_lead_file(store: SqlStore, us_campaign: Campaign, clock: VirtualClock, tmp_path: Path) -> None:
    rejects = tmp_path / "r.csv"
    report = run(store, us_campaign, "vicidial_leads.txt", clock, rejects_path=rejects)
    assert report.file_format["delimiter"] == "tab"
    assert report.mapping == {
        "recordHandle": "vendor_lead_code",
        "phoneNumber": "phone_number",
        "phoneCode": "phone_code",
    }
    assert report.imported == 5 and report.by_reason == {"duplicate_in_file": 1, "invalid_country": 1}
    got = records(store, us_campaign)
    assert got["VL-0001"].phone == "+12125550121" and got["VL-0001"].user_data["postal_code"] == "02134"
    assert got["VL-0002"].phone == "+13125550122"  # phone_code 1 and a number that repeats it
    assert got["VL-0003"].phone == "+442079460123" and got["VL-0003"].timezone == "Europe/London"
    assert got["VL-0004"].phone == "+447911123456"  # UK mobile written with its trunk 0
    assert got["VL-0005"].phone == "+14165550124" and got["VL-0005"].timezone == "America/Toronto"
    assert got["VL-0001"].user_data["country_code"] == "USA"  # address data, not a dialing rule
    _, by_line = read_rejects(rejects)
    assert by_line[7][1] == "invalid_country" and by_line[8][1] == "duplicate_in_file"


def test_excel_csv_from_windows(store: SqlStore, us_campaign: Campaign, clock: VirtualClock, tmp_path: Path) -> None:
    rejects = tmp_path / "r.csv"
    report = run(store, us_campaign, "excel_export_windows.csv", clock, rejects_path=rejects)
    assert report.file_format == {"format": "csv", "encoding": "cp1252", "delimiter": "semicolon"}
    assert report.mapping == {"phoneNumber": "Phone", "outboundCallerId": "Caller ID"}
    assert report.imported == 3 and report.by_reason == {"unrecoverable_format": 2}
    got = {r.phone: r for r in store.iter_records(us_campaign.id)}
    assert got["+12125550131"].user_data == {"Name": "Renée Müller", "Mobile": "", "Notes": "Prefers café hours"}
    assert got["+12125550133"].caller_id == "+12125550100" and got["+12125550133"].user_data["Notes"] == "€ 25 owed"
    assert got["+12125550134"].user_data["Notes"] == "“smart quotes” & – dashes"
    _, by_line = read_rejects(rejects)
    assert sorted(by_line) == [3, 5]  # the blank row 6 is skipped, and still counted


def test_spreadsheet_export_xlsx(store: SqlStore, us_campaign: Campaign, clock: VirtualClock) -> None:
    with pytest.raises(ImportFileError, match=r"no phone column found.*sheet 'Read me'.*--sheet NAME"):
        run(store, us_campaign, "spreadsheet_export.xlsx", clock)
    report = run(store, us_campaign, "spreadsheet_export.xlsx", clock, sheet="Leads (March)")
    assert report.file_format == {"format": "xlsx", "sheet": "Leads (March)"}
    assert report.mapping == {
        "recordHandle": "Contact ID",
        "phoneNumber": "Phone Number",
        "outboundCallerId": "Caller ID",
    }
    assert report.imported == 4 and report.by_reason == {"invalid_phone": 1}
    got = records(store, us_campaign)
    assert got["101"].phone == "+12125550171"  # a number cell, not 2.12555E+09
    assert got["101"].user_data == {
        "Full Name": "Ann Lee",
        "ZIP": "02134",
        "Signed Up": "2024-03-01",
        "VIP": "TRUE",
        "Balance": "12.5",
        "Notes": "",
    }
    assert got["102"].caller_id == "+13125550100" and got["102"].user_data["Signed Up"] == "2024-03-02 14:30:00"
    assert got["103"].phone == "+18144040000" and got["103"].user_data["Notes"] == "=not a formula"
    assert got["104"].user_data["Notes"] == "line one\nline two"


def test_a_file_without_header(store: SqlStore, us_campaign: Campaign, clock: VirtualClock) -> None:
    report = run(store, us_campaign, "no_header.csv", clock, header=False, mapping={"phoneNumber": "1"})
    assert report.imported == 2 and report.by_reason == {"invalid_phone": 1}
    got = {r.phone: r for r in store.iter_records(us_campaign.id)}
    assert got["+12125550141"].user_data == {"column 2": "Ann", "column 3": "000001"}
    # The campaign remembers the mapping for its next import.
    assert store.get_campaign(us_campaign.name).options["mapping"] == {"phoneNumber": "1"}


def test_remembered_mapping_is_used_and_map_wins(
    store: SqlStore, us_campaign: Campaign, clock: VirtualClock, tmp_path: Path
) -> None:
    first = tmp_path / "a.csv"
    first.write_text("Cell,Office,Name\n2125550181,3125550181,Ann\n", encoding="utf-8")
    report = run(store, us_campaign, "", clock, path=first, mapping={"phone": "Office"})
    assert report.mapping == {"phoneNumber": "Office"}
    second = tmp_path / "b.csv"
    second.write_text("Cell,Office,Name\n2125550182,3125550182,Bob\n", encoding="utf-8")
    campaign = store.get_campaign(us_campaign.name)
    assert run(store, campaign, "", clock, path=second).mapping == {"phoneNumber": "Office"}
    third = tmp_path / "c.csv"
    third.write_text("Cell,Office,Name\n2125550183,3125550183,Cy\n", encoding="utf-8")
    assert run(store, campaign, "", clock, path=third, mapping={"phoneNumber": "Cell"}).mapping == {
        "phoneNumber": "Cell"
    }
    assert {r.phone for r in store.iter_records(us_campaign.id)} == {"+13125550181", "+13125550182", "+12125550183"}


def test_caller_id_rules(
    store: SqlStore, campaign_factory: CampaignFactory, clock: VirtualClock, tmp_path: Path
) -> None:
    source = tmp_path / "c.csv"
    source.write_text(
        "phone,caller_id\n2125550191,\n2125550192,(646) 555-0100\n2125550193,+1 646 555 0100\n", encoding="utf-8"
    )
    # No caller IDs on the campaign: any valid caller ID goes; a row without one cannot be dialed.
    open_campaign = campaign_factory(caller_ids=())
    report = run(store, open_campaign, "", clock, path=source)
    assert report.imported == 2 and report.by_reason == {"missing_caller_id": 1}
    assert {r.caller_id for r in store.iter_records(open_campaign.id)} == {"+16465550100"}
    # ... unless the campaign lets the provider pick one.
    random_ok = campaign_factory(caller_ids=(), allow_random_caller_id=True)
    assert run(store, random_ok, "", clock, path=source).imported == 3
    # A file with no caller-ID column for a campaign without caller IDs is refused as a whole.
    no_column = tmp_path / "n.csv"
    no_column.write_text("phone\n2125550194\n", encoding="utf-8")
    with pytest.raises(ImportFileError, match="no caller ID"):
        run(store, open_campaign, "", clock, path=no_column)


def test_country_column_and_region(store: SqlStore, us_campaign: Campaign, clock: VirtualClock, tmp_path: Path) -> None:
    source = tmp_path / "intl.csv"
    source.write_text(
        "id,phone,country\n1,020 7946 0101,GB\n2,01 42 68 53 00,France\n3,(212) 555-0195,\n4,020 7946 0102,Narnia\n",
        encoding="utf-8",
    )
    report = run(store, us_campaign, "", clock, path=source)
    assert report.imported == 3 and report.by_reason == {"invalid_country": 1}
    assert {r.handle: r.phone for r in store.iter_records(us_campaign.id)} == {
        "1": "+442079460101",
        "2": "+33142685300",
        "3": "+12125550195",
    }
    gb = tmp_path / "gb.csv"
    gb.write_text("phone\n020 7946 0103\n", encoding="utf-8")
    assert run(store, us_campaign, "", clock, path=gb, region="gb").imported == 1
    with pytest.raises(ImportFileError, match="--region XX"):
        run(store, us_campaign, "", clock, path=gb, region="XX")


# ------------------------------------------------------------ file problems
@pytest.mark.parametrize(
    ("content", "options", "message"),
    [
        (b"name,notes\nAnn,hi\n", {}, "no phone column found; columns are: name, notes; pass --map phoneNumber=COLUMN"),
        (b"", {}, "is empty"),
        (b"\x00\x01\x02binary\x00", {}, "not a text file"),
        (b"phone\n2125550101\n", {"encoding": "klingon"}, "unknown encoding 'klingon'"),
        ("phone,name\n2125550101,Jos\xe9\n".encode("latin-1"), {"encoding": "utf-8"}, "Pass --encoding cp1252"),
        (b"phone\n2125550101\n", {"mapping": {"phone": "Nope"}}, "the file has no column 'Nope'"),
        (b"phone\n2125550101\n", {"mapping": {"colour": "phone"}}, "unknown field 'colour'"),
        (b"\xd0\xcf\x11\xe0old excel", {}, "Excel 97-2003"),
    ],
)
def test_file_level_problems_change_nothing(
    store: SqlStore,
    us_campaign: Campaign,
    clock: VirtualClock,
    tmp_path: Path,
    content: bytes,
    options: dict[str, Any],
    message: str,
) -> None:
    source = tmp_path / "list.csv"
    source.write_bytes(content)
    rejects = tmp_path / "rejects.csv"
    with pytest.raises(ImportFileError, match=message.replace("(", r"\(").replace(")", r"\)")):
        run(store, us_campaign, "", clock, path=source, rejects_path=rejects, **options)
    assert store.count_records(us_campaign.id) == {} and store.imports(us_campaign.id) == []
    assert not rejects.exists()


def test_an_import_that_fails_midway_leaves_the_campaign_as_it_was(
    store: SqlStore, us_campaign: Campaign, clock: VirtualClock, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run(store, us_campaign, "preview_records.csv", clock)
    before = {h: (r.phone, dict(r.user_data)) for h, r in records(store, us_campaign).items()}
    source = tmp_path / "big.csv"
    source.write_text(
        "handle,phone\n" + "".join(f"B-{i},(212) 555-{i:04d}\n" for i in range(2000, 2600)), encoding="utf-8"
    )
    monkeypatch.setattr(parallel, "BATCH", 100)
    real_settle = loader_module._Run._settle
    calls = []

    def failing(self: Any, *args: Any) -> None:
        calls.append(1)
        if len(calls) == 3:
            raise OSError("disk full")
        real_settle(self, *args)

    monkeypatch.setattr(loader_module._Run, "_settle", failing)
    rejects = tmp_path / "rejects.csv"
    with pytest.raises(OSError, match="disk full"):
        run(store, us_campaign, "", clock, path=source, rejects_path=rejects)
    assert {h: (r.phone, dict(r.user_data)) for h, r in records(store, us_campaign).items()} == before
    assert len(store.imports(us_campaign.id)) == 1 and not rejects.exists()
    assert not list(tmp_path.glob(".rejects.csv*"))


def test_dry_run_stores_nothing(store: SqlStore, us_campaign: Campaign, clock: VirtualClock, tmp_path: Path) -> None:
    rejects = tmp_path / "r.csv"
    report = run(store, us_campaign, "preview_records.csv", clock, dry_run=True, rejects_path=rejects)
    assert report.dry_run and report.import_id is None and report.imported == 12  # no DNC list here
    assert store.count_records(us_campaign.id) == {} and store.imports(us_campaign.id) == []
    assert rejects.exists()  # the rejects are the point of a dry run


# --------------------------------------------------------- parallel reading
def _equivalence_file(path: Path) -> None:
    """Awkward CSV: quoted newlines and delimiters, a stray quote, blank lines, CRLF."""
    lines = ["id,phone,notes,more"]
    for i in range(1, 1500):
        if i % 97 == 0:
            lines.append(f'{i},(212) 555-{i % 10000:04d},"multi\r\nline, with comma",x')
        elif i % 131 == 0:
            lines.append("")
        elif i % 53 == 0:
            lines.append(f"{i},not a number,,")
        elif i % 61 == 0:
            lines.append(f"{i},(212) 555-{(i - 1) % 10000:04d},dup,")
        else:
            lines.append(f"{i},(212) 555-{i % 10000:04d},plain {i},")
    path.write_bytes("\r\n".join(lines).encode("utf-8") + b"\r\n")


@pytest.mark.parametrize("variant", ["plain", "stray_quote", "cr_only", "bom_no_final_newline"])
def test_workers_read_exactly_what_one_process_reads(
    store: SqlStore,
    campaign_factory: CampaignFactory,
    clock: VirtualClock,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    variant: str,
) -> None:
    source = tmp_path / "awkward.csv"
    _equivalence_file(source)
    data = source.read_bytes()
    if variant == "stray_quote":  # a 5'10" in an unquoted field: quote parity is wrong from there on
        source.write_bytes(data.replace(b"plain 700,", b"plain 5'10\" 700,"))
    elif variant == "cr_only":  # line ends of old Macs: no LF to cut at
        source.write_bytes(data.replace(b"\r\n", b"\r"))
    elif variant == "bom_no_final_newline":
        source.write_bytes(b"\xef\xbb\xbf" + data.rstrip(b"\r\n"))
    monkeypatch.setattr(parallel, "CHUNK_BYTES", 2048)  # many chunks, cut mid-record
    fallbacks = []
    real_rows_from = parallel.sources.csv_rows_from

    def counting(*args: Any, **kwargs: Any) -> Any:
        fallbacks.append(kwargs["first_line"])
        return real_rows_from(*args, **kwargs)

    monkeypatch.setattr(parallel.sources, "csv_rows_from", counting)
    reports, seen = [], []
    for workers in (0, 2):
        campaign = campaign_factory(caller_ids=("+12125550100",))
        out = tmp_path / f"rejects-{workers}.csv"
        reports.append(run(store, campaign, "", clock, path=source, workers=workers, rejects_path=out))
        seen.append(sorted((r.handle, r.phone, tuple(r.user_data.items())) for r in store.iter_records(campaign.id)))
    one, two = reports
    assert (one.rows_read, one.imported, one.by_reason) == (two.rows_read, two.imported, two.by_reason)
    assert seen[0] == seen[1]
    assert (tmp_path / "rejects-0.csv").read_bytes() == (tmp_path / "rejects-2.csv").read_bytes()
    assert one.by_reason["duplicate_in_file"] > 0 and one.by_reason["invalid_phone"] > 0
    # With a stray quote the workers' cut is caught and this process reads on from there.
    assert bool(fallbacks) is (variant == "stray_quote") and all(line > 0 for line in fallbacks)


def test_workers_start_safely_from_a_threaded_process(
    store: SqlStore, us_campaign: Campaign, clock: VirtualClock, tmp_path: Path
) -> None:
    """With another thread running (a web server, a progress bar) forking could deadlock: the
    workers come from a fork server instead, with the same result."""
    import threading

    source = tmp_path / "big.csv"
    _equivalence_file(source)
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait, daemon=True)
    thread.start()
    try:
        assert parallel._pool_context().get_start_method() == "forkserver"
        report = run(store, us_campaign, "", clock, path=source, workers=2)
    finally:
        stop.set()
        thread.join()
    assert report.imported > 1000 and report.by_reason["invalid_phone"] > 0


def test_the_summary_is_json(store: SqlStore, us_campaign: Campaign, clock: VirtualClock) -> None:
    report = run(store, us_campaign, "vicidial_leads.txt", clock)
    data = json.loads(json.dumps(report.as_dict()))
    assert data["imported"] == 5 and data["rejected"] == 2 and data["rejected_by_reason"]["invalid_country"] == 1
    assert data["seconds"] >= 0 and data["format"]["delimiter"] == "tab"


# ------------------------------------------------ long fields, quotes, NUL bytes
def _list_with(path: Path, rows: int, extra: dict[int, str]) -> None:
    """``rows`` records; line N (header = 1) replaced by ``extra[N]``."""
    lines = ["handle,phone,note"]
    for i in range(2, rows + 2):
        lines.append(extra.get(i, f"H{i},(212) 555-{i:04d},note {i}"))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


PROSE = "A genuine note, with commas and paragraphs.\n" * 7000  # 308,000 characters, 7,000 lines


@pytest.mark.parametrize("workers", [0, 2])
def test_a_field_over_the_limit_rejects_its_row_not_the_file(
    store: SqlStore,
    campaign_factory: CampaignFactory,
    clock: VirtualClock,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    workers: int,
) -> None:
    monkeypatch.setattr(parallel, "CHUNK_BYTES", 4096)  # the long values span many chunks
    source = tmp_path / "list.csv"
    unquoted = "x" * 200_000
    _list_with(source, 3000, {40: f'H40,(212) 555-0040,"{PROSE}"', 2500: f"H2500,(212) 555-2500,{unquoted}"})
    campaign = campaign_factory(caller_ids=("+12125550100",))
    rejects = tmp_path / "rejects.csv"
    report = run(store, campaign, "", clock, path=source, workers=workers, rejects_path=rejects)
    assert report.rows_read == 3000 and report.imported == 2998 and report.by_reason == {"field_too_long": 2}
    _, rejected = read_rejects(rejects)
    assert sorted(rejected) == [40, 2500]
    assert rejected[40][1] == "field_too_long" and "column 'note' is 308,000 characters" in rejected[40][2]
    assert "--max-field-chars 308000" in rejected[40][2]
    assert rejected[40][-1] == PROSE and rejected[2500][-1] == unquoted  # nothing lost: the row as read
    got = records(store, campaign)
    assert "H40" not in got and "H2500" not in got and got["H41"].user_data == {"note": "note 41"}
    # Raised, the limit lets the genuine values in, exactly as written.
    roomy = campaign_factory(caller_ids=("+12125550100",))
    report = run(store, roomy, "", clock, path=source, workers=workers, max_field_chars=400_000)
    assert report.imported == 3000 and report.by_reason == {}
    got = records(store, roomy)
    assert got["H40"].user_data["note"] == PROSE and got["H2500"].user_data["note"] == unquoted


@pytest.mark.parametrize("workers", [0, 2])
@pytest.mark.parametrize("closed", [False, True], ids=["never_closed", "closed_by_a_later_quote"])
def test_a_quote_that_swallows_records_refuses_the_file_naming_its_line(
    store: SqlStore,
    campaign_factory: CampaignFactory,
    clock: VirtualClock,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    workers: int,
    closed: bool,
) -> None:
    """A quote opened on line 1,200 and never closed (or closed only by a stray quote 6,000
    lines later) is not a long field: the lines after it are records, swallowed."""
    monkeypatch.setattr(parallel, "CHUNK_BYTES", 4096)
    source = tmp_path / "list.csv"
    extra = {1200: 'H1200,(212) 555-1200,"said he would call back'}
    if closed:
        extra[7200] = 'H7200,(212) 555-7200,she said "yes'
    _list_with(source, 9000, extra)
    campaign = campaign_factory(caller_ids=("+12125550100",))
    rejects = tmp_path / "rejects.csv"
    with pytest.raises(ImportFileError, match=r"^list\.csv line 1200: ") as e:
        run(store, campaign, "", clock, path=source, workers=workers, rejects_path=rejects)
    if closed:
        assert "runs over 6,000 lines that look like records" in str(e.value) and "Fix the quoting" in str(e.value)
    else:
        assert "never closed" in str(e.value) and "Close the quote on line 1200" in str(e.value)
    assert store.count_records(campaign.id) == {} and store.imports(campaign.id) == [] and not rejects.exists()


def test_an_unclosed_quote_on_the_last_line_swallows_nothing(
    store: SqlStore, us_campaign: Campaign, clock: VirtualClock, tmp_path: Path
) -> None:
    source = tmp_path / "list.csv"
    source.write_text('handle,phone,note\nA1,(212) 555-0101,ok\nA2,(212) 555-0102,"the end', encoding="utf-8")
    report = run(store, us_campaign, "", clock, path=source)
    assert report.imported == 2 and records(store, us_campaign)["A2"].user_data == {"note": "the end"}


@pytest.mark.parametrize("workers", [0, 2])
def test_nul_bytes_reject_their_row_near_the_start_and_deep_in_the_file(
    store: SqlStore,
    campaign_factory: CampaignFactory,
    clock: VirtualClock,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    workers: int,
) -> None:
    monkeypatch.setattr(parallel, "CHUNK_BYTES", 4096)
    source = tmp_path / "list.csv"
    _list_with(source, 9000, {3: "H3,(212) 555-0003,no\x00te", 8500: "H8500,(212) 555-8500,\x00"})
    campaign = campaign_factory(caller_ids=("+12125550100",))
    rejects = tmp_path / "rejects.csv"
    report = run(store, campaign, "", clock, path=source, workers=workers, rejects_path=rejects)
    assert report.imported == 8998 and report.by_reason == {"nul_byte": 2}
    _, rejected = read_rejects(rejects)
    assert sorted(rejected) == [3, 8500]
    assert all(r[1] == "nul_byte" and "column 'note' holds a NUL byte" in r[2] for r in rejected.values())
    assert rejected[3][-1] == "no\x00te"  # the row as read
    assert not any("\x00" in v for r in store.iter_records(campaign.id) for v in r.user_data.values())
    (imported,) = store.imports(campaign.id)
    assert [(r.line, r.reason) for r in store.import_rejects(imported.id)] == [(3, "nul_byte"), (8500, "nul_byte")]
