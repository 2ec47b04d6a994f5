"""Outcome spreadsheets: an XLSX workbook (Summary, Records, Attempts) or a CSV of one sheet.

Cells that a spreadsheet would run as a formula (``=``, ``+``, ``-``, ``@``, tab, CR) are
written as plain text in XLSX; phone numbers are always text, never numbers.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pandas as pd

from dialer.domain.campaigns import Campaign
from dialer.domain.records import Attempt, Record
from dialer.errors import DialerError
from dialer.reports.metrics import CampaignMetrics
from dialer.store.repository import SqlStore

RECORD_COLUMNS = (
    "record_handle",
    "phone_number",
    "caller_id",
    "status",
    "attempts",
    "last_outcome",
    "was_missed",
    "last_attempt_at",
    "next_attempt_at",
)


@dataclass(frozen=True, kw_only=True)
class ExportResult:
    path: Path
    sheets: dict[str, int]
    """Rows written per sheet."""


def _local(value: datetime | None, tz: ZoneInfo) -> datetime | None:
    return value.astimezone(tz).replace(tzinfo=None) if value is not None else None


def records_frame(records: Iterable[Record], tz: ZoneInfo) -> pd.DataFrame:
    rows = []
    user_keys: dict[str, None] = {}
    for r in records:
        for key in r.user_data:
            user_keys.setdefault(key, None)
        rows.append(
            {
                "record_handle": r.handle,
                "phone_number": r.phone,
                "caller_id": r.caller_id,
                "status": r.status.value,
                "attempts": r.attempts,
                "last_outcome": r.last_outcome.value if r.last_outcome else None,
                "was_missed": r.last_was_missed,
                "last_attempt_at": _local(r.last_attempt_at, tz),
                "next_attempt_at": _local(r.next_dial_at, tz) if not r.status.is_final else None,
                **{f"\x00{k}": v for k, v in r.user_data.items()},
            }
        )
    columns = list(RECORD_COLUMNS) + [f"\x00{k}" for k in user_keys]
    frame = pd.DataFrame(rows, columns=columns)
    # User-data columns keep their original names, even when one clashes with ours.
    frame.columns = list(RECORD_COLUMNS) + list(user_keys)
    return frame


def attempts_frame(attempts: Iterable[Attempt], tz: ZoneInfo, zone_label: str) -> pd.DataFrame:
    rows = [
        {
            "record_handle": a.record_handle,
            "number_dialed": a.number_dialed,
            "caller_id": a.caller_id,
            "backend": a.backend,
            "session_id": a.provider_ref,
            "call_sid": a.call_sid,
            f"placed_at ({zone_label})": _local(a.placed_at or a.created_at, tz),
            f"answered_at ({zone_label})": _local(a.answered_at, tz),
            f"connected_at ({zone_label})": _local(a.connected_at, tz),
            f"ended_at ({zone_label})": _local(a.ended_at, tz),
            "duration_s": a.duration_s,
            "outcome": a.outcome.value if a.outcome else None,
            "raw_outcome": a.raw_outcome,
            "was_missed": a.was_missed,
            "pacing_reason": a.pacing_reason,
            "attempt_id": a.id,
        }
        for a in attempts
    ]
    return pd.DataFrame(rows)


def summary_frame(metrics: CampaignMetrics, campaign: Campaign) -> pd.DataFrame:
    d = metrics
    rows: list[tuple[str, object]] = [
        ("campaign", campaign.name),
        ("mode", campaign.mode.value),
        ("agents", campaign.agents),
        ("records", d.records),
        ("attempts", d.attempts),
        ("live answers", d.live_answers),
        ("connects", d.connects),
        ("abandoned (missed)", d.abandoned),
        ("abandon rate", d.abandon_rate),
        ("abandon cap", 0.03),
        ("contact rate", d.contact_rate),
        ("answering machines", d.answering_machines),
        ("bad numbers", d.bad_numbers),
        ("occupancy", d.occupancy),
    ]
    rows += [(f"records {status}", n) for status, n in d.records_by_status.items()]
    return pd.DataFrame(rows, columns=["metric", "value"])


def export(
    store: SqlStore,
    campaign: Campaign,
    path: Path,
    *,
    metrics: CampaignMetrics,
    sheet: str = "records",
) -> ExportResult:
    """Write the workbook (``.xlsx``) or one sheet as CSV (``.csv``, UTF-8 with BOM)."""
    tz = ZoneInfo(campaign.zone)
    suffix = path.suffix.lower()
    if suffix not in (".xlsx", ".csv"):
        raise DialerError(f"cannot write {path.name}: use a .xlsx or .csv file name with --out")
    path.parent.mkdir(parents=True, exist_ok=True)
    records = records_frame(store.iter_records(campaign.id), tz)
    attempts = attempts_frame(store.iter_attempts(campaign.id), tz, campaign.zone)
    if suffix == ".csv":
        frame = attempts if sheet == "attempts" else records
        frame.to_csv(path, index=False, encoding="utf-8-sig")
        return ExportResult(path=path, sheets={sheet: len(frame)})
    summary = summary_frame(metrics, campaign)
    with pd.ExcelWriter(
        path,
        engine="xlsxwriter",
        engine_kwargs={
            "options": {"strings_to_formulas": False, "strings_to_numbers": False, "strings_to_urls": False}
        },
        datetime_format="yyyy-mm-dd hh:mm:ss",
    ) as writer:
        for name, frame in (("Summary", summary), ("Records", records), ("Attempts", attempts)):
            frame.to_excel(writer, sheet_name=name, index=False, freeze_panes=(1, 0))
            sheet_obj = writer.sheets[name]
            sheet_obj.autofilter(0, 0, max(len(frame), 1), max(len(frame.columns) - 1, 0))
            for i, column in enumerate(frame.columns):
                sheet_obj.set_column(i, i, min(max(len(str(column)) + 2, 12), 40))
    return ExportResult(path=path, sheets={"Summary": len(summary), "Records": len(records), "Attempts": len(attempts)})
