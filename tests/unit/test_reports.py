"""Report rules as tables: formula injection, abandonment figures, cron days, zone offsets."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from dialer.daemon.report_jobs import cron_trigger, next_fire, upcoming, weekdays
from dialer.domain.results import CallResult
from dialer.errors import ConfigError, DialerError
from dialer.reports.export import period_bounds
from dialer.reports.figures import Tally, abandonment_by_day, fill_periods, over_cap
from dialer.reports.safety import csv_text, is_dangerous, is_plain_number
from dialer.store.reporting import offset_periods


# ------------------------------------------------------------------ formula injection
@pytest.mark.parametrize(
    ("value", "dangerous", "in_csv"),
    [
        ("=SUM(A1:A2)", True, "'=SUM(A1:A2)"),
        ('=HYPERLINK("http://x","y")', True, '\'=HYPERLINK("http://x","y")'),
        ("+cmd|' /C calc'!A0", True, "'+cmd|' /C calc'!A0"),
        ("-2+3", True, "'-2+3"),
        ("@SUM(1)", True, "'@SUM(1)"),
        ("\tindent", True, "'\tindent"),
        ("\rreturn", True, "'\rreturn"),
        ("\nnewline", True, "'\nnewline"),
        ("+12125550101", True, "+12125550101"),  # E.164: a numeric constant, kept as is
        ("-42.50", True, "-42.50"),
        ("+1 212 555 0101", True, "'+1 212 555 0101"),  # not a bare number: neutralised
        ("-1e5", True, "'-1e5"),
        ("+", True, "'+"),
        ("Zoë", False, "Zoë"),
        ("a=b", False, "a=b"),
        (" =1+2", False, " =1+2"),
        ("'quoted", False, "'quoted"),
        ("", False, ""),
    ],
)
def test_formula_triggers(value: str, dangerous: bool, in_csv: str) -> None:
    assert is_dangerous(value) is dangerous
    assert csv_text(value) == in_csv


@pytest.mark.parametrize(
    ("value", "plain"),
    [("+12125550101", True), ("-3", True), ("0.5", True), ("+1-212", False), ("٣", False), ("1.", False)],
)
def test_plain_numbers(value: str, plain: bool) -> None:
    assert is_plain_number(value) is plain


# ------------------------------------------------------------------ abandonment
@pytest.mark.parametrize(
    ("abandoned", "live", "over"),
    [(0, 0, False), (3, 100, False), (4, 100, True), (1, 33, True), (1, 34, False), (9, 300, False), (10, 300, True)],
)
def test_the_cap_is_three_percent_inclusive(abandoned: int, live: int, over: bool) -> None:
    assert over_cap(abandoned, live) is over


def tally(answer: int = 0, abandoned: int = 0, dropped: int = 0, machine: int = 0, in_flight: int = 0) -> Tally:
    counts = {"ANSWER": answer, "ABANDONED": abandoned, "DROPPED": dropped, "ANSWERING_MACHINE": machine}
    return Tally(by_outcome={**{k: v for k, v in counts.items() if v}, **({None: in_flight} if in_flight else {})})


def test_a_tally_counts_live_answers_and_abandons() -> None:
    t = tally(answer=90, abandoned=3, dropped=1, machine=6, in_flight=2)
    assert (t.attempts, t.ended, t.in_flight) == (102, 100, 2)
    assert (t.live_answers, t.abandoned, t.connects, t.answering_machines) == (94, 4, 90, 6)
    assert t.abandon_rate == pytest.approx(4 / 94) and t.over_cap
    assert t.contact_rate == pytest.approx(94 / 100)
    assert (t + t).live_answers == 188 and Tally().abandon_rate is None


def test_rolling_thirty_days_covers_the_day_and_the_29_before() -> None:
    first = date(2026, 3, 1)
    days = {first - timedelta(days=30): tally(answer=1000, abandoned=900)}  # 30 days before: outside every window
    days |= {first - timedelta(days=29): tally(answer=50, abandoned=5)}  # inside the first day's window only
    days |= {first + timedelta(days=k): tally(answer=100, abandoned=k % 5) for k in range(5)}
    rows = abandonment_by_day(days, first=first, last=first + timedelta(days=6))
    assert [r.day for r in rows] == [first + timedelta(days=k) for k in range(7)]
    # Abandoned calls are live answers too: day k has 100 + k % 5 of them.
    assert (rows[0].live_answers_30d, rows[0].abandoned_30d) == (155, 5)
    assert (rows[1].live_answers_30d, rows[1].abandoned_30d) == (201, 1)  # the day 29 before dropped out
    assert rows[4].abandoned == 4 and rows[4].over_cap and not rows[3].over_cap  # 4/104 over, 3/103 within
    assert rows[5].live_answers == 0 and rows[5].rate is None and rows[5].live_answers_30d == 510
    assert rows[6].rate_30d == pytest.approx(10 / 510) and not rows[6].over_cap_30d


def test_periods_are_filled_so_the_chart_has_no_gaps() -> None:
    counts = [("2026-03-02 09", tally(answer=2)), ("2026-03-02 12", tally(answer=1))]
    series = fill_periods(counts, unit="hour", first=datetime(2026, 3, 2, 9, 30), last=datetime(2026, 3, 2, 12, 5))
    assert [(s.hour, t.attempts) for s, t in series] == [(9, 2), (10, 0), (11, 0), (12, 1)]
    daily = fill_periods([], unit="day", first=datetime(2026, 3, 1, 23), last=datetime(2026, 3, 3, 1))
    assert [s.day for s, _ in daily] == [1, 2, 3]


def test_report_periods_are_local_days() -> None:
    now = datetime(2026, 3, 20, tzinfo=UTC)
    since, until = period_bounds("America/New_York", date(2026, 3, 8), date(2026, 3, 8), now=now)
    assert since == datetime(2026, 3, 8, 5, tzinfo=UTC)  # midnight EST
    assert until == datetime(2026, 3, 9, 4, tzinfo=UTC)  # midnight EDT: a 23-hour day, --to inclusive
    since, until = period_bounds("Europe/Paris", datetime(2026, 3, 2, 8, 30), None, now=now)
    assert since == datetime(2026, 3, 2, 7, 30, tzinfo=UTC) and until == now
    with pytest.raises(DialerError, match="--from must be before --to"):
        period_bounds("UTC", date(2026, 3, 9), date(2026, 3, 8), now=now)


# ------------------------------------------------------------------ zone offsets
def test_offset_periods_find_each_transition_to_the_second() -> None:
    periods = offset_periods("America/New_York", datetime(2026, 1, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC))
    assert periods == [
        (datetime(2026, 1, 1, tzinfo=UTC), -5 * 3600),
        (datetime(2026, 3, 8, 7, tzinfo=UTC), -4 * 3600),
        (datetime(2026, 11, 1, 6, tzinfo=UTC), -5 * 3600),
    ]
    howe = offset_periods("Australia/Lord_Howe", datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 12, 31, tzinfo=UTC))
    assert [off for _, off in howe] == [39600, 37800, 39600]  # a 30-minute DST shift
    assert offset_periods("Asia/Kolkata", datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 6, 1, tzinfo=UTC)) == [
        (datetime(2026, 1, 1, tzinfo=UTC), 19800)
    ]


# ------------------------------------------------------------------ cron
@pytest.mark.parametrize(
    ("field", "names"),
    [
        ("*", "*"),
        ("1-5", "mon,tue,wed,thu,fri"),
        ("0", "sun"),
        ("7", "sun"),
        ("mon-fri", "mon,tue,wed,thu,fri"),
        ("5-7", "fri,sat,sun"),
        ("*/2", "tue,thu,sat,sun"),
        ("1/2", "mon,wed,fri"),
        ("SAT,Sunday", "sat,sun"),
        ("0-6", "*"),
    ],
)
def test_cron_weekdays_follow_standard_cron(field: str, names: str) -> None:
    assert weekdays(field) == names


def test_a_cron_schedule_fires_in_the_campaign_zone() -> None:
    # Friday 6 March 2026, 10:00 in New York: weekdays at 07:00 → Monday 9 March (EDT since the 8th).
    after = datetime(2026, 3, 6, 15, tzinfo=UTC)
    assert upcoming("0 7 * * 1-5", "America/New_York", after=after, count=2) == [
        datetime(2026, 3, 9, 11, tzinfo=UTC),
        datetime(2026, 3, 10, 11, tzinfo=UTC),
    ]
    trigger = cron_trigger("@hourly", "Asia/Kolkata")
    assert next_fire(trigger, at_or_after=datetime(2026, 3, 6, 15, 0, tzinfo=UTC)) == datetime(
        2026, 3, 6, 15, 30, tzinfo=UTC
    )  # on the hour in India is half past in UTC
    sunday = next_fire(cron_trigger("30 6 * * 0", "Europe/Paris"), at_or_after=after)
    assert sunday is not None and sunday.astimezone(ZoneInfo("Europe/Paris")).strftime("%a %H:%M") == "Sun 06:30"


@pytest.mark.parametrize(
    ("cron", "message"),
    [
        ("0 7 * *", "has 4 field(s)"),
        ("0 7 1 * 1", "restricts both the day of the month and the day of the week"),
        ("61 * * * *", "higher than the maximum"),
        ("0 7 * * 8", "'8' is not a day of the week"),
        ("0 7 * * 5-1", "runs backwards"),
    ],
)
def test_bad_cron_expressions_name_the_fix(cron: str, message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)) as info:
        cron_trigger(cron, "UTC")
    assert "e.g. '0 7 * * 1-5'" in str(info.value)


def test_results_used_by_reports_are_live_as_documented() -> None:
    assert {r for r in CallResult if r.is_abandoned} == {CallResult.ABANDONED, CallResult.DROPPED}
