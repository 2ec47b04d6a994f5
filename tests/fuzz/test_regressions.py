"""Bugs the fuzz suites found, each pinned by the input that showed it."""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path

import pytest
from openpyxl import Workbook
from starlette.testclient import TestClient

from dialer.domain.campaigns import CampaignSpec
from dialer.errors import ImportFileError, StoreError
from dialer.importer import ImportOptions, import_file
from dialer.store.repository import SqlStore
from dialer.telephony.twilio_voice import CALLBACK_PATHS, sign
from dialer.web.twilio_callbacks import create_app as create_receiver
from tests.conftest import T0


def _import(store: SqlStore, tmp_path: Path, data: bytes, **options: object) -> None:
    campaign = store.create_campaign(
        CampaignSpec(name=f"c{len(store.list_campaigns())}", flow_id="f", caller_ids=("+12125550100",), agents=1),
        now=T0,
    )
    path = tmp_path / "input.csv"
    path.write_bytes(data)
    import_file(store, campaign, path, ImportOptions(workers=0, **options), now=T0)  # type: ignore[arg-type]


def test_utf16_without_a_byte_order_mark_is_refused_with_the_fix(sqlite_store: SqlStore, tmp_path: Path) -> None:
    """Was: UnicodeError "UTF-16 stream does not start with BOM" escaped as a traceback."""
    with pytest.raises(ImportFileError, match="--encoding utf-16-le"):
        _import(sqlite_store, tmp_path, b"recordHandle\n", encoding="utf-16")
    _import(sqlite_store, tmp_path, "phoneNumber\n+12125550100\n".encode("utf-16-le"), encoding="utf-16-le")


def test_a_workbook_without_worksheets_is_refused(sqlite_store: SqlStore, tmp_path: Path) -> None:
    """Was: IndexError from ``book.worksheets[0]`` (a workbook whose sheet member is gone)."""
    source = io.BytesIO()
    book = Workbook()
    book.active.append(["phoneNumber"])  # type: ignore[union-attr]
    book.save(source)
    path = tmp_path / "no-sheet.xlsx"
    _rewrite(source.getvalue(), path, drop="xl/workbook.xml", edit=None)
    with pytest.raises(ImportFileError):
        _import_path(sqlite_store, path)
    # The workbook part lists no sheet at all:
    _rewrite(source.getvalue(), path, drop=None, edit=("xl/workbook.xml", rb"<sheets>.*</sheets>", b"<sheets/>"))
    with pytest.raises(ImportFileError, match="has no worksheet"):
        _import_path(sqlite_store, path)


def test_damage_inside_a_sheet_is_refused_and_changes_nothing(sqlite_store: SqlStore, tmp_path: Path) -> None:
    """Was: a sheet whose XML is cut short raised a raw parser error while rows were read."""
    source = io.BytesIO()
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["phoneNumber"])
    for i in range(50):
        sheet.append([f"+1212555{i:04d}"])
    book.save(source)
    path = tmp_path / "cut.xlsx"
    cut = zipfile.ZipFile(io.BytesIO(source.getvalue())).read("xl/worksheets/sheet1.xml")[:1500]
    _rewrite(source.getvalue(), path, drop=None, edit=("xl/worksheets/sheet1.xml", rb"(?s).*", cut))
    with pytest.raises(ImportFileError, match="damaged after row"):
        _import_path(sqlite_store, path)
    campaign = sqlite_store.list_campaigns()[-1]
    assert sqlite_store.count_records(campaign.id) == {} and sqlite_store.imports(campaign.id) == []


def _import_path(store: SqlStore, path: Path) -> None:
    campaign = store.create_campaign(
        CampaignSpec(name=f"c{len(store.list_campaigns())}", flow_id="f", caller_ids=("+12125550100",), agents=1),
        now=T0,
    )
    import_file(store, campaign, path, ImportOptions(workers=0), now=T0)


def _rewrite(data: bytes, path: Path, *, drop: str | None, edit: tuple[str, bytes, bytes] | None) -> None:
    source = zipfile.ZipFile(io.BytesIO(data))
    with zipfile.ZipFile(path, "w") as target:
        for item in source.infolist():
            if item.filename == drop:
                continue
            body = source.read(item.filename)
            if edit is not None and item.filename == edit[0]:
                body = re.sub(edit[1], lambda m: edit[2], body, count=1)
            target.writestr(item, body)


# ------------------------------------------------------------ Twilio callbacks
PUBLIC = "https://dialer.example.test"


def _receiver(store: SqlStore) -> TestClient:
    app = create_receiver(store=store, auth_token="tok", public_base_url=PUBLIC, now=lambda: T0)
    return TestClient(app, base_url=PUBLIC, raise_server_exceptions=False)


def _post(client: TestClient, kind: str, form: dict[str, str]) -> int:
    url = PUBLIC + CALLBACK_PATHS[kind]
    return client.post(url, data=form, headers={"X-Twilio-Signature": sign("tok", url, form)}).status_code


@pytest.mark.parametrize("sequence", ["²", "١٢", "9" * 30])
def test_a_sequence_number_that_is_not_a_small_integer_is_refused(store: SqlStore, sequence: str) -> None:
    """Was: 500 — int("²") raised ValueError; thirty nines overflowed the integer column."""
    with _receiver(store) as client:
        assert _post(client, "status", {"CallSid": "CA1", "SequenceNumber": sequence}) == 400
        assert _post(client, "status", {"CallSid": "CA1", "SequenceNumber": "3"}) == 204
    assert [seq for _, seq, _ in store.provider_events_for(["CA1"])["CA1"]] == [3]


@pytest.mark.parametrize("kind", ["status", "amd", "queue"])
def test_a_nul_character_in_a_callback_is_refused(store: SqlStore, kind: str) -> None:
    """Was: 500 on PostgreSQL, whose JSON cannot hold U+0000."""
    with _receiver(store) as client:
        assert _post(client, kind, {"CallSid": "CA2", "AnsweredBy": "human\x00"}) == 400
    assert store.provider_events_for(["CA2"]) == {}


def test_a_store_failure_answers_503(sqlite_store: SqlStore, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(**kwargs: object) -> bool:
        raise StoreError("the database failed: disk I/O error")

    monkeypatch.setattr(sqlite_store, "add_provider_event", broken)
    with _receiver(sqlite_store) as client:
        assert _post(client, "status", {"CallSid": "CA3", "SequenceNumber": "1"}) == 503
