"""The web app in a real browser: headless Chromium against `dialer web` served by uvicorn,
pacing on the simulated call centre in the same process (sped up so figures move in seconds).

A manager logs in, creates a campaign, uploads a messy CSV, fixes its mapping, imports it,
downloads the rejects, starts the campaign, watches the live figures change, pauses it,
downloads the report and re-reads it; a forged form without the CSRF token is refused. An
agent previews and dials a record and gives its disposition, and is refused a manager page.
"""

from __future__ import annotations

import csv
import os
import re
import select
import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pandas as pd
import pytest

from dialer import accounts
from dialer.campaignfile import build_spec
from dialer.context import Context, build_context
from dialer.daemon.scheduler import Daemon
from dialer.domain.campaigns import CampaignStatus
from dialer.domain.clock import SystemClock
from dialer.domain.records import NewRecord
from dialer.settings import load_settings
from dialer.web.app import create_app
from dialer.web.server import WebServer
from tests.e2e.browser import launched_browser
from tests.webapp import PASSWORDS, ROLES

DATA = Path(__file__).resolve().parent.parent / "data"
#: Virtual time starts on a Monday at 16:00 UTC (11:00 in New York, 08:00 in Los Angeles).
START = datetime(2026, 3, 2, 16, 0, tzinfo=UTC)
SPEED = 30.0
TIMEOUT = 30_000  # ms


class Served:
    def __init__(self, url: str, ctx: Context, downloads: Path) -> None:
        self.url = url
        self.ctx = ctx
        self.downloads = downloads


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with launched_browser() as found:
        yield found


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    root = tmp_path_factory.mktemp("web-e2e")
    with pytest.MonkeyPatch.context() as env:  # like tests/conftest.py, for the whole module
        for key in [k for k in os.environ if k.startswith("DIALER_") and not k.startswith("DIALER_TEST_")]:
            env.delenv(key)
        env.chdir(root)
        yield from _serve(root)


def _serve(root: Path) -> Iterator[Served]:
    settings = load_settings(
        data_dir=root / "data",
        database_url=f"sqlite:///{root / 'dialer.db'}",
        backend="simulated",
        sim_speed=SPEED,
        tick_seconds=0.5,
        web_live_seconds=0.5,
        web_max_upload_mb=0.1,
        shutdown_grace_seconds=2,
    )
    ctx = build_context(settings, clock=SystemClock(speed=SPEED, start=START))
    try:
        now = ctx.clock.now()
        for name, role in ROLES.items():
            accounts.add_user(ctx.store, name, role=role, password=PASSWORDS[name], now=now)
        desk = ctx.store.create_campaign(
            build_spec(name="desk", flow_id="flow-desk", mode="preview", caller_ids=("+12125550100",), agents=2),
            now=now,
        )
        ctx.store.insert_records(
            desk.id,
            [
                NewRecord(
                    handle=f"P-{i}",
                    phone=f"+1212555{i:04d}",
                    caller_id=None,
                    user_data={"customer": f"Customer {i}", "plan": "Gold", "notes": "renewal due"},
                    next_dial_at=now,
                    timezone="America/New_York",
                    tz_candidates=("America/New_York",),
                    tz_source="number",
                )
                for i in range(200, 205)
            ],
            now=now,
        )
        timed = ctx.store.create_campaign(
            build_spec(
                name="desk-timer",
                flow_id="flow-desk",
                mode="preview",
                caller_ids=("+12125550100",),
                agents=2,
                options={"preview_auto_dial_seconds": 60},  # virtual seconds: 2 s of wall time
            ),
            now=now,
        )
        ctx.store.insert_records(
            timed.id,
            [
                NewRecord(
                    handle="T-1",
                    phone="+12125550300",
                    caller_id=None,
                    user_data={"customer": "Timed"},
                    next_dial_at=now,
                    timezone="America/New_York",
                    tz_candidates=("America/New_York",),
                    tz_source="number",
                )
            ],
            now=now,
        )
        app = create_app(ctx, pacer=Daemon(ctx, background=True, install_signals=False))
        with WebServer(app) as url:
            yield Served(url, ctx, root / "downloads")
    finally:
        ctx.close()


def log_in(browser: Any, served: Served, name: str) -> Any:
    context = browser.new_context(accept_downloads=True, base_url=served.url)
    context.set_default_timeout(TIMEOUT)
    page = context.new_page()
    page.goto("/login")
    page.fill("input[name=name]", name)
    page.fill("input[name=password]", PASSWORDS[name])
    page.click("button:has-text('Log in')")
    page.wait_for_load_state()
    return page


def figure(page: Any, selector: str) -> str:
    return str(page.inner_text(selector)).strip()


def test_manager_journey(browser: Any, served: Served) -> None:
    page = log_in(browser, served, "manager")
    assert page.url.endswith("/campaigns")

    # create a campaign (it starts paused until its list is loaded)
    page.click("text=New campaign")
    page.fill("input[name=name]", "e2e-renewals")
    page.fill("input[name=flow_id]", "flow-renewals")
    page.fill("input[name=agents]", "4")
    page.fill("textarea[name=caller_ids]", "+1 212 555 0100")
    page.click("button:has-text('Create campaign')")
    page.wait_for_url("**/campaigns/e2e-renewals/import")
    assert "It is paused" in page.inner_text(".flash")

    # upload a messy CSV: semicolons, Windows-1252, a phone column nobody recognises
    page.set_input_files("input[type=file]", str(DATA / "web_messy_leads.csv"))
    page.click("button:has-text('Upload and preview')")
    page.wait_for_selector("#mapping-problem")
    assert "no phone column found" in page.inner_text("#mapping-problem")
    assert "cp1252, semicolon-separated" in page.inner_text("main")

    # fix the mapping and preview again
    page.select_option("select[name=map_phoneNumber]", "Best number")
    page.select_option("select[name=map_recordHandle]", "Customer #")
    page.click("#apply-mapping")
    page.wait_for_selector("#import-form")
    rows = page.inner_text("#preview-rows")
    assert "✓ +12125550131" in rows and "✗ invalid_phone" in rows and "Renée Müller" in rows

    # import, with progress, then the rejects file
    page.click("#start-import")
    page.wait_for_selector("#import-done")
    assert "Imported 8 of 12 rows" in page.inner_text("#import-done")
    with page.expect_download() as download:
        page.click("#rejects-link")
    rejects = Path(download.value.path())
    with rejects.open(encoding="utf-8-sig", newline="") as handle:
        lines = {(r["line"], r["reason"]) for r in csv.DictReader(handle)}
    assert lines == {
        ("6", "invalid_phone"),
        ("8", "unrecoverable_format"),
        ("9", "duplicate_in_file"),
        ("12", "missing_phone"),
    }

    # start the campaign and watch the live figures change (server-sent events, no reload)
    page.click("text=Go to the campaign")
    page.wait_for_url("**/campaigns/e2e-renewals")
    assert "campaign_paused" in page.inner_text("#figures")
    assert figure(page, "#lines-in-use") == "0"
    page.click("#resume")
    page.wait_for_selector("#pause")
    page.evaluate("window.__notReloaded = true")
    first_update = page.get_attribute("#figures .tiles", "data-updated")
    page.wait_for_function(
        "() => Number(document.querySelector('#lines-in-use').textContent) > 0"
        " || document.querySelector('#by-status [data-status=completed], #by-status [data-status=exhausted]') !== null"
    )
    page.wait_for_function(f"() => document.querySelector('#figures .tiles').dataset.updated !== {first_update!r}")
    assert page.evaluate("window.__notReloaded") is True
    assert "progressive:" in figure(page, "#pacing-reason")
    page.wait_for_function("() => document.querySelector('#chart svg rect[fill=\"#90caf9\"]') !== null")

    # pause it: no new calls
    page.fill("input[name=reason]", "checking the list")
    page.click("#pause")
    page.wait_for_selector("#resume")
    assert served.ctx.store.get_campaign("e2e-renewals").status is CampaignStatus.PAUSED
    page.wait_for_function("() => document.querySelector('#figures').textContent.includes('checking the list')")

    # download the report and re-read it
    with page.expect_download() as download:
        page.click("text=Report (XLSX)")
    sheets = pd.read_excel(download.value.path(), sheet_name=None, dtype=str)
    assert len(sheets["Records"]) == 8
    assert set(sheets["Records"]["record_handle"]) == {
        "C-1001",
        "C-1002",
        "C-1003",
        "C-1005",
        "C-1008",
        "C-1009",
        "C-1011",
        "C-1012",
    }
    attempts = served.ctx.store.placed_since(served.ctx.store.get_campaign("e2e-renewals").id, since=START)
    assert attempts >= 1 and len(sheets["Attempts"]) >= 1
    assert sheets["Records"].set_index("record_handle").loc["C-1009", "Notes"] == '=HYPERLINK("x")'

    # a forged form (no CSRF token) is refused and changes nothing
    page.evaluate(
        """() => { const f = document.createElement('form'); f.method = 'post';
                   f.action = '/campaigns/e2e-renewals/resume'; document.body.appendChild(f); f.submit(); }"""
    )
    page.wait_for_selector(".error-box")
    assert "security token" in page.inner_text(".error-box")
    assert served.ctx.store.get_campaign("e2e-renewals").status is CampaignStatus.PAUSED

    # a file over the upload limit is refused before it is sent
    big = served.downloads / "too-big.csv"
    big.parent.mkdir(parents=True, exist_ok=True)
    big.write_text("phone\n" + "+12125550101\n" * 20_000, encoding="utf-8")
    page.goto("/campaigns/e2e-renewals/import")
    page.set_input_files("input[type=file]", str(big))
    page.click("button:has-text('Upload and preview')")
    page.wait_for_selector(".upload-error:not([hidden])")
    assert "too large" in page.inner_text(".upload-error")
    page.context.close()


def test_agent_previews_dials_and_completes_a_record(browser: Any, served: Served) -> None:
    page = log_in(browser, served, "agent")
    assert page.url.endswith("/desk")
    page.click("a.button:has-text('desk')")
    page.click("#next-record")
    page.wait_for_selector("#record-handle")
    handle = figure(page, "#record-handle")
    assert handle.startswith("P-")
    assert "Customer" in page.inner_text("#user-data") and "renewal due" in page.inner_text("#user-data")
    page.click("#dial")
    page.wait_for_selector("#desk-card[data-state=dialing], #desk-card[data-state=awaiting_disposition]")
    page.wait_for_selector("#desk-card[data-state=awaiting_disposition]", timeout=60_000)
    assert figure(page, "#call-outcome")
    page.select_option("#disposition", "NO_ANSWER")
    page.click("#complete")
    page.wait_for_selector(".flash")
    assert f"{handle}: NO_ANSWER" in page.inner_text(".flash")
    attempts = served.ctx.store.attempts_for_record(
        served.ctx.store.get_record(served.ctx.store.get_campaign("desk").id, handle).id
    )
    assert attempts[-1].preview and attempts[-1].agent == "agent"

    # an agent is refused a manager page
    response = page.goto("/campaigns")
    assert response is not None and response.status == 403
    assert "Not for your role" in page.inner_text(".error-box")
    page.context.close()


def test_the_desk_auto_dials_and_reserves_personal_callbacks(browser: Any, served: Served) -> None:
    page = log_in(browser, served, "agent")
    page.goto("/desk/desk-timer")
    page.click("#next-record")
    page.wait_for_selector("#auto-dial-at")
    assert "unless you skip" in page.inner_text("#auto-dial-at")
    # No click: the timer dials the record and the card follows the call.
    page.wait_for_selector("#desk-card[data-state=dialing], #desk-card[data-state=awaiting_disposition]")
    page.wait_for_selector("#desk-card[data-state=awaiting_disposition]", timeout=60_000)
    later = (served.ctx.clock.now() + timedelta(days=1)).astimezone(ZoneInfo("America/New_York"))
    page.fill("input[name=at]", later.replace(hour=12, minute=0).strftime("%Y-%m-%dT%H:%M"))
    page.check("#personal-callback")
    page.click("#reschedule")
    page.wait_for_selector(".flash")
    assert "personal callback for agent agent" in page.inner_text(".flash")
    record = served.ctx.store.get_record(served.ctx.store.get_campaign("desk-timer").id, "T-1")
    assert record.reserved_for == "agent" and record.record_type.value == "personal_callback"
    attempts = served.ctx.store.attempts_for_record(record.id)
    assert len(attempts) == 1 and attempts[0].preview and attempts[0].agent == "agent"
    page.context.close()


def test_an_oversized_upload_is_refused_while_it_streams(served: Served) -> None:
    """On the real server, with a chunked body (no Content-Length): the 413 comes back while the
    client is still sending a 50 MB body, soon after the limit (0.1 MB here)."""
    with httpx.Client(base_url=served.url) as client:
        token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text).group(1)  # type: ignore[union-attr]
        client.post("/login", data={"csrf_token": token, "name": "manager", "password": PASSWORDS["manager"]})
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/account").text).group(1)  # type: ignore[union-attr]
        cookie = "; ".join(f"{k}={v}" for k, v in client.cookies.items())
    host, port = served.url.removeprefix("http://").split(":")

    def chunk(data: bytes) -> bytes:
        return f"{len(data):x}\r\n".encode() + data + b"\r\n"

    sent = 0
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(
            b"POST /campaigns/desk/import HTTP/1.1\r\nHost: " + f"{host}:{port}".encode() + b"\r\n"
            b"Cookie: " + cookie.encode() + b"\r\nTransfer-Encoding: chunked\r\n"
            b"Content-Type: multipart/form-data; boundary=x\r\n\r\n"
        )
        sock.sendall(
            chunk(
                f'--x\r\nContent-Disposition: form-data; name="csrf_token"\r\n\r\n{csrf}\r\n'
                '--x\r\nContent-Disposition: form-data; name="file"; filename="big.csv"\r\n\r\n'.encode()
            )
        )
        block = chunk(b"+12125550101\n" * 1000)
        answer = b""
        while sent < 50_000_000:
            readable, _, _ = select.select([sock], [], [], 0)
            if readable:
                answer = sock.recv(65536)
                break
            try:
                sock.sendall(block)
            except (BrokenPipeError, ConnectionResetError):
                answer = sock.recv(65536)
                break
            sent += len(block)
        head, _, body = answer.partition(b"\r\n\r\n")
        length = re.search(rb"content-length: (\d+)", head, re.IGNORECASE)
        while length and len(body) < int(length.group(1)):
            more = sock.recv(65536)
            if not more:
                break
            body += more
        answer = head + b"\r\n\r\n" + body
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert b"the file is too large" in answer
    # A server that buffered the upload first would take all 50 MB; what gets through here is the
    # limit plus what the loopback socket buffers hold before the client sees the answer.
    assert sent < 10_000_000, f"{sent} bytes were sent before the refusal"
