"""Outcome reports: the XLSX workbook, or one of its sheets as CSV, streamed from the store.

:func:`export` reads everything inside one store snapshot
(:meth:`~dialer.store.repository.SqlStore.report_snapshot`), so the Summary, the per-day
figures and the rows agree even while the daemon dials. Records and attempts are streamed a
batch at a time (never all in memory), and the file appears atomically: it is written under
a temporary name in the same directory and renamed into place, so nobody ever opens a
half-written report, and someone reading the previous copy keeps reading it undisturbed.

Sheets (see :mod:`dialer.reports.workbook`): **Summary** (measures, the abandonment rate
for the period, rolling 30 days and rolling 24 hours against the 3 % cap, and a chart per
hour or day), **Records**, **Attempts**, **Abandonment** (per day, with the rolling 30-day
rate) and **Rejects** (import rejects). Every date-time is local to the campaign's zone.
Formula injection is neutralised as :mod:`dialer.reports.safety` explains.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Sized
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from itertools import chain
from pathlib import Path
from typing import Literal, TypeVar
from zoneinfo import ZoneInfo

from dialer.domain.campaigns import Campaign
from dialer.errors import DialerError
from dialer.reports import sheets
from dialer.reports.csvfile import csv_kinds, csv_line, write_csv, write_csv_lines
from dialer.reports.figures import (
    ABANDON_CAP,
    ROLLING_DAYS,
    AbandonDay,
    Tally,
    abandonment_by_day,
    fill_periods,
)
from dialer.reports.files import write_atomically
from dialer.reports.safety import PLAIN_TEXT, TRIGGERS, csv_text
from dialer.reports.workbook import MAX_COLUMNS, MAX_ROWS, SHEETS, SummaryLine, WorkbookWriter
from dialer.store.reporting import LOCAL_FORMAT, PeriodCount, ReportReader
from dialer.store.repository import SqlStore

Sheet = Literal["records", "attempts"]
#: The per-hour chart is used for periods up to this long; longer ones are per day.
HOURLY_UP_TO = timedelta(days=3)


@dataclass(frozen=True, kw_only=True)
class ReportFigures:
    """Everything the Summary and Abandonment sheets show (and ``dialer report --json`` prints)."""

    campaign: str
    mode: str
    zone: str
    since: datetime | None
    """Start of the period (``None``: from the campaign's first attempt)."""
    until: datetime
    """End of the period, exclusive; the rolling windows end here too."""
    generated_at: datetime
    records: int
    records_by_status: dict[str, int]
    period: Tally
    rolling_30d: Tally
    rolling_24h: Tally
    days: list[AbandonDay]
    unit: str
    """``"hour"`` or ``"day"``: the resolution of :attr:`series` and the chart."""
    series: list[tuple[datetime, Tally]]
    """(local period start, tally) for the chart."""
    occupancy: float | None

    @property
    def worst_day(self) -> AbandonDay | None:
        rated = [d for d in self.days if d.rate is not None]
        return max(rated, key=lambda d: (d.rate or 0.0, d.day)) if rated else None

    def as_dict(self) -> dict[str, object]:
        worst = self.worst_day
        p = self.period
        return {
            "campaign": self.campaign,
            "time_zone": self.zone,
            "from": self.since.isoformat() if self.since else None,
            "to": self.until.isoformat(),
            "records": self.records,
            "records_by_status": self.records_by_status,
            "attempts": p.attempts,
            "in_flight": p.in_flight,
            "live_answers": p.live_answers,
            "connects": p.connects,
            "abandoned": p.abandoned,
            "preview_attempts": p.preview_attempts,
            "abandon_rate": _round(p.abandon_rate),
            "abandon_rate_30d": _round(self.rolling_30d.abandon_rate),
            "live_answers_30d": self.rolling_30d.live_answers,
            "abandoned_30d": self.rolling_30d.abandoned,
            "abandon_rate_24h": _round(self.rolling_24h.abandon_rate),
            "abandon_cap": ABANDON_CAP,
            "over_cap_30d": self.rolling_30d.over_cap,
            "over_cap_24h": self.rolling_24h.over_cap,
            "worst_day": worst.day.isoformat() if worst else None,
            "worst_day_abandon_rate": _round(worst.rate) if worst else None,
            "days_over_cap": sum(d.over_cap for d in self.days),
            "contact_rate": _round(p.contact_rate),
            "answering_machines": p.answering_machines,
            "abandoned_message_played": p.message_played_abandoned,
            "silent_calls": p.silent_calls,
            "amd_machines": p.amd_machines,
            "amd_false_positives_estimated": p.abandonment.amd_false_positives,
            "bad_numbers": p.bad_numbers,
            "was_missed": p.missed,
            "occupancy": _round(self.occupancy),
            "attempts_by_outcome": {str(o or "in_flight"): n for o, n in sorted(p.by_outcome.items(), key=_key)},
        }


def _key(item: tuple[str | None, int]) -> str:
    return item[0] or ""


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


@dataclass(frozen=True, kw_only=True)
class ExportResult:
    path: Path
    sheets: dict[str, int]
    """Rows written per sheet (headers not counted)."""
    figures: ReportFigures | None
    """The Summary's figures (workbooks only: a CSV is one sheet)."""
    seconds: float


# ---------------------------------------------------------------------- periods
def period_bounds(
    zone: str, start: date | datetime | None, end: date | datetime | None, *, now: datetime
) -> tuple[datetime | None, datetime]:
    """``--from``/``--to`` as UTC instants: dates are whole local days (``--to`` inclusive),
    date-times are local wall-clock times; the end defaults to ``now``."""
    tz = ZoneInfo(zone)

    def instant(value: date | datetime, *, next_day: bool) -> datetime:
        if isinstance(value, datetime):
            local = value.replace(tzinfo=tz) if value.tzinfo is None else value
        else:
            local = datetime.combine(value + timedelta(days=1) if next_day else value, datetime.min.time(), tz)
        return local.astimezone(UTC)

    since = instant(start, next_day=False) if start is not None else None
    until = instant(end, next_day=True) if end is not None else now
    if since is not None and since >= until:
        raise DialerError("--from must be before --to (both are in the campaign's time zone; --to is inclusive)")
    return since, until


def collect_figures(
    reader: ReportReader,
    campaign: Campaign,
    *,
    since: datetime | None,
    until: datetime,
    until_given: bool,
    generated_at: datetime,
    occupancy: float | None,
) -> ReportFigures:
    """The Summary's figures. Days and the chart run from ``since`` (or the first attempt) to
    ``until`` when it was given, else to the last attempt; the rolling windows end at ``until``."""
    tz = ZoneInfo(campaign.zone)
    by_status = reader.record_counts(campaign.id)

    fp_rate = amd_false_positive_rate(campaign)

    def tally(since: datetime | None) -> Tally:
        played, machines = reader.abandon_detail_totals(campaign.id, since=since, until=until)
        return Tally.of(
            reader.outcome_totals(campaign.id, since=since, until=until),
            preview=reader.preview_totals(campaign.id, since=since, until=until),
            message_played=played,
            amd_machines=machines,
            amd_false_positive_rate=fp_rate,
        )

    period = tally(since)
    rolling_30d = tally(until - timedelta(days=ROLLING_DAYS))
    rolling_24h = tally(until - timedelta(hours=24))
    span = reader.placed_span(campaign.id, since=since, until=until)
    days: list[AbandonDay] = []
    unit, series = "day", []
    if span is not None or since is not None:
        end = (until - timedelta(microseconds=1)).astimezone(tz).replace(tzinfo=None)
        first = since.astimezone(tz).replace(tzinfo=None) if since is not None else parse_local(span[0])  # type: ignore[index]
        last = end if until_given or span is None else parse_local(span[1])
        # Per day, from 29 days before the first so its rolling figure is whole.
        lookback = datetime.combine(first.date() - timedelta(days=ROLLING_DAYS - 1), datetime.min.time(), tz)
        daily = {
            date.fromisoformat(key): tally
            for key, tally in _tallies(
                reader.period_counts(campaign.id, unit="day", since=lookback, until=until), fp_rate
            ).items()
        }
        days = abandonment_by_day(daily, first=first.date(), last=last.date())
        unit = "hour" if last - first <= HOURLY_UP_TO else "day"
        if unit == "hour":
            counts = _tallies(reader.period_counts(campaign.id, unit="hour", since=since, until=until), fp_rate)
        else:
            counts = {d.isoformat(): t for d, t in daily.items()}
        series = fill_periods(counts.items(), unit=unit, first=first, last=last)
    return ReportFigures(
        campaign=campaign.name,
        mode=campaign.mode.value,
        zone=campaign.zone,
        since=since,
        until=until,
        generated_at=generated_at,
        records=sum(by_status.values()),
        records_by_status=dict(sorted(by_status.items())),
        period=period,
        rolling_30d=rolling_30d,
        rolling_24h=rolling_24h,
        days=days,
        unit=unit,
        series=series,
        occupancy=occupancy,
    )


def amd_false_positive_rate(campaign: Campaign) -> float:
    """The campaign's reasoned estimate of people among AMD machines (option
    ``amd_false_positive_rate``, a fraction; 0 when AMD is not used)."""
    value = campaign.options.get("amd_false_positive_rate")
    return float(value) if value else 0.0  # type: ignore[arg-type]


def _tallies(counts: Iterable[PeriodCount], fp_rate: float = 0.0) -> dict[str, Tally]:
    out: dict[str, Tally] = {}
    for pc in counts:
        out[pc.period] = out.get(pc.period, Tally()) + Tally(
            by_outcome={pc.outcome: pc.attempts},
            missed=pc.missed,
            preview={pc.outcome: pc.preview} if pc.preview else {},
            message_played={pc.outcome: pc.message_played} if pc.message_played else {},
            amd_machines=pc.amd_machines,
            amd_false_positive_rate=fp_rate,
        )
    return out


# ---------------------------------------------------------------------- summary
def summary_lines(f: ReportFigures, *, truncated: int = 0) -> list[SummaryLine]:
    tz = ZoneInfo(f.zone)

    def local(at: datetime) -> datetime:
        return at.astimezone(tz).replace(tzinfo=None)

    p, m, d = f.period, f.rolling_30d, f.rolling_24h
    worst = f.worst_day
    cap_note = f"cap {ABANDON_CAP:.0%} of live answers"
    lines: list[SummaryLine] = [
        ("campaign", f.campaign, "text", ""),
        ("dialing mode", f.mode, "text", ""),
        ("time zone", f.zone, "text", "every date-time in this workbook is local to this zone"),
        ("period from", local(f.since) if f.since else None, "datetime", "" if f.since else "the first attempt"),
        ("period to", local(f.until), "datetime", "exclusive; the rolling windows end here"),
        ("generated at", local(f.generated_at), "datetime", ""),
        ("records", f.records, "int", "every record of the campaign, whatever the period"),
        *((f"records {status}", n, "int", "") for status, n in f.records_by_status.items()),
        ("attempts", p.attempts, "int", "placed in the period"),
        ("attempts in flight", p.in_flight, "int", "no outcome yet"),
        *(
            (("preview calls", p.preview_attempts, "int", "dialed by agents; not counted for the abandonment rate"),)
            if p.preview_attempts
            else ()
        ),
        ("live answers", p.live_answers, "int", "a person answered (the abandonment denominator)"),
        ("connects", p.connects, "int", "live answers an agent took"),
        (
            "abandoned (missed)",
            p.abandoned,
            "int",
            "ABANDONED + DROPPED: answered, no agent in time"
            + (
                f"; includes {p.abandonment.amd_false_positives} estimated AMD false positives"
                if p.abandonment.amd_false_positives
                else ""
            ),
        ),
        (
            "abandoned, message played",
            p.message_played_abandoned,
            "int",
            "abandoned calls that heard the information message (Ofcom); still in the rate",
        ),
        ("silent abandoned calls", p.silent_calls, "int", "abandoned calls with no information message"),
        ("abandon rate, period", p.abandon_rate, "percent", _rate_note(p, cap_note)),
        (
            "abandon rate, rolling 30 days",
            m.abandon_rate,
            "percent",
            f"{m.abandoned} of {m.live_answers} live answers; US rule (FTC TSR), {cap_note}"
            + (" — OVER THE CAP" if m.over_cap else ""),
        ),
        (
            "abandon rate, rolling 24 hours",
            d.abandon_rate,
            "percent",
            f"{d.abandoned} of {d.live_answers} live answers; UK rule (Ofcom), {cap_note}"
            + (" — OVER THE CAP" if d.over_cap else ""),
        ),
        (
            "abandon rate, worst day",
            worst.rate if worst else None,
            "percent",
            f"{worst.day.isoformat()}; see the Abandonment sheet" if worst else "no live answers",
        ),
        ("days over the cap", sum(x.over_cap for x in f.days), "int", "days whose own rate exceeded the cap"),
        ("abandon cap", ABANDON_CAP, "percent", "FTC TSR 16 CFR 310.4(b)(4); Ofcom persistent misuse"),
        ("was_missed flags", p.missed, "int", "attempts the provider reported as missed (wasMissed)"),
        ("contact rate", p.contact_rate, "percent", "live answers ÷ ended attempts"),
        ("answering machines", p.answering_machines, "int", ""),
        ("bad numbers", p.bad_numbers, "int", "SIT tones: invalid, vacant, intercepted"),
        (
            "agent occupancy",
            f.occupancy if f.occupancy is not None else "unknown",
            "percent" if f.occupancy is not None else "text",
            "busy agent time ÷ staffed agent time"
            if f.occupancy is not None
            else "only the simulated call centre measures agent time",
        ),
        *(
            (f"attempts {outcome or 'in flight'}", n, "int", "")
            for outcome, n in sorted(p.by_outcome.items(), key=_key)
        ),
    ]
    if truncated:
        lines.append(("cells truncated", truncated, "int", "text longer than Excel's 32,767-character cell limit"))
    return lines


def _rate_note(t: Tally, cap_note: str) -> str:
    if t.abandon_rate is None:
        return "no live answers"
    return f"{t.abandoned} of {t.live_answers} live answers; {cap_note}" + (" — OVER THE CAP" if t.over_cap else "")


# ---------------------------------------------------------------------- export
def export(
    store: SqlStore,
    campaign: Campaign,
    path: Path,
    *,
    now: datetime,
    since: datetime | None = None,
    until: datetime | None = None,
    sheet: Sheet = "records",
    occupancy: float | None = None,
    replace: bool = True,
    progress: Progress | None = None,
) -> ExportResult:
    """Write the workbook (``.xlsx``) or one sheet as CSV (``.csv``, UTF-8 with BOM).

    Attempts placed in ``[since, until)`` are reported; ``until`` defaults to ``now`` (or
    just after the last attempt, if a virtual-time run placed it later).
    ``replace=False`` never replaces an existing file: the report takes the next free name
    (``name-2.xlsx``…) instead, as scheduled exports do; :attr:`ExportResult.path` says where.
    ``progress(sheet, rows)`` is called after every batch of rows written to a sheet.
    """
    started = time.perf_counter()
    suffix = path.suffix.lower()
    if suffix not in (".xlsx", ".csv"):
        raise DialerError(f"cannot write {path.name}: use a .xlsx or .csv file name with --out")
    if sheet not in ("records", "attempts"):
        raise DialerError(f"unknown sheet {sheet!r} for CSV: use records or attempts")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        blocker = next((p for p in (path.parent, *path.parent.parents) if p.exists() and not p.is_dir()), None)
        reason = f"{blocker} is a file, not a folder" if blocker is not None else exc.strerror
        raise DialerError(f"cannot create the folder {path.parent}: {reason}. Choose another --out") from exc
    with store.report_snapshot(zone=campaign.zone, now=now) as reader:
        end = until if until is not None else _default_end(reader, campaign, now)

        def write(target: Path) -> tuple[dict[str, int], ReportFigures | None]:
            if suffix == ".csv":
                return _write_csv(
                    reader, campaign, target, sheet=sheet, since=since, until=end, progress=progress
                ), None
            figures = collect_figures(
                reader,
                campaign,
                since=since,
                until=end,
                until_given=until is not None,
                generated_at=now,
                occupancy=occupancy,
            )
            return (
                _write_workbook(reader, campaign, target, figures, since=since, until=end, progress=progress),
                figures,
            )

        final, (counts, figures) = write_atomically(path, write, replace=replace)
    return ExportResult(path=final, sheets=counts, figures=figures, seconds=time.perf_counter() - started)


def _default_end(reader: ReportReader, campaign: Campaign, now: datetime) -> datetime:
    """``now``, or just after the last attempt when that is later (a rehearsal in virtual
    time places calls ahead of the wall clock)."""
    last = reader.last_placed_at(campaign.id)
    return max(now, last + timedelta(microseconds=1)) if last is not None else now


#: ``progress(sheet, rows written so far)``.
Progress = Callable[[str, int], None]
Sized_T = TypeVar("Sized_T", bound=Sized)


def _counted(batches: Iterable[Sized_T], sheet: str, progress: Progress | None) -> Iterator[Sized_T]:
    """``batches`` as they are, telling ``progress`` how many rows have gone by."""
    done = 0
    if progress is not None:
        progress(sheet, 0)
    for batch in batches:
        yield batch
        done += len(batch)
        if progress is not None:
            progress(sheet, done)


def _write_csv(
    reader: ReportReader,
    campaign: Campaign,
    target: Path,
    *,
    sheet: Sheet,
    since: datetime | None,
    until: datetime,
    progress: Progress | None = None,
) -> dict[str, int]:
    if sheet == "attempts":
        columns = sheets.attempt_columns(campaign.zone)
        if reader.renders_csv:  # the database writes each line: several times faster for millions
            kinds = csv_kinds(columns)
            lines = reader.attempt_csv_lines(
                campaign.id, kinds, csv_text, TRIGGERS, plain=PLAIN_TEXT, since=since, until=until
            )
            return {"Attempts": write_csv_lines(target, columns, _counted(lines, "Attempts", progress))}
        batches = sheets.attempt_batches(reader.attempt_lines(campaign.id, since=since, until=until))
        return {"Attempts": write_csv(target, columns, _counted(batches, "Attempts", progress))}
    keys = reader.user_data_keys(campaign.id)
    records = sheets.record_batches(reader.record_lines(campaign.id), campaign, keys)
    return {"Records": write_csv(target, sheets.record_columns(keys), _counted(records, "Records", progress))}


def _write_workbook(
    reader: ReportReader,
    campaign: Campaign,
    target: Path,
    figures: ReportFigures,
    *,
    since: datetime | None,
    until: datetime,
    progress: Progress | None = None,
) -> dict[str, int]:
    keys = reader.user_data_keys(campaign.id)
    _check_excel_limits(figures, len(sheets.RECORD_COLUMNS) + len(keys))
    book = WorkbookWriter(target)
    try:
        counts = dict.fromkeys(SHEETS, 0)
        records = _counted(sheets.record_batches(reader.record_lines(campaign.id), campaign, keys), "Records", progress)
        counts["Records"] = book.write_table("Records", sheets.record_columns(keys), chain.from_iterable(records))
        attempts = _counted(
            sheets.attempt_batches(reader.attempt_lines(campaign.id, since=since, until=until)), "Attempts", progress
        )
        counts["Attempts"] = book.write_table(
            "Attempts", sheets.attempt_columns(campaign.zone), chain.from_iterable(attempts)
        )
        counts["Abandonment"] = book.write_abandonment(figures.days)
        rejects = sheets.reject_batches(reader.reject_lines(campaign.id), csv_line)
        counts["Rejects"] = book.write_table(
            "Rejects", sheets.reject_columns(campaign.zone), chain.from_iterable(rejects)
        )
        # Last, so it can say how many cells Excel's limit cut (sheets are independent on disk).
        counts["Summary"] = book.write_summary(
            summary_lines(figures, truncated=book.truncated), figures.series, unit=figures.unit, zone=figures.zone
        )
    finally:
        book.close()
    return counts


def _check_excel_limits(figures: ReportFigures, record_columns: int) -> None:
    """Refuse, before writing, a sheet Excel could not hold (it would be cut silently)."""
    for name, rows in (("Records", figures.records), ("Attempts", figures.period.attempts)):
        if rows > MAX_ROWS:
            raise DialerError(
                f"the {name} sheet would have {rows:,} rows; Excel holds {MAX_ROWS:,} per sheet. Narrow the "
                f"period with --from/--to, or write it as CSV: --out PATH.csv --sheet {name.lower()}"
            )
    if record_columns > MAX_COLUMNS:
        raise DialerError(
            f"the Records sheet would have {record_columns:,} columns (user-data fields); Excel holds "
            f"{MAX_COLUMNS:,}. Write it as CSV: --out PATH.csv"
        )


def parse_local(text: str) -> datetime:
    """Local wall-clock text from the store as a naive ``datetime``."""
    return datetime.strptime(text, LOCAL_FORMAT)
