"""Campaign pages through the web: create, live figures, pause/resume, report, chart, desk."""

from __future__ import annotations

import html
import io
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from dialer.domain.campaigns import CampaignStatus, DialMode
from dialer.domain.clock import VirtualClock
from dialer.domain.records import NewRecord
from dialer.store.repository import PacingNote, SqlStore
from dialer.web import charts
from tests.webapp import WebApp, add_campaign, login, web_app


@pytest.fixture
def web(tmp_path: Path, clock: VirtualClock) -> Iterator[WebApp]:
    with web_app(tmp_path, clock=clock, web_live_seconds=0.2) as app:
        add_campaign(app.ctx, "spring")
        yield app


def _records(web: WebApp, name: str, n: int) -> None:
    campaign = web.ctx.store.get_campaign(name)
    web.ctx.store.insert_records(
        campaign.id,
        [
            NewRecord(
                handle=f"R-{i}",
                phone=f"+1212555{i:04d}",
                caller_id=None,
                user_data={"name": f"Contact {i}", "plan": "Gold"},
                next_dial_at=web.ctx.clock.now(),
                timezone="America/New_York",
                tz_candidates=("America/New_York",),
                tz_source="number",
            )
            for i in range(100, 100 + n)
        ],
        now=web.ctx.clock.now(),
    )


def test_a_manager_creates_a_campaign_with_the_cli_rules(web: WebApp) -> None:
    client = web.client()
    token = login(client, "manager")
    form = {
        "csrf_token": token,
        "name": "autumn",
        "flow_id": "flow-7",
        "mode": "predictive",
        "agents": "12",
        "caller_ids": "+1 212 555 0100, +13125550100",
        "region": "US",
        "max_attempts": "3",
        "hours": "09:00-20:00",
        "days": "mon-fri",
        "ring_timeout": "25",
        "compliance_profile": "us",
        "abandon_target": "0.025",
        "treatments": "BUSY=retry_in 20m x2",
    }
    created = client.post("/campaigns/new", data=form, follow_redirects=False)
    assert created.status_code == 303 and created.headers["location"] == "/campaigns/autumn/import"
    c = web.ctx.store.get_campaign("autumn")
    assert c.mode is DialMode.PREDICTIVE and c.agents == 12 and c.caller_ids == ("+12125550100", "+13125550100")
    assert c.options["abandon_target"] == 0.025 and c.options["treatments"] == {"BUSY": "retry_in 20m x2"}
    assert c.window.describe() == "09:00–20:00 mon-fri"

    for bad, message in (
        ({"abandon_target": "0.05"}, "legal 3% cap"),
        ({"ring_timeout": "10"}, "ring timeout: at least 15"),
        ({"treatments": "BUSY"}, "RESULT=SPEC"),
        ({"caller_ids": "12"}, "caller ID '12'"),
        ({"name": "spring"}, "already exists"),
    ):
        response = client.post("/campaigns/new", data={**form, "name": "winter", **bad})
        assert response.status_code == 400, bad
        assert message in html.unescape(response.text), (bad, message)
        assert 'value="flow-7"' in response.text  # the form keeps what was typed
    assert [c.name for c in web.ctx.store.list_campaigns()] == ["spring", "autumn"]


def test_campaign_page_shows_the_status_figures_and_pause_resume(web: WebApp, clock: VirtualClock) -> None:
    _records(web, "spring", 5)
    client = web.client()
    token = login(client, "manager")
    page = html.unescape(client.get("/campaigns/spring").text)
    assert 'id="lines-in-use">0<' in page and 'id="records-total">5<' in page
    assert "no_dialer_running" in page  # five due records and nothing pacing them: the reason is shown
    assert "Never paced" in page
    assert "<svg" in page and "no pacing decisions in this period" in page
    client.post("/campaigns/spring/pause", data={"csrf_token": token, "reason": "list under review"})
    assert web.ctx.store.get_campaign("spring").status is CampaignStatus.PAUSED
    clock.advance(5)
    page = html.unescape(client.get("/campaigns/spring").text)
    assert "Paused: list under review" in page and "campaign_paused" in page
    client.post("/campaigns/spring/resume", data={"csrf_token": token})
    assert web.ctx.store.get_campaign("spring").status is CampaignStatus.ACTIVE
    listing = client.get("/campaigns").text
    assert 'data-campaign="spring"' in listing and 'data-figure="records">5<' in listing


def test_campaign_page_names_the_daemon_that_paces_it(web: WebApp) -> None:
    client = web.client()
    login(client, "manager")
    page = html.unescape(client.get("/campaigns/spring").text)
    assert "No daemon paces this campaign" in page and "dialer run" in page
    spring = web.ctx.store.get_campaign("spring")
    acquired = datetime.now(UTC) - timedelta(seconds=2)
    web.ctx.store.acquire_pacer(spring.id, owner="dial-host-2:4242:abcd", lease_seconds=60, now=acquired)
    time.sleep(0.25)  # the page's figures are cached for web_live_seconds (0.2 s here)
    page = html.unescape(client.get("/campaigns/spring").text)
    assert "No daemon paces this campaign" not in page
    owner = re.search(r'<p id="pacer-owner"[^>]*>(.*?)</p>', page, re.S)
    assert owner is not None, page
    text = re.sub(r"<[^>]+>", "", owner.group(1))
    assert f"host dial-host-2, pid 4242, since {acquired:%Y-%m-%d %H:%M:%S} UTC" in text
    ago = float(re.search(r"heartbeat ([0-9.]+) s ago", text).group(1))  # type: ignore[union-attr]
    assert 1.5 <= ago < 60
    web.ctx.store.release_pacers(owner="dial-host-2:4242:abcd", campaign_ids=[spring.id])
    time.sleep(0.25)
    assert "No daemon paces this campaign" in html.unescape(client.get("/campaigns/spring").text)


def test_live_events_carry_the_figures(web: WebApp) -> None:
    _records(web, "spring", 3)
    client = web.client()
    login(client, "manager")
    events: list[str] = []
    with client.stream("GET", "/campaigns/spring/live") as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        for line in stream.iter_lines():
            if line.startswith("event:"):
                events.append(line.split(":", 1)[1].strip())
            if line.startswith("data:") and 'id="records-total"' in line:
                assert ">3<" in line
            if len(events) >= 3:
                break
    assert events[:3] == ["figures", "chart", "figures"]


def test_the_report_downloads_and_rereads(web: WebApp) -> None:
    _records(web, "spring", 4)
    client = web.client()
    login(client, "manager")
    workbook = client.get("/campaigns/spring/report", params={"format": "xlsx"})
    assert workbook.status_code == 200
    assert (
        "attachment" in workbook.headers["content-disposition"] and ".xlsx" in workbook.headers["content-disposition"]
    )
    sheets = pd.read_excel(io.BytesIO(workbook.content), sheet_name=None, dtype=str)
    assert {"Summary", "Records", "Attempts"} <= set(sheets)
    assert sorted(sheets["Records"]["record_handle"]) == ["R-100", "R-101", "R-102", "R-103"]
    records_csv = client.get("/campaigns/spring/report", params={"format": "csv", "sheet": "records"})
    frame = pd.read_csv(io.BytesIO(records_csv.content), dtype=str, encoding="utf-8-sig")
    assert list(frame["phone_number"]) == ["+12125550100", "+12125550101", "+12125550102", "+12125550103"]
    bad = client.get("/campaigns/spring/report", params={"format": "pdf"})
    assert bad.status_code == 400 and "format=xlsx" in bad.text


def test_the_pacing_chart_draws_the_decision_history(web: WebApp, clock: VirtualClock) -> None:
    campaign = web.ctx.store.get_campaign("spring")
    reasons = ["progressive: 4 idle of 4 agents → 4", "predictive: cold start; progressive → 2", "paused: by alice"]
    for i, reason in enumerate(reasons):
        web.ctx.store.note_pacing(
            campaign.id, PacingNote(decided_at=clock.now(), wanted=4 - i, placed=1, capped_by=None, reason=reason)
        )
        clock.advance(600)
    client = web.client()
    login(client, "manager")
    svg = client.get("/campaigns/spring/pacing.svg")
    assert svg.headers["content-type"].startswith("image/svg+xml")
    text = html.unescape(svg.text)
    for reason in reasons:
        assert reason in text
    assert "progressive" in text and "predictive, dialing progressively" in text and "paused" in text
    assert text.count("<polyline") == 1


@pytest.mark.parametrize(
    ("reason", "kind"),
    [
        ("progressive: 2 idle", "progressive"),
        ("predictive: overflow n=3", "predictive"),
        ("predictive: cold start (12 of 100 live answers); progressive: 3 idle", "fallback"),
        ("abandon_budget: 2.9% of 3% — progressive: 1", "abandon_budget"),
        ("paused: x", "paused"),
        ("campaign_ended: ended 2026-01-01", "schedule"),
        ("preview: agents request", "preview"),
    ],
)
def test_chart_kinds(reason: str, kind: str) -> None:
    assert charts.kind_of(reason) == kind


def test_chart_spans_end_at_the_next_decision(clock: VirtualClock) -> None:
    t0 = clock.now()
    notes = [
        PacingNote(decided_at=t0 - timedelta(minutes=5), wanted=1, placed=0, capped_by=None, reason="progressive: a"),
        PacingNote(decided_at=t0 + timedelta(minutes=10), wanted=2, placed=0, capped_by=None, reason="paused: b"),
    ]
    spans = charts.spans(notes, since=t0, until=t0 + timedelta(minutes=60))
    assert [(s.kind, s.start, s.end) for s in spans] == [
        ("progressive", t0, t0 + timedelta(minutes=10)),
        ("paused", t0 + timedelta(minutes=10), t0 + timedelta(minutes=60)),
    ]


def test_the_agent_desk_uses_the_preview_functions(web: WebApp) -> None:
    add_campaign(web.ctx, "desk", mode="preview", agents=2)
    _records(web, "desk", 2)
    client = web.client()
    token = login(client, "agent")
    assert "desk" in client.get("/desk").text
    empty = client.get("/desk/desk").text
    assert 'data-state="empty"' in empty
    page = html.unescape(client.post("/desk/desk/next", data={"csrf_token": token}).text)
    handle = re.search(r'id="record-handle">([^<]+)<', page)
    assert handle and handle.group(1) == "R-100"
    assert "Contact 100" in page and "Gold" in page and 'data-state="locked"' in page
    skipped = html.unescape(
        client.post(
            f"/desk/desk/records/{handle.group(1)}/skip", data={"csrf_token": token, "reason": "wrong list"}
        ).text
    )
    assert "skipped by agent agent: wrong list" in skipped
    page = html.unescape(client.post("/desk/desk/next", data={"csrf_token": token}).text)
    handle = re.search(r'id="record-handle">([^<]+)<', page)
    assert handle
    completed = html.unescape(
        client.post(
            f"/desk/desk/records/{handle.group(1)}/complete", data={"csrf_token": token, "disposition": "DO_NOT_CALL"}
        ).text
    )
    assert "DO_NOT_CALL" in completed and "added to the do-not-call list" in completed
    refused = html.unescape(
        client.post(
            f"/desk/desk/records/{handle.group(1)}/complete", data={"csrf_token": token, "disposition": "ANSWER"}
        ).text
    )
    assert "already final" in refused or "not on agent's desk" in refused
    assert client.get("/desk/spring").status_code == 400  # not a preview campaign: readable refusal


def test_the_agent_reschedules_a_record_in_the_campaign_zone(web: WebApp, clock: VirtualClock) -> None:
    add_campaign(web.ctx, "desk", mode="preview", agents=2)
    _records(web, "desk", 1)
    client = web.client()
    token = login(client, "agent")
    client.post("/desk/desk/next", data={"csrf_token": token})
    # 2026-03-03 19:30 in New York: inside the 08:00-21:00 window, a callback for tomorrow
    page = html.unescape(
        client.post("/desk/desk/records/R-100/reschedule", data={"csrf_token": token, "at": "2026-03-03T19:30"}).text
    )
    assert "callback by agent agent at 2026-03-04 00:30 UTC" in page
    record = web.ctx.store.get_record(web.ctx.store.get_campaign("desk").id, "R-100")
    assert record.record_type.value == "campaign_callback" and record.next_dial_at.isoformat().startswith(
        "2026-03-04T00:30"
    )
    assert 'data-state="empty"' in page
    bad = html.unescape(client.post("/desk/desk/next", data={"csrf_token": token}).text)
    assert "No record of desk is due" in bad


def test_the_web_demo_database_has_both_campaigns_and_a_login_per_role(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from dialer import accounts
    from dialer.cli.web import demo_start
    from dialer.demo import find_demo_campaign, prepare_web_demo
    from dialer.settings import load_settings

    assert demo_start(datetime(2026, 3, 8, 3, 0, tzinfo=UTC)) == datetime(2026, 3, 9, 14, 0, tzinfo=UTC)  # Sunday
    start = demo_start(datetime(2026, 3, 2, 3, 0, tzinfo=UTC))
    settings = load_settings(data_dir=tmp_path / "data")
    demo = prepare_web_demo(settings, workdir=tmp_path / "demo", campaign_file=find_demo_campaign(), now=start)
    store = SqlStore.open(f"sqlite:///{demo.database}")
    try:
        dialed, desk = (store.get_campaign(n) for n in demo.campaigns)
        assert dialed.mode is DialMode.PROGRESSIVE and desk.mode is DialMode.PREVIEW
        assert 30 < sum(store.count_records(desk.id).values()) <= 40  # the first 40 rows, less rejects
        assert sum(store.count_records(dialed.id).values()) > 900
        assert {role for _, role, _ in demo.logins} == {"Manager", "Agent", "SystemAdministrator"}
        for name, _role, password in demo.logins:
            assert accounts.authenticate(store, name, password, now=start) is not None
    finally:
        store.close()
