"""Uploads and imports through the web: preview, mapping, import, rejects, limits, failures, DNC."""

from __future__ import annotations

import csv
import html
import io
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from dialer.domain.clock import VirtualClock
from dialer.errors import StoreError
from dialer.store.records import ImportWriter
from tests.webapp import WebApp, add_campaign, login, web_app

DATA = Path(__file__).resolve().parent.parent / "data"
MESSY = DATA / "web_messy_leads.csv"


@pytest.fixture
def web(tmp_path: Path, clock: VirtualClock) -> Iterator[WebApp]:
    with web_app(tmp_path, clock=clock, web_max_upload_mb=0.05) as app:
        add_campaign(app.ctx, "spring")
        yield app


def upload(client: TestClient, token: str, path: Path, *, url: str = "/campaigns/spring/import") -> str:
    with path.open("rb") as handle:
        response = client.post(
            url, data={"csrf_token": token}, files={"file": (path.name, handle, "text/csv")}, follow_redirects=False
        )
    assert response.status_code == 303, response.text
    return str(response.headers["location"])


def wait_for_job(client: TestClient, location: str) -> str:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        page = client.get(location)
        if 'data-state="running"' not in page.text:
            return page.text
        time.sleep(0.05)
    raise AssertionError("the import did not finish")


def test_upload_preview_fix_the_mapping_import_and_download_the_rejects(web: WebApp) -> None:
    client = web.client()
    token = login(client, "manager")
    preview_url = upload(client, token, MESSY)
    preview = client.get(preview_url)
    text = html.unescape(preview.text)
    assert "no phone column found" in text and "Best number" in text
    assert "CSV, cp1252, semicolon-separated" in text
    assert 'id="import-form"' not in preview.text  # nothing to import until the mapping is fixed

    fixed = client.get(preview_url, params={"map_phoneNumber": "Best number", "map_recordHandle": "Customer #"})
    text = html.unescape(fixed.text)
    assert "no phone column found" not in text
    assert "✓ +12125550131" in text and "Renée Müller" in text
    assert "✗ invalid_phone" in text and "✗ unrecoverable_format" in text
    token = re.search(r'id="import-form">\s*<input type="hidden" name="csrf_token" value="([^"]+)"', fixed.text)
    assert token
    form = dict(re.findall(r'<input type="hidden" name="(map_\w+)" value="([^"]*)"', fixed.text))
    assert form["map_phoneNumber"] == "Best number" and form["map_recordHandle"] == "Customer #"
    started = client.post(
        preview_url + "/run",
        data={"csrf_token": token.group(1), **{k: html.unescape(v) for k, v in form.items()}, "on_duplicate": "skip"},
        follow_redirects=False,
    )
    assert started.status_code == 303
    done = html.unescape(wait_for_job(client, started.headers["location"]))
    assert "Imported 8 of 12 rows" in done and "4 rejected" in done

    records = {r.handle: r for r in web.ctx.store.iter_records(web.ctx.store.get_campaign("spring").id)}
    assert len(records) == 8
    assert records["C-1001"].user_data["Full name"] == "Renée Müller"
    assert records["C-1009"].user_data["Notes"] == '=HYPERLINK("x")'
    rejects_url = re.search(r'href="(/imports/\d+/rejects\.csv)"', done)
    assert rejects_url
    rejects = client.get(rejects_url.group(1))
    assert rejects.status_code == 200 and rejects.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(rejects.content.decode("utf-8-sig"))))
    assert {(r["line"], r["reason"]) for r in rows} == {
        ("6", "invalid_phone"),
        ("8", "unrecoverable_format"),
        ("9", "duplicate_in_file"),
        ("12", "missing_phone"),
    }
    assert rows[0]["Customer #"] == "C-1004"
    # the campaign remembers the mapping for the next file
    assert web.ctx.store.get_campaign("spring").options["mapping"]["phoneNumber"] == "Best number"


def test_an_import_that_fails_changes_nothing_and_says_why(
    web: WebApp, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = web.client()
    token = login(client, "manager")
    listing = tmp_path / "list.csv"
    lines = ["recordHandle,phoneNumber,notes"] + [f"R-{i},+1212555{i:04d},caf\xe9" for i in range(1, 300)]
    listing.write_bytes(("\n".join(lines) + "\n").encode("latin-1"))
    preview_url = upload(client, token, listing)
    wrong = client.get(preview_url, params={"encoding": "utf-8"})
    assert wrong.status_code == 400 and "is not valid utf-8 (byte 0xe9)" in html.unescape(wrong.text)

    def database_fails(*args: object, **kwargs: object) -> None:  # after every row was written
        raise StoreError("the database failed: disk I/O error. Is it reachable and not locked?")

    monkeypatch.setattr(ImportWriter, "finish", database_fails)
    page = client.get(preview_url)
    token2 = re.search(r'id="import-form">\s*<input type="hidden" name="csrf_token" value="([^"]+)"', page.text)
    assert token2
    started = client.post(
        preview_url + "/run",
        data={"csrf_token": token2.group(1), "map_phoneNumber": "phoneNumber", "map_recordHandle": "recordHandle"},
        follow_redirects=False,
    )
    done = html.unescape(wait_for_job(client, started.headers["location"]))
    assert 'id="import-error"' in done
    assert "the database failed: disk I/O error" in done and "Nothing was imported." in done
    campaign = web.ctx.store.get_campaign("spring")
    assert web.ctx.store.count_records(campaign.id) == {}
    assert web.ctx.store.imports(campaign.id) == []


def test_an_oversized_upload_is_refused_while_it_streams(web: WebApp) -> None:
    client = web.client()
    token = login(client, "manager")
    big = b"recordHandle,phoneNumber\n" + b"R-1,+12125550101\n" * 4000  # 68 kB, limit 50 kB
    declared = client.post(
        "/campaigns/spring/import", data={"csrf_token": token}, files={"file": ("big.csv", big, "text/csv")}
    )
    assert declared.status_code == 413
    assert "the file is too large" in declared.text and "0.05 MB" in declared.text

    boundary = "testboundary"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="csrf_token"\r\n\r\n{token}\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.csv"\r\n'
            "Content-Type: text/csv\r\n\r\n"
        ).encode()
        + big
        + f"\r\n--{boundary}--\r\n".encode()
    )
    sent = {"bytes": 0}

    def chunks() -> Iterator[bytes]:  # no Content-Length: the server only learns the size as it reads
        for i in range(0, len(body), 8192):
            sent["bytes"] += 8192
            yield body[i : i + 8192]

    streamed = client.post(
        "/campaigns/spring/import",
        content=chunks(),
        headers={"content-type": f"multipart/form-data; boundary={boundary}"},
    )
    assert streamed.status_code == 413
    assert "went past that" in streamed.text
    uploads = web.ctx.settings.data_dir / "web" / "uploads"
    assert not any(uploads.iterdir())  # the partial file was deleted
    assert web.ctx.store.count_records(web.ctx.store.get_campaign("spring").id) == {}


def test_an_upload_without_the_csrf_token_is_refused_before_the_file_is_kept(web: WebApp) -> None:
    client = web.client()
    login(client, "manager")
    response = client.post(
        "/campaigns/spring/import", files={"file": ("x.csv", MESSY.read_bytes(), "text/csv")}, follow_redirects=False
    )
    assert response.status_code == 403 and "security token" in response.text
    uploads = web.ctx.settings.data_dir / "web" / "uploads"
    assert not uploads.exists() or not any(uploads.iterdir())


def test_an_unknown_upload_token_is_a_readable_error(web: WebApp) -> None:
    client = web.client()
    login(client, "manager")
    response = client.get("/campaigns/spring/import/" + "z" * 32)
    assert response.status_code == 400 and "upload the file again" in response.text


def test_dnc_single_number_and_file(web: WebApp, tmp_path: Path) -> None:
    client = web.client()
    token = login(client, "manager")
    added = client.post("/dnc/add", data={"csrf_token": token, "number": "(212) 555-0199", "region": "US"})
    assert "+12125550199 added to the do-not-call list (every campaign)" in html.unescape(added.text)
    assert web.ctx.store.dnc_hits(["+12125550199"]) == {"+12125550199"}
    bad = client.post("/dnc/add", data={"csrf_token": token, "number": "not a number", "region": "US"})
    assert bad.status_code == 400 and "not a number" in html.unescape(bad.text)
    checked = client.get("/dnc/check", params={"number": "2125550199"})
    assert "+12125550199 is on the global do-not-call list" in checked.text
    optouts = tmp_path / "optouts.csv"
    optouts.write_text("phone,name\n+1 305 555 0136,A\nnonsense,B\n646-555-0145,C\n", encoding="utf-8")
    response = client.post(
        "/dnc/upload",
        data={"csrf_token": token, "campaign": "spring", "region": "US"},
        files={"file": ("optouts.csv", optouts.read_bytes(), "text/csv")},
    )
    text = html.unescape(response.text)
    assert "optouts.csv: 3 rows, 2 numbers; 2 added" in text and "line 3" in text
    spring = web.ctx.store.get_campaign("spring")
    assert web.ctx.store.dnc_hits(["+13055550136", "+16465550145"], campaign_id=spring.id) == {
        "+13055550136",
        "+16465550145",
    }
    assert web.ctx.store.dnc_hits(["+13055550136"]) == set()  # campaign list only


def test_rejects_of_an_import_made_elsewhere_come_from_the_store(web: WebApp) -> None:
    from dialer.importer import ImportOptions, import_file

    campaign = web.ctx.store.get_campaign("spring")
    report = import_file(
        web.ctx.store,
        campaign,
        MESSY,
        ImportOptions(mapping={"phoneNumber": "Best number", "recordHandle": "Customer #"}),
        now=web.ctx.clock.now(),
    )
    client = web.client()
    login(client, "manager")
    assert f'href="/imports/{report.import_id}/rejects.csv"' in client.get("/campaigns/spring").text
    rows = list(
        csv.reader(io.StringIO(client.get(f"/imports/{report.import_id}/rejects.csv").content.decode("utf-8-sig")))
    )
    assert rows[0][:4] == ["line", "reason", "message", "column 1"]
    assert [(r[0], r[1], r[3]) for r in rows[1:]] == [
        ("6", "invalid_phone", "C-1004"),
        ("8", "unrecoverable_format", "C-1006"),
        ("9", "duplicate_in_file", "C-1007"),
        ("12", "missing_phone", "C-1010"),
    ]
    assert client.get("/imports/999/rejects.csv").status_code == 404
