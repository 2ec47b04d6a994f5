"""Bugs the fuzz suites found, each pinned by the input that showed it."""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path

import pytest
from openpyxl import Workbook

from dialer.domain.campaigns import CampaignSpec
from dialer.errors import ImportFileError
from dialer.importer import ImportOptions, import_file
from dialer.store.repository import SqlStore
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
