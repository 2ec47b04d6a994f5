"""Rows → domain objects. Kept apart so the repository reads as a list of intents."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dialer.domain.campaigns import Campaign, CampaignStatus, DialMode
from dialer.domain.imports import ImportSummary
from dialer.domain.records import Attempt, AttemptState, Record, RecordStatus, RecordType
from dialer.domain.results import CallResult
from dialer.domain.windows import CallingWindow
from dialer.errors import StoreError


def campaign(row: Mapping[Any, Any]) -> Campaign:
    """A campaign row; a row that no longer validates (written by hand or by another version)
    is a :class:`StoreError` naming the campaign, not a crash of whoever listed campaigns."""
    try:
        return _campaign(row)
    except (ValueError, TypeError) as exc:
        raise StoreError(
            f"campaign {row['name']!r} in the database is invalid: {exc}. Correct its row in the campaigns table, "
            "or recreate it under a new name with `dialer campaign create`"
        ) from exc


def _campaign(row: Mapping[Any, Any]) -> Campaign:
    return Campaign(
        id=row["id"],
        name=row["name"],
        flow_id=row["flow_id"],
        mode=DialMode(row["mode"]),
        status=CampaignStatus(row["status"]),
        pause_reason=row["pause_reason"],
        caller_ids=tuple(row["caller_ids"] or ()),
        allow_random_caller_id=bool(row["allow_random_caller_id"]),
        agents=row["agents"],
        region=row["region"],
        max_attempts=row["max_attempts"],
        window=CallingWindow.parse(row["window_hours"], row["window_days"]),
        timezone=row["timezone"],
        fallback_zones=tuple(row["fallback_zones"] or ()),
        ring_timeout=row["ring_timeout"],
        wrap_seconds=row["wrap_seconds"],
        max_cps=row["max_cps"],
        max_lines=row["max_lines"],
        options=dict(row["options"] or {}),
        created_at=row["created_at"],
    )


def record(row: Mapping[Any, Any]) -> Record:
    return Record(
        id=row["id"],
        campaign_id=row["campaign_id"],
        handle=row["handle"],
        phone=row["phone"],
        caller_id=row["caller_id"],
        user_data=row["user_data"] or {},
        status=RecordStatus(row["status"]),
        record_type=RecordType(row["record_type"]),
        attempts=row["attempts"],
        next_dial_at=row["next_dial_at"],
        last_attempt_at=row["last_attempt_at"],
        last_outcome=CallResult(row["last_outcome"]) if row["last_outcome"] else None,
        last_was_missed=row["last_was_missed"],
        timezone=row["timezone"],
        tz_candidates=tuple(row["tz_candidates"] or ()),
        tz_source=row["tz_source"],
        daily_from=row["daily_from"],
        daily_till=row["daily_till"],
        result_counts=dict(row["result_counts"] or {}),
        blocked_reason=row["blocked_reason"],
        blocked_until=row["blocked_until"],
        blocked_detail=row["blocked_detail"],
        lease_owner=row["lease_owner"],
        lease_until=row["lease_until"],
        offered_at=row.get("offered_at"),
        reserved_for=row.get("reserved_for"),
        reserved_until=row.get("reserved_until"),
        import_id=row["import_id"],
    )


def attempt(row: Mapping[Any, Any]) -> Attempt:
    return Attempt(
        id=row["id"],
        record_id=row["record_id"],
        campaign_id=row["campaign_id"],
        backend=row["backend"],
        mode=row["mode"],
        state=AttemptState(row["state"]),
        number_dialed=row["number_dialed"],
        caller_id=row["caller_id"],
        created_at=row["created_at"],
        placed_at=row["placed_at"],
        answered_at=row["answered_at"],
        connected_at=row["connected_at"],
        ended_at=row["ended_at"],
        provider_ref=row["provider_ref"],
        call_sid=row["call_sid"],
        correlation=row["correlation"],
        outcome=CallResult(row["outcome"]) if row["outcome"] else None,
        raw_outcome=row["raw_outcome"],
        was_missed=row["was_missed"],
        amd=row.get("amd"),
        message_played=row.get("message_played"),
        duration_s=row["duration_s"],
        agent=row["agent"],
        pacing_reason=row["pacing_reason"] or "",
        error=row["error"],
        record_handle=row.get("handle"),
        preview=bool(row.get("preview") or False),
        disposition=row.get("disposition"),
    )


def import_summary(row: Mapping[Any, Any]) -> ImportSummary:
    return ImportSummary(
        id=row["id"],
        campaign_id=row["campaign_id"],
        source_name=row["source_name"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        rows_read=row["rows_read"],
        imported=row["imported"],
        updated=row["updated"],
        skipped_duplicates=row["skipped_duplicates"],
        rejected=row["rejected"],
        by_reason=dict(row["by_reason"] or {}),
        duration_s=row["duration_s"],
        sha256=row["sha256"],
    )
