"""The preview desk: Genesys' preview-record flow as library functions.

``next_record`` → (review) → ``dial`` → (call ends; the tick collects it) → ``complete``
with the agent's disposition; or ``skip`` / ``reschedule`` instead (``outbound-domain.md``
§4). The CLI (`dialer preview …`) and, later, a web page sit on top of these functions.

* A record handed to an agent is **locked** to that agent (a lease owned by
  ``agent:<name>``) until the lock expires. The same agent asking again gets the same
  record back (the lock is renewed); no other agent gets it; an expired lock returns the
  record to the pool.
* Every compliance gate runs when the record is handed out **and again at dial time**, with
  the do-not-call list read at that moment, exactly as the tick does.
* The call is placed by :func:`dialer.daemon.tick.place`: the attempt is written (marked
  ``preview``) before the provider is asked to dial. Preview attempts never count toward
  the abandonment rate.
* After the call ends, the record stays on the agent's desk until the disposition, which
  becomes the attempt's canonical result and goes through the retry treatments (final
  results end the record). A lock that expires first applies the call's own result.
* **Personal callbacks** (``reschedule(…, personal=True)``) are reserved for the agent who
  scheduled them: that agent gets the record first once it is due, no other agent gets it
  until ``personal_callback_grace_seconds`` (default 1 hour) after the callback time, and
  then — the agent is away — it falls back to the pool as a campaign callback would.
* An optional **auto-dial timer** (campaign option ``preview_auto_dial_seconds``): the daemon
  dials a record that has been on an agent's desk that long, unless the agent skipped,
  rescheduled or dialed it first (:func:`auto_dial`; the desk shows the time).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from dialer.context import Context
from dialer.daemon import tick
from dialer.domain import compliance, windows
from dialer.domain import preview as rules
from dialer.domain.campaigns import Campaign, CampaignStatus, DialMode
from dialer.domain.records import Attempt, Record, RecordStatus, RecordType
from dialer.domain.results import CallResult
from dialer.errors import ComplianceBlocked, DialerError, NotFound, TelephonyError
from dialer.telephony.base import PreviewSession, PreviewSessionLog

#: How far ahead an agent may reschedule a record.
MAX_RESCHEDULE = timedelta(days=365)
#: Claims refused by a gate before `next` gives up for this request.
MAX_GATED_CLAIMS = 50


# ----------------------------------------------------------------------- errors
class PreviewError(DialerError):
    """The preview desk refused the request."""


class NotPreviewCampaign(PreviewError):
    """The campaign does not dial in preview mode."""


class RecordLocked(PreviewError):
    """The record is locked to another agent."""


class NotOnDesk(PreviewError):
    """The record is not locked to this agent."""


class DialRefused(ComplianceBlocked):
    """A compliance gate refused the preview call at dial time."""

    def __init__(self, message: str, *, rule: str) -> None:
        super().__init__(message)
        self.rule = rule


# ----------------------------------------------------------------------- values
@dataclass(frozen=True, kw_only=True)
class PreviewRecord:
    """A record on an agent's desk, as the agent sees it (GWS ``outboundRecord``).

    In JSON (:meth:`as_dict`) the record's own fields carry the Genesys names — ``recordHandle``,
    ``phoneNumber``, ``outboundCallerId``, ``otherFields`` (the user data) — and the desk's
    fields (``attempts``, ``agent``, ``state``…) follow. ``recordHandle`` is the handle as the
    list gave it (a string: lists carry ``R-1`` as often as Genesys' integer ``431``);
    ``phoneNumber`` and ``outboundCallerId`` are E.164.
    """

    campaign: str
    handle: str
    phone: str
    caller_id: str | None
    user_data: dict[str, Any]
    attempts: int
    max_attempts: int
    last_outcome: str | None
    record_type: str
    agent: str
    locked_until: datetime | None
    state: str
    """``locked`` (to review), ``dialing`` (call in progress) or ``awaiting_disposition``."""
    attempt_id: str | None = None
    """The preview call being made or awaiting a disposition."""
    call_outcome: str | None = None
    """That call's result as the provider reported it, once it has ended."""
    auto_dial_at: datetime | None = None
    """When the auto-dial timer dials this record unless the agent acts first."""

    def as_dict(self) -> dict[str, Any]:
        return {
            "recordHandle": self.handle,
            "phoneNumber": self.phone,
            "outboundCallerId": self.caller_id,
            "otherFields": self.user_data,
            "campaign": self.campaign,
            "attempts": self.attempts,
            "max_attempts": self.max_attempts,
            "last_outcome": self.last_outcome,
            "record_type": self.record_type,
            "agent": self.agent,
            "locked_until": self.locked_until.isoformat() if self.locked_until else None,
            "state": self.state,
            "attempt_id": self.attempt_id,
            "call_outcome": self.call_outcome,
            "auto_dial_at": self.auto_dial_at.isoformat() if self.auto_dial_at else None,
        }


@dataclass(frozen=True, kw_only=True)
class DialResult:
    handle: str
    attempt_id: str
    phone: str
    caller_id: str | None
    placed: bool
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "recordHandle": self.handle,
            "phoneNumber": self.phone,
            "outboundCallerId": self.caller_id,
            "attempt_id": self.attempt_id,
            "placed": self.placed,
            "message": self.message,
        }


@dataclass(frozen=True, kw_only=True)
class DeskResult:
    """What a skip, reschedule or completion did to the record."""

    handle: str
    action: str
    status: str
    next_dial_at: datetime | None
    message: str
    disposition: str | None = None
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "recordHandle": self.handle,
            "action": self.action,
            "disposition": self.disposition,
            "status": self.status,
            "next_dial_at": self.next_dial_at.isoformat() if self.next_dial_at else None,
            "message": self.message,
            "notes": self.notes,
        }


# -------------------------------------------------------------------- internals
def _check_agent(agent: str) -> str:
    name = agent.strip()
    if not name or len(rules.desk_owner(name)) > 100 or any(ch.isspace() for ch in name):
        raise PreviewError(f"invalid agent name {agent!r}: use a short name without spaces (e.g. --agent alice)")
    return name


def _preview_campaign(ctx: Context, name: str) -> Campaign:
    campaign = ctx.store.get_campaign(name)
    if campaign.mode is not DialMode.PREVIEW:
        raise NotPreviewCampaign(
            f"campaign {campaign.name!r} dials in {campaign.mode.value} mode, so the daemon dials its records; "
            "agents request records only from preview campaigns (create one with "
            f"`dialer campaign create NAME --mode preview …`)"
        )
    return campaign


def _locate(ctx: Context, handle: str, campaign: str | None) -> tuple[Campaign, Record]:
    if campaign:
        c = _preview_campaign(ctx, campaign)
        return c, ctx.store.get_record(c.id, handle)
    found = ctx.store.find_records(handle)
    if not found:
        raise NotFound(f"no record with handle {handle!r}; check the handle, or pass --campaign")
    by_campaign = [(ctx.store.get_campaign_by_id(r.campaign_id), r) for r in found]
    preview = [(c, r) for c, r in by_campaign if c.mode is DialMode.PREVIEW]
    if len(preview) > 1:
        names = ", ".join(c.name for c, _ in preview)
        raise PreviewError(f"handle {handle!r} is in several preview campaigns ({names}); pass --campaign NAME")
    if not preview:
        _preview_campaign(ctx, by_campaign[0][0].name)  # raises: not a preview campaign
    return preview[0]


def _check_active(campaign: Campaign) -> None:
    if campaign.status is CampaignStatus.PAUSED:
        raise PreviewError(
            f"campaign {campaign.name!r} is paused ({campaign.pause_reason or 'by an operator'}); "
            f"resume it with `dialer campaign resume {campaign.name}`"
        )


def sweep(ctx: Context, campaign: Campaign, *, now: datetime) -> None:
    """Return expired locks to the pool (the tick does the same on its own schedule)."""
    ctx.store.release_expired_leases([campaign.id], now=now)
    tick.settle_expired_holds(ctx, [campaign], now=now)


def _on_desk(ctx: Context, campaign: Campaign, record: Record, agent: str, *, now: datetime) -> Record:
    """``record`` as locked to ``agent`` (after expired locks were swept), or a refusal that
    says what to do."""
    sweep(ctx, campaign, now=now)
    record = ctx.store.get_record_by_id(record.id)
    holder = rules.agent_of(record.lease_owner)
    on_desk = record.status in (RecordStatus.LEASED, RecordStatus.DIALING)
    if on_desk and holder == agent:
        return record
    if on_desk and holder is not None:
        raise RecordLocked(
            f"record {record.handle!r} is locked by agent {holder!r} until {record.lease_until:%Y-%m-%d %H:%M} UTC; "
            f"ask for another with `dialer preview next --campaign {campaign.name} --agent {agent}`"
        )
    if record.status.is_final:
        raise NotOnDesk(f"record {record.handle!r} is already final ({record.status.value}); nothing to do")
    raise NotOnDesk(
        f"record {record.handle!r} is not on {agent}'s desk (its lock expired, or it was never requested); "
        f"request a record with `dialer preview next --campaign {campaign.name} --agent {agent}`"
    )


def _last_attempt(ctx: Context, record: Record) -> Attempt | None:
    attempts = ctx.store.attempts_for_record(record.id)
    return attempts[-1] if attempts else None


def _view(ctx: Context, campaign: Campaign, record: Record, agent: str) -> PreviewRecord:
    state, attempt_id, call_outcome = "locked", None, None
    if record.status is RecordStatus.DIALING:
        last = _last_attempt(ctx, record)
        if last is not None:
            attempt_id = last.id
            ended = last.ended_at is not None
            state = "awaiting_disposition" if ended else "dialing"
            call_outcome = last.outcome.value if ended and last.outcome else None
    timer = rules.auto_dial_after(campaign.options)
    auto_dial_at = record.offered_at + timer if timer is not None and state == "locked" and record.offered_at else None
    return PreviewRecord(
        auto_dial_at=auto_dial_at,
        campaign=campaign.name,
        handle=record.handle,
        phone=record.phone,
        caller_id=campaign.caller_id_for(record.caller_id),
        user_data=dict(record.user_data),
        attempts=record.attempts,
        max_attempts=campaign.max_attempts,
        last_outcome=record.last_outcome.value if record.last_outcome else None,
        record_type=record.record_type.value,
        agent=agent,
        locked_until=record.lease_until,
        state=state,
        attempt_id=attempt_id,
        call_outcome=call_outcome,
    )


# ------------------------------------------------------------------------ flow
def next_record(ctx: Context, campaign: str, agent: str, *, now: datetime) -> PreviewRecord | None:
    """The agent's record: the one already on the desk, else the next due record that passes
    every compliance gate (callbacks first, then by schedule), locked to the agent. ``None``
    when no record is due."""
    agent = _check_agent(agent)
    c = _preview_campaign(ctx, campaign)
    _check_active(c)
    sweep(ctx, c, now=now)
    owner = rules.desk_owner(agent)
    lock = rules.lock_length(c.options)
    desk = ctx.store.desk_records(c.id, owner)
    if desk:
        record = desk[0]
        ctx.store.extend_lock(record.id, owner, until=now + lock, now=now)
        return _view(ctx, c, ctx.store.get_record_by_id(record.id), agent)
    for _ in range(MAX_GATED_CLAIMS):
        claims = ctx.store.claim_records(
            c.id, limit=1, worker=owner, lease_seconds=lock.total_seconds(), now=now, agent=agent
        )
        if not claims:
            return None
        claim = claims[0]
        gate = compliance.evaluate(tick.dial_context(c, claim.record, on_dnc=claim.on_dnc, now=now))
        if gate.allowed:
            return _view(ctx, c, claim.record, agent)
        tick.hold(ctx, claim.record, gate, now=now)
    return None


def on_desk(ctx: Context, campaign: str, agent: str, *, now: datetime) -> PreviewRecord | None:
    """The record on the agent's desk for ``campaign``, if any, without handing out a new one
    (an expired lock has returned its record to the pool)."""
    agent = _check_agent(agent)
    c = _preview_campaign(ctx, campaign)
    sweep(ctx, c, now=now)
    desk = ctx.store.desk_records(c.id, rules.desk_owner(agent))
    return _view(ctx, c, desk[0], agent) if desk else None


def preview_campaigns(ctx: Context) -> list[Campaign]:
    """The campaigns agents work from the preview desk."""
    return [c for c in ctx.store.list_campaigns() if c.mode is DialMode.PREVIEW]


def dial(ctx: Context, handle: str, agent: str, *, now: datetime, campaign: str | None = None) -> DialResult:
    """Dial the record on the agent's desk, after running every gate again (a number put on
    the do-not-call list since the record was handed out is refused)."""
    agent = _check_agent(agent)
    c, record = _locate(ctx, handle, campaign)
    _check_active(c)
    record = _on_desk(ctx, c, record, agent, now=now)
    if record.status is RecordStatus.DIALING:
        raise PreviewError(
            f"record {handle!r} has already been dialed; give its disposition with "
            f"`dialer preview complete {handle} --agent {agent} --disposition RESULT`"
        )
    on_dnc = bool(ctx.store.dnc_hits([record.phone], campaign_id=c.id))
    dial_ctx = tick.dial_context(c, record, on_dnc=on_dnc, now=now)
    gate = compliance.evaluate(dial_ctx)
    if not gate.allowed:
        tick.hold(ctx, record, gate, now=now)
        raise DialRefused(
            f"not dialed: {gate.reason} ({gate.rule}); the record left {agent}'s desk. "
            f"Ask for another with `dialer preview next --campaign {c.name} --agent {agent}`",
            rule=gate.rule,
        )
    attempt_id = str(uuid.uuid4())
    outcome = tick.place(
        ctx,
        c,
        record,
        caller_id=dial_ctx.caller_id,
        reason=f"preview: dialed by agent {agent}",
        now=now,
        preview=True,
        agent=agent,
        attempt_id=attempt_id,
    )
    if outcome == "placed":
        return DialResult(
            handle=handle,
            attempt_id=attempt_id,
            phone=record.phone,
            caller_id=dial_ctx.caller_id,
            placed=True,
            message=f"dialing {record.phone}; when the call ends, give its disposition with "
            f"`dialer preview complete {handle} --agent {agent} --disposition RESULT`",
        )
    if outcome == "placed_rejected":
        attempt = ctx.store.get_attempt(attempt_id)
        after = ctx.store.get_record_by_id(record.id)
        return DialResult(
            handle=handle,
            attempt_id=attempt_id,
            phone=record.phone,
            caller_id=dial_ctx.caller_id,
            placed=False,
            message=f"the provider refused the call ({attempt.outcome}: {attempt.error}); the record is now "
            f"{after.status.value} and left the desk",
        )
    if outcome == "stop":
        paused = ctx.store.get_campaign(c.name)
        raise PreviewError(f"not dialed: dialing stopped for the campaign: {paused.pause_reason}")
    if outcome == "in_flight_same_number":
        raise PreviewError(
            f"not dialed: {record.phone} is being called right now by another attempt; the record went back "
            "to the pool and will be offered again in 30 seconds"
        )
    if outcome == tick.FENCED:
        raise PreviewError(
            "not dialed: this process's pacer lease on the campaign is about to run out unrenewed (is the "
            "database reachable?), so no call may be sent under it; the record went back to the pool. Try again "
            f"shortly with `dialer preview next --campaign {c.name} --agent {agent}`"
        )
    raise PreviewError(
        f"not dialed: the telephony provider is unavailable; the record went back to the pool. Try again "
        f"shortly with `dialer preview next --campaign {c.name} --agent {agent}`"
    )


def skip(
    ctx: Context, handle: str, agent: str, *, now: datetime, reason: str = "", campaign: str | None = None
) -> DeskResult:
    """Give the record back to the pool without dialing it (no attempt counted)."""
    agent = _check_agent(agent)
    c, record = _locate(ctx, handle, campaign)
    record = _on_desk(ctx, c, record, agent, now=now)
    if record.status is not RecordStatus.LEASED:
        raise PreviewError(
            f"record {handle!r} has already been dialed; give its disposition with "
            f"`dialer preview complete {handle} --agent {agent} --disposition RESULT` instead of skipping it"
        )
    why = reason.strip() or "no reason given"
    detail = f"skipped by agent {agent}: {why}"
    ctx.store.release_record(record.id, now=now, next_dial_at=now, blocked_detail=detail)
    ctx.store.add_campaign_event(c.id, kind="preview_skip", message=f"{handle}: {detail}", now=now)
    return DeskResult(handle=handle, action="skip", status="ready", next_dial_at=now, message=detail)


def parse_time(ctx: Context, handle: str, text: str, *, campaign: str | None = None) -> datetime:
    """An ISO 8601 time for :func:`reschedule`; without a zone it is in the campaign's zone."""
    try:
        at = datetime.fromisoformat(text.strip())
    except ValueError as exc:
        raise PreviewError(
            f"cannot read the time {text!r}: use ISO 8601, e.g. 2026-03-03T14:30 (the campaign's zone) "
            "or 2026-03-03T14:30-05:00"
        ) from exc
    if at.tzinfo is None:
        c, _ = _locate(ctx, handle, campaign)
        at = at.replace(tzinfo=ZoneInfo(c.zone))
    return at


def reschedule(
    ctx: Context,
    handle: str,
    agent: str,
    at: datetime,
    *,
    now: datetime,
    campaign: str | None = None,
    personal: bool = False,
) -> DeskResult:
    """Call the record back at ``at`` (a campaign callback), clamped into its calling window.
    Before the call this releases the record; after it, it is the agent's disposition. With
    ``personal`` it is a personal callback, reserved for ``agent`` until the campaign's
    ``personal_callback_grace_seconds`` after the callback time."""
    agent = _check_agent(agent)
    if at.tzinfo is None:
        raise PreviewError("the callback time needs a time zone (the CLI applies the campaign's zone)")
    c, record = _locate(ctx, handle, campaign)
    if at < now:
        raise PreviewError(f"the callback time {at.isoformat()} is in the past; give a later time")
    if at > now + MAX_RESCHEDULE:
        raise PreviewError(f"the callback time {at.isoformat()} is more than a year ahead; give an earlier time")
    record = _on_desk(ctx, c, record, agent, now=now)
    zones = record.zones or c.fallback_zones
    window = c.window.narrowed(record.daily_from, record.daily_till)
    opens = windows.next_open(window, zones, at)
    if opens is None:
        raise PreviewError(
            f"the calling window {window.describe()} does not open within {windows.SEARCH_DAYS} days after "
            f"{at.isoformat()}; pick another time or fix the record's hours"
        )
    notes = []
    if opens > at:
        notes.append(
            f"moved from {at.isoformat()} to {opens:%Y-%m-%d %H:%M} UTC: the callee's calling window "
            f"{window.describe()} ({', '.join(zones)}) is closed until then"
        )
    attempt_id, disposition = None, None
    if record.status is RecordStatus.DIALING:
        last = _last_attempt(ctx, record)
        if last is not None and last.ended_at is None:
            raise PreviewError(f"the call to {record.phone} is still in progress; reschedule it after it ends")
        attempt_id, disposition = (last.id if last else None), rules.RESCHEDULED
    message = f"callback by agent {agent} at {opens:%Y-%m-%d %H:%M} UTC"
    reserved_until = None
    if personal:
        reserved_until = opens + rules.personal_grace(c.options)
        message = (
            f"personal callback for agent {agent} at {opens:%Y-%m-%d %H:%M} UTC; other agents get it only from "
            f"{reserved_until:%Y-%m-%d %H:%M} UTC if {agent} has not taken it"
        )
    after = ctx.store.reschedule_record(
        record.id,
        at=opens,
        record_type=(RecordType.PERSONAL_CALLBACK if personal else RecordType.CAMPAIGN_CALLBACK).value,
        reason=message,
        now=now,
        attempt_id=attempt_id,
        disposition=disposition,
        reserved_for=agent if personal else None,
        reserved_until=reserved_until,
    )
    ctx.store.add_campaign_event(c.id, kind="preview_reschedule", message=f"{handle}: {message}", now=now)
    return DeskResult(
        handle=handle,
        action="reschedule",
        status=after.status.value,
        next_dial_at=after.next_dial_at,
        message=message,
        disposition=disposition,
        notes=notes,
    )


def auto_dial(ctx: Context, *, now: datetime, campaigns: list[Campaign] | None = None) -> list[DialResult]:
    """The auto-dial timer: dial every record that has sat undialed on an agent's desk for the
    campaign's ``preview_auto_dial_seconds``. A record a gate refuses leaves the desk with its
    reason, as when the agent dials; each dial is logged as a campaign event."""
    results: list[DialResult] = []
    for c in campaigns if campaigns is not None else preview_campaigns(ctx):
        timer = rules.auto_dial_after(c.options)
        if c.mode is not DialMode.PREVIEW or timer is None or c.status is CampaignStatus.PAUSED:
            continue
        for record in ctx.store.offered_before(c.id, before=now - timer):
            agent = rules.agent_of(record.lease_owner)
            if agent is None:
                continue
            try:
                result = dial(ctx, record.handle, agent, now=now, campaign=c.name)
            except (PreviewError, ComplianceBlocked, NotFound) as exc:
                message = f"{record.handle}: auto-dial for agent {agent} not placed: {exc}"
            else:
                results.append(result)
                message = f"{record.handle}: auto-dialed for agent {agent} after {timer.total_seconds():.0f} s"
            ctx.store.add_campaign_event(c.id, kind="preview_auto_dial", message=message, now=now)
    return results


def _log_session(
    ctx: Context, campaign: Campaign, record: Record, call: Attempt, agent: str, result: CallResult, *, now: datetime
) -> str | None:
    """Log the dispositioned preview call with the provider, when it keeps session records
    (Evo Voice: a NewSession under the call's session). A failure is a note, never a refusal:
    the disposition is already stored."""
    telephony = ctx.telephony
    if not isinstance(telephony, PreviewSessionLog) or call.backend != ctx.telephony.name:
        return None
    entry = PreviewSession(
        campaign=campaign.name,
        handle=record.handle,
        number=call.number_dialed,
        caller_id=call.caller_id,
        user_data=record.user_data,
        agent=agent,
        disposition=result.value,
        call_ref=call.provider_ref,
    )
    try:
        session_id = telephony.log_preview(entry, now=now)
    except TelephonyError as exc:
        return f"the preview session was not logged with the provider: {exc}"
    if session_id is None:
        return None
    note = f"logged as {ctx.telephony.name} session {session_id}" + (
        f", under the call's session {call.provider_ref}" if call.provider_ref else ""
    )
    ctx.store.add_campaign_event(campaign.id, kind="preview_session", message=f"{record.handle}: {note}", now=now)
    return note


def complete(
    ctx: Context, handle: str, agent: str, disposition: str, *, now: datetime, campaign: str | None = None
) -> DeskResult:
    """The agent's disposition: it becomes the call's canonical result, and the retry
    treatment decides what follows (final results end the record; ``DO_NOT_CALL`` also puts
    the number on the do-not-call list). Without a call only ``DO_NOT_CALL`` and
    ``CANCEL_RECORD`` are accepted."""
    agent = _check_agent(agent)
    try:
        result = rules.parse_disposition(disposition)
    except ValueError as exc:
        raise PreviewError(str(exc)) from exc
    c, record = _locate(ctx, handle, campaign)
    record = _on_desk(ctx, c, record, agent, now=now)
    notes: list[str] = []
    if record.status is RecordStatus.LEASED:
        final = rules.WITHOUT_CALL.get(result)
        if final is None:
            raise PreviewError(
                f"record {handle!r} has not been dialed: dial it (`dialer preview dial {handle} --agent {agent}`) "
                f"or skip it; only {' and '.join(r.value for r in rules.WITHOUT_CALL)} complete a record "
                "without a call"
            )
        detail = f"{result.value} by agent {agent}, without a call"
        ctx.store.finalize_record(record.id, final, reason="agent_disposition", detail=detail, now=now)
        status, next_at, message = final.value, None, detail
    else:
        last = _last_attempt(ctx, record)
        if last is None:
            raise PreviewError(
                f"record {handle!r} has no call to complete; request it again with `dialer preview next`"
            )
        if last.ended_at is None:
            raise PreviewError(
                f"the call to {record.phone} is still in progress; give the disposition after it ends "
                "(the daemon collects the result; `dialer run --once` does it by hand)"
            )
        if last.outcome is not None and last.outcome is not result:
            notes.append(f"the provider reported {last.outcome.value}; the disposition {result.value} replaces it")
        finished = ctx.store.dispose_attempt(
            last.id,
            result=result,
            disposition=result.value,
            decide=lambda r, res: tick.decide_next(c, r, res, now=now),
            now=now,
        )
        status = finished.record.status.value
        next_at = finished.decision.retry_at if not finished.record.status.is_final else None
        message = finished.decision.reason
        logged = _log_session(ctx, c, record, last, agent, result, now=now)
        if logged:
            notes.append(logged)
    if result is CallResult.DO_NOT_CALL:
        ctx.store.add_dnc([record.phone], source="disposition", note=f"preview: {handle} by agent {agent}", now=now)
        notes.append(f"{record.phone} added to the do-not-call list")
    return DeskResult(
        handle=handle,
        action="complete",
        status=status,
        next_dial_at=next_at,
        message=message,
        disposition=result.value,
        notes=notes,
    )
