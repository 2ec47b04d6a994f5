"""The telephony port over Evo Voice (``--backend evovoice``), on :class:`EvoVoiceApi`.

Calls are placed with
NewOutgoingSession (``POST /sessions/outgoing``), which documents no response: the adapter
accepts an empty body, ``{}``, 204 or a ``SessionInfo``, and when no session id comes back
it *correlates* — lists ``GET /sessions`` to the dialed number since the placement and takes
the newest unclaimed session (:func:`~dialer.telephony.evo_mapping.match_session`). Results
come only by polling, batched through ``specificIds``; :mod:`~dialer.telephony.evo_mapping`
turns a finished ``SessionInfo`` into a canonical result.

How HTTP failures surface (every one a :mod:`dialer.errors` exception, cause kept)::

    400                    TelephonyRejected  (bad_number: field NumberToDial; bad_caller_id: CallerId)
    401, 403               TelephonyAuthError (the message names the setting or the role)
    404, 405, other 4xx    TelephonyRejected
    409, 429, 5xx          TelephonyUnavailable — reads are retried first, with jittered backoff
    transport errors       TelephonyUnavailable — reads are retried first
    placement POST:
      not sent (connect)   TelephonyUnavailable
      sent, no answer      PlacementUncertain — timeouts, dropped connections and 5xx: the call may
                           be ringing, so it is never re-posted; reconcile() looks for its session

Polling budgets: each session is read at most every ``poll_interval`` seconds (dialer time),
up to ``batch_size`` ids per request and ``max_requests`` requests per poll; after a failed
poll the adapter waits ``poll_interval × 2ⁿ`` (capped); after a 429 it also stops placing
calls for a cool-down, so the pacer slows down instead of hammering the API.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Container, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from dialer.domain import phones
from dialer.domain.records import AttemptState
from dialer.errors import (
    ConfigError,
    DialerError,
    PlacementUncertain,
    TelephonyAuthError,
    TelephonyError,
    TelephonyRejected,
    TelephonyUnavailable,
)
from dialer.settings import Settings
from dialer.telephony import evo_mapping
from dialer.telephony.base import (
    AgentView,
    CallHandle,
    CallRequest,
    CallUpdate,
    CentreStats,
    Placement,
    PreviewSession,
)
from dialer.telephony.evo_voice import sessions
from dialer.telephony.evo_voice.api import EvoVoiceApi
from dialer.telephony.evo_voice.calls import TrackedCall, endpoint_is, not_found, session_update, text, vanished

log = logging.getLogger(__name__)

#: Roles that may place calls with NewOutgoingSession.
DIALING_ROLES = ("Manager", "SystemAdministrator")

# Documented defaults (constructor arguments override them).
BATCH_SIZE = 25
"""Session ids per ``GET /sessions?specificIds=`` request."""
MAX_REQUESTS = 20
"""HTTP requests one poll may spend; the least recently read sessions go first."""
CORRELATION_SKEW = timedelta(seconds=60)
"""Clock-skew allowance between the dialer and Evo Voice when matching ``dateCreated``."""
CORRELATION_PAGE = 200
"""Sessions per ``GET /sessions`` page when several placed calls are correlated at once."""
CORRELATION_PAGES = 10
"""Pages of sessions one poll may read back through to correlate placed calls."""
CORRELATION_MARGIN = timedelta(seconds=60)
"""After the ring timeout, how long a placed call may stay without a session before it ends
``UNKNOWN`` with ``session_not_found``."""
COOL_DOWN = timedelta(seconds=5)
COOL_DOWN_CAP = timedelta(seconds=60)
"""After a 429: no placements for this long, doubling while 429s continue."""
POLL_BACKOFF_CAP = timedelta(seconds=60)
TAG_TRIES = 3
"""Attempts at writing ``consoleData`` before giving up on one session."""


class EvoVoiceTelephony:
    """The telephony port over Evo Voice (see the module docstring for the protocol)."""

    name = "evovoice"
    concurrent_placements = True
    """Several placements may be under way at once, from several threads (the pooled client)."""

    def __init__(
        self,
        *,
        api: EvoVoiceApi,
        account_id: str | None = None,
        poll_interval: float = 2.0,
        tag_sessions: bool = True,
        outcome_map: evo_mapping.OutcomeMap | None = None,
        batch_size: int = BATCH_SIZE,
        max_requests: int = MAX_REQUESTS,
        correlation_skew: timedelta = CORRELATION_SKEW,
        correlation_margin: timedelta = CORRELATION_MARGIN,
        live_calls: bool = True,
        max_cps: float | None = 1.0,
        preview_sessions: bool = True,
        customer_id: str | None = None,
    ) -> None:
        self.preview_sessions = preview_sessions
        self.customer_id = customer_id
        self.max_cps = max_cps
        self.api = api
        self.account_id = account_id
        self.poll_interval = timedelta(seconds=poll_interval)
        self.tag_sessions = tag_sessions
        self.outcome_map = outcome_map or evo_mapping.compile_outcome_map(evo_mapping.DEFAULT_OUTCOME_MAP)
        self.batch_size = max(1, batch_size)
        self.max_requests = max(1, max_requests)
        self.skew = correlation_skew
        self.margin = correlation_margin
        self._calls: dict[str, TrackedCall] = {}
        #: Sessions matched to attempts: session id → (attempt id, when). A session claimed by one
        #: attempt is never matched to another; its own attempt finds it again (below).
        self._claimed: dict[str, tuple[str, datetime]] = {}
        #: attempt id → (session id, how it was found), for calls this process has matched.
        self._session_of: dict[str, tuple[str, str | None]] = {}
        self._ready = False
        self._cool_until: datetime | None = None
        self._cool_step = COOL_DOWN
        self._poll_failures = 0
        #: Told of each failure the backend absorbs itself (a poll that backs off): (error, operation).
        self.error_listener: Callable[[TelephonyError, str], None] | None = None
        self._poll_paused_until: datetime | None = None
        self._live_enabled = live_calls
        self._live_next: datetime | None = None
        self._live: dict[str, dict[str, Any]] = {}
        self._unknown_outcomes: set[str] = set()

    @classmethod
    def from_settings(cls, settings: Settings, **api_options: Any) -> EvoVoiceTelephony:
        password = settings.evovoice_password.get_secret_value() if settings.evovoice_password else ""
        if not settings.evovoice_username or not password:
            raise ConfigError(
                "the Evo Voice backend needs a login: set DIALER_EVOVOICE_USERNAME (the user's email) and "
                "DIALER_EVOVOICE_PASSWORD for a user with role Manager or SystemAdministrator"
            )
        try:
            outcome_map = evo_mapping.outcome_map_from_settings(settings.evovoice_outcome_map)
        except ValueError as exc:
            raise ConfigError(f"DIALER_EVOVOICE_OUTCOME_MAP: {exc}") from exc
        api = EvoVoiceApi(
            base_url=settings.evovoice_base_url,
            username=settings.evovoice_username,
            password=password,
            timeout=settings.evovoice_timeout,
            **api_options,
        )
        return cls(
            api=api,
            account_id=settings.evovoice_account_id,
            poll_interval=settings.evovoice_poll_interval,
            tag_sessions=settings.evovoice_tag_sessions,
            outcome_map=outcome_map,
            max_cps=settings.evovoice_max_cps,
            preview_sessions=settings.evovoice_preview_sessions,
            customer_id=settings.evovoice_customer_id,
        )

    # ------------------------------------------------------------- start-up
    def check_credentials(self) -> str:
        """``GET /auth/status``: the login must hold a dialing role and see the account."""
        user = self.api.auth_status()
        who = str(user.get("emailAddress") or user.get("name") or user.get("id") or "the configured user")
        if user.get("isAuthenticated") is False:
            raise TelephonyAuthError(
                f"Evo Voice does not consider {who} signed in. Check DIALER_EVOVOICE_USERNAME and "
                "DIALER_EVOVOICE_PASSWORD."
            )
        roles = [str(r) for r in user.get("roles") or ()]
        if not set(roles) & set(DIALING_ROLES):
            raise TelephonyAuthError(
                f"Evo Voice user {who} has role(s) {', '.join(roles) or 'none'}, but placing calls "
                "(NewOutgoingSession) needs Manager or SystemAdministrator. Ask an Evo Voice administrator to "
                "grant one, or set DIALER_EVOVOICE_USERNAME and DIALER_EVOVOICE_PASSWORD to a user who has it."
            )
        ids = [str(a) for a in user.get("accountIds") or ()]
        names = [str(n) for n in user.get("accountNames") or ()]
        listed = ", ".join(f"{i} ({n})" for i, n in zip(ids, names + [""] * len(ids), strict=False)) or "none"
        if self.account_id:
            if ids and self.account_id not in ids and "SystemAdministrator" not in roles:
                raise TelephonyAuthError(
                    f"DIALER_EVOVOICE_ACCOUNT_ID={self.account_id} is not an account of Evo Voice user {who} "
                    f"(accounts: {listed}). Set it to one of them."
                )
        elif len(ids) == 1:
            self.account_id = ids[0]
        elif len(ids) > 1:
            raise ConfigError(
                f"Evo Voice user {who} can see {len(ids)} accounts ({listed}); set DIALER_EVOVOICE_ACCOUNT_ID to "
                "the one to dial from"
            )
        self._ready = True
        return f"Evo Voice at {self.api.base_url}: {who} ({', '.join(roles)}), account {self.account_id or 'default'}"

    def provider_time(self) -> datetime | None:
        """Evo Voice's clock, from the ``Date`` header of the newest response (None before any)."""
        return self.api.last_date

    def check_caller_ids(self, numbers: Sequence[str]) -> Mapping[str, bool]:
        """Each caller ID is owned when ``GET /endpoints`` lists it as a PhoneNumber endpoint."""
        self._ensure_ready()
        owned: dict[str, bool] = {}
        for number in dict.fromkeys(numbers):
            if not phones.is_e164(number):
                owned[number] = False
                continue
            rows = self.api.list_endpoints(account_id=self.account_id, phone_number=evo_mapping.digits(number))
            owned[number] = any(endpoint_is(row, number) for row in rows)
        return owned

    def _ensure_ready(self) -> None:
        if not self._ready:
            self.check_credentials()

    # -------------------------------------------------------------- placing
    def place_call(self, request: CallRequest, *, now: datetime) -> Placement:
        if not phones.is_dialable(request.number):
            raise TelephonyRejected(
                f"numberToDial {request.number!r} is not a valid E.164 number; it was not sent to Evo Voice",
                status=400,
                bad_number=True,
            )
        if request.caller_id is not None and not phones.is_dialable(request.caller_id):
            raise TelephonyRejected(
                f"caller ID {request.caller_id!r} is not an E.164 number; it was not sent to Evo Voice",
                status=400,
                bad_caller_id=True,
            )
        if self._cool_until is not None and now < self._cool_until:
            raise TelephonyUnavailable(
                f"Evo Voice asked the dialer to slow down (HTTP 429); placing resumes after "
                f"{self._cool_until:%H:%M:%S} UTC",
                status=429,
                retry_after=(self._cool_until - now).total_seconds(),
            )
        self._ensure_ready()
        call = TrackedCall(
            attempt_id=request.attempt_id,
            campaign=request.campaign,
            number=request.number,
            placed_at=now,
            touched=now,
            ring_timeout=float(request.ring_timeout),
            user_data=dict(request.user_data),
            requested_caller_id=request.caller_id,
        )
        try:
            body = self.api.new_outgoing_session(
                flow_id=request.flow_id,
                number_to_dial=request.number,
                caller_id=request.caller_id,
                timeout=request.timeout,
            )
        except PlacementUncertain:
            self._calls[call.attempt_id] = call  # reconcile() needs the number and time
            raise
        except TelephonyUnavailable as exc:
            if exc.rate_limited:
                self._cool(now, retry_after=exc.retry_after)
                exc.retry_after = (self._cool_until - now).total_seconds() if self._cool_until else exc.retry_after
            raise
        self._cool_step = COOL_DOWN
        self._calls[call.attempt_id] = call
        session_id = body.get("id") if isinstance(body, dict) else None
        if isinstance(session_id, str) and session_id:
            assert isinstance(body, dict)
            self._claim(call, session_id, correlation="direct", now=now)
            call.reported = True
            call.call_sid = text(body, "callSid")
            return Placement(provider_ref=session_id, correlation="direct", call_sid=call.call_sid, raw=body)
        if body not in (None, {}, ""):
            log.info("Evo Voice answered a placement with an unexpected body %.200r; correlating instead", body)
        return Placement(provider_ref=None, correlation="pending")

    def _cool(self, now: datetime, *, retry_after: float | None = None) -> None:
        """No placements for the cool-down: at least what ``Retry-After`` asked for (capped),
        else a step that doubles while 429s continue."""
        wait = self._cool_step
        if retry_after is not None:
            wait = min(COOL_DOWN_CAP, max(timedelta(seconds=retry_after), timedelta(seconds=1)))
        cooling = self._cool_until is not None and now < self._cool_until
        self._cool_until = max(self._cool_until or now, now + wait)
        if cooling:  # another placement under way at the same time met the same 429
            return
        log.warning("Evo Voice rate limit (HTTP 429): no new calls for %.0f s", wait.total_seconds())
        self._cool_step = min(COOL_DOWN_CAP, self._cool_step * 2)

    def cooling_until(self, *, now: datetime) -> datetime | None:
        """Until when Evo Voice asked the dialer not to place calls (after a 429); None: it may."""
        return self._cool_until if self._cool_until is not None and now < self._cool_until else None

    # -------------------------------------------------------------- polling
    def poll(self, handles: Sequence[CallHandle], *, now: datetime) -> list[CallUpdate]:
        if not handles:
            return []
        tracked = [(self._track(h, now=now), h) for h in handles]
        self._forget_stale(now)
        if self._poll_paused_until is not None and now < self._poll_paused_until:
            return []
        budget = [self.max_requests]
        updates: list[CallUpdate] = []
        try:
            self._ensure_ready()
            self._refresh_live(now, budget)
            due = [(c, h) for c, h in tracked if c.next_poll is None or c.next_poll <= now]
            due.sort(key=lambda pair: pair[0].next_poll or pair[0].placed_at)
            known = [p for p in due if p[0].session_id is not None]
            updates.extend(self._correlate_all([p for p in due if p[0].session_id is None], now=now, budget=budget))
            for start in range(0, len(known), self.batch_size):
                if budget[0] <= 0:
                    break
                batch = known[start : start + self.batch_size]
                updates.extend(self._read_batch(batch, now=now, budget=budget))
        except TelephonyUnavailable as exc:
            self._poll_failed(exc, now=now)
            return updates
        except TelephonyAuthError as exc:
            # The login stopped working mid-run. Results wait; the next placement checks the
            # login again and its refusal pauses the campaign with the reason.
            self._ready = False
            self._poll_failed(exc, now=now)
            return updates
        self._poll_failures = 0
        self._tag_sessions(tracked, now=now, budget=budget)
        return updates

    def _correlate_all(
        self, pending: Sequence[tuple[TrackedCall, CallHandle]], *, now: datetime, budget: list[int]
    ) -> list[CallUpdate]:
        """Find the sessions of placed calls that have none yet. Several at once: the
        account's sessions are listed newest first, a page (:data:`CORRELATION_PAGE`) at a
        time, and each page is matched against every call still unmatched, until a page
        reaches back past the oldest placement (then a call left unmatched has no session
        yet), the budget is spent, or :data:`CORRELATION_PAGES` pages were read. Sessions
        created meanwhile only push older ones to later pages, so none is skipped. Calls the
        pages could not decide are searched by number, one request each, within the budget."""
        updates: list[CallUpdate] = []
        undecided = list(pending)
        if len(pending) > 1:
            earliest = min(c.placed_at for c, _ in pending) - self.skew
            per_page = min(CORRELATION_PAGE, max(BATCH_SIZE, 2 * len(pending)))
            page = 0
            while undecided and budget[0] > 0 and page < CORRELATION_PAGES:
                budget[0] -= 1
                rows = self.api.list_sessions(
                    account_id=self.account_id,
                    start_date=(earliest - timedelta(days=1)).date().isoformat(),
                    sort_order="Descend",
                    count_per_page=per_page,
                    page=page,
                )
                oldest = evo_mapping.parse_evo_datetime(rows[-1].get("dateCreated")) if rows else None
                complete = len(rows) < per_page or (oldest is not None and oldest < earliest)
                updates.extend(self._match_page(rows, undecided, now=now, complete=complete))
                if complete:
                    undecided = []
                page += 1
        for call, handle in undecided:
            if budget[0] <= 0:
                break
            found = self._correlate_for_poll(call, handle, now=now, budget=budget)
            if found is not None:
                updates.append(found)
        return updates

    def _match_page(
        self,
        rows: Sequence[dict[str, Any]],
        calls: list[tuple[TrackedCall, CallHandle]],
        *,
        now: datetime,
        complete: bool,
    ) -> list[CallUpdate]:
        """Match one page of sessions against ``calls``; the calls matched (and, when the page
        was ``complete``, those that cannot have a session yet) are taken out of ``calls``."""
        by_number: dict[str, list[dict[str, Any]]] = {}
        for row in rows:
            by_number.setdefault(evo_mapping.session_number(row), []).append(row)
        updates: list[CallUpdate] = []
        left: list[tuple[TrackedCall, CallHandle]] = []
        for call, handle in calls:
            match = evo_mapping.match_session(
                by_number.get(evo_mapping.digits(call.number), []),
                number=call.number,
                since=call.placed_at,
                skew=self.skew,
                claimed=_ClaimedByOthers(self._claimed, call.attempt_id),
            )
            if match is None and not complete:
                left.append((call, handle))
                continue
            call.next_poll = now + self.poll_interval
            update: CallUpdate | None = None
            if match is not None:
                self._claim(call, str(match["id"]), correlation="matched", now=call.touched)
                update = self._update(call, dict(match), handle, now=now, force=True)
            elif now - call.placed_at > timedelta(seconds=call.ring_timeout) + self.margin:
                update = self._not_found(call, now=now)
            if update is not None:
                updates.append(update)
        calls[:] = left
        return updates

    def _correlate_for_poll(
        self, call: TrackedCall, handle: CallHandle, *, now: datetime, budget: list[int]
    ) -> CallUpdate | None:
        call.next_poll = now + self.poll_interval
        session = self._find_session(call, budget=budget)
        if session is not None:
            return self._update(call, session, handle, now=now, force=True)
        if now - call.placed_at > timedelta(seconds=call.ring_timeout) + self.margin:
            return self._not_found(call, now=now)
        return None

    def _read_batch(
        self, batch: Sequence[tuple[TrackedCall, CallHandle]], *, now: datetime, budget: list[int]
    ) -> list[CallUpdate]:
        ids = [c.session_id for c, _ in batch if c.session_id]
        budget[0] -= 1
        found = {
            s.get("id"): s
            for s in self.api.list_sessions(account_id=self.account_id, specific_ids=ids, count_per_page=len(ids))
        }
        missing = [i for i in ids if i not in found]
        if missing and budget[0] > 0:  # a session not listed may have moved to the archive
            budget[0] -= 1
            archived = self.api.list_sessions(
                account_id=self.account_id, specific_ids=missing, count_per_page=len(missing), search_archive=True
            )
            found.update({s.get("id"): s for s in archived})
        updates = []
        for call, handle in batch:
            call.next_poll = now + self.poll_interval
            session = found.get(call.session_id)
            if session is None:
                call.misses += 1
                if call.misses >= 3:
                    updates.append(self._vanished(call, now=now))
                continue
            call.misses = 0
            update = self._update(call, session, handle, now=now)
            if update is not None:
                updates.append(update)
        return updates

    def _poll_failed(self, exc: TelephonyError, *, now: datetime) -> None:
        self._poll_failures += 1
        if self.error_listener is not None:
            self.error_listener(exc, "poll")
        wait = min(POLL_BACKOFF_CAP, self.poll_interval * 2 ** min(self._poll_failures, 10))
        self._poll_paused_until = now + wait
        if isinstance(exc, TelephonyUnavailable) and exc.rate_limited:
            self._cool(now, retry_after=exc.retry_after)
        level = logging.ERROR if isinstance(exc, TelephonyAuthError) else logging.WARNING
        log.log(level, "polling Evo Voice failed (%s); next poll in %.0f s", exc, wait.total_seconds())

    def _refresh_live(self, now: datetime, budget: list[int]) -> None:
        """``GET /calls/active`` once per poll interval: the live Twilio status of our calls.

        Evo reports no agent states (``agent_view`` is None, so the dialer infers them from its
        attempts); the live status moves an attempt to ringing or answered between session
        polls, which is what the pacer counts, and a machine ``answeredBy`` classifies the call.
        """
        if not self._live_enabled or (self._live_next is not None and now < self._live_next) or budget[0] <= 1:
            return
        budget[0] -= 1
        self._live_next = now + self.poll_interval
        try:
            rows = self.api.active_calls(account_id=self.account_id)
        except (TelephonyAuthError, TelephonyRejected) as exc:
            if exc.status == 401:
                raise
            # Some deployments restrict or lack GetActiveCalls; sessions alone still work.
            self._live_enabled = False
            log.warning("live call hints from /calls/active disabled: %s", exc)
            return
        self._live = {str(r["sid"]): r for r in rows if r.get("sid")}
        for call in self._calls.values():
            self._apply_live(call)

    def _apply_live(self, call: TrackedCall) -> None:
        row = self._live.get(call.call_sid or "")
        if row is not None:
            call.live_status = text(row, "status") or call.live_status
            call.live_answered_by = text(row, "answeredBy") or call.live_answered_by
            if call.live_status == "in-progress":
                call.seen_answer = True

    @property
    def live_calls(self) -> int:
        """Calls live on the account at the last ``/calls/active`` read (ours and others')."""
        return len(self._live)

    def _tag_sessions(
        self, tracked: Sequence[tuple[TrackedCall, CallHandle]], *, now: datetime, budget: list[int]
    ) -> None:
        """PATCH ``consoleData`` with the record's user data once the session has been read —
        for calls placed before a restart too (their user data is read from the store then).
        A session whose ``consoleData`` is already set is left alone: written before the
        restart, or by the flow, which may use the field."""
        if not self.tag_sessions:
            return
        for call, _ in tracked:
            if call.tagged or call.session_id is None or not call.read or call.tag_tries >= TAG_TRIES:
                continue
            if call.console_data:
                call.tagged = True
                continue
            if budget[0] <= 0:
                return
            if call.user_data is None:
                if call.load_user_data is None:
                    continue
                try:
                    call.user_data = dict(call.load_user_data())
                except DialerError as exc:
                    call.tag_tries = TAG_TRIES
                    log.warning("could not read the user data for session %s: %s", call.session_id, exc)
                    continue
            budget[0] -= 1
            call.tag_tries += 1
            try:
                self.api.patch_session(call.session_id, console_data=json.dumps(call.user_data, ensure_ascii=False))
            except TelephonyError as exc:
                if isinstance(exc, TelephonyRejected | TelephonyAuthError) or call.tag_tries >= TAG_TRIES:
                    call.tag_tries = TAG_TRIES
                    log.warning("could not write consoleData on session %s: %s", call.session_id, exc)
                continue
            call.tagged = True

    # ---------------------------------------------------------- reconciling
    def reconcile(self, handle: CallHandle, *, now: datetime) -> CallUpdate | None:
        self._ensure_ready()
        call = self._track(handle, now=now)
        if call.session_id is not None:
            session = self._read_one(call.session_id)
            if session is None:
                return self._vanished(call, now=now)
            return self._update(call, session, handle, now=now, force=True)
        # No session id: look for the session by number and time. Until the ring timeout and
        # margin have passed, "not found" is not an answer (a session may appear late), so
        # the attempt is reported unchanged, and searched again at most once per poll interval.
        settled = now - call.placed_at >= timedelta(seconds=call.ring_timeout) + self.margin
        if not settled and call.next_poll is not None and now < call.next_poll:
            return CallUpdate(attempt_id=call.attempt_id, state=handle.state)
        call.next_poll = now + self.poll_interval
        session = self._find_session(call, budget=[1])
        if session is not None:
            return self._update(call, session, handle, now=now, force=True)
        if not settled:
            return CallUpdate(attempt_id=call.attempt_id, state=handle.state)
        if handle.state in (AttemptState.PENDING, AttemptState.UNCERTAIN):
            return None  # no session for this attempt: Evo Voice never placed it
        return self._not_found(call, now=now)

    def _read_one(self, session_id: str) -> dict[str, Any] | None:
        for archive in (False, True):
            rows = self.api.list_sessions(
                account_id=self.account_id, specific_ids=[session_id], count_per_page=1, search_archive=archive
            )
            for row in rows:
                if row.get("id") == session_id:
                    return row
        return None

    def _find_session(self, call: TrackedCall, *, budget: list[int]) -> dict[str, Any] | None:
        """Correlate: the newest unclaimed session to the number since the placement."""
        budget[0] -= 1
        rows = self.api.list_sessions(
            account_id=self.account_id,
            to=evo_mapping.digits(call.number),
            start_date=(call.placed_at - timedelta(days=1)).date().isoformat(),
            sort_order="Descend",
            count_per_page=10,
        )
        match = evo_mapping.match_session(
            rows,
            number=call.number,
            since=call.placed_at,
            skew=self.skew,
            claimed=_ClaimedByOthers(self._claimed, call.attempt_id),
        )
        if match is None:
            return None
        self._claim(call, str(match["id"]), correlation="matched", now=call.touched)
        return dict(match)

    def _claim(self, call: TrackedCall, session_id: str, *, correlation: str | None, now: datetime) -> None:
        call.session_id = session_id
        call.correlation = correlation
        self._claimed[session_id] = (call.attempt_id, now)
        self._session_of[call.attempt_id] = (session_id, correlation)

    # ------------------------------------------------------------- hang up
    def hang_up(self, handle: CallHandle, *, now: datetime) -> None:
        self._ensure_ready()
        call = self._track(handle, now=now)
        if call.session_id is None and self._find_session(call, budget=[1]) is None:
            log.warning("cannot hang up attempt %s: its Evo Voice session is not known", handle.attempt_id)
            return
        assert call.session_id is not None
        self.api.end_session(call.session_id)

    # ------------------------------------------------------- preview desk
    def log_preview(self, session: PreviewSession, *, now: datetime) -> str | None:
        """Log an agent's dispositioned preview call as a session record
        (:func:`~dialer.telephony.evo_voice.sessions.log_preview`); None when switched off."""
        if not self.preview_sessions:
            return None
        return sessions.log_preview(self.api, session, customer_id=self.customer_id)

    # ---------------------------------------------------------- the rest
    def agent_view(self, campaign: str, *, now: datetime) -> AgentView | None:
        return None  # Evo Voice reports no agent states; the dialer infers them from its attempts

    def centre_stats(self, campaign: str, *, now: datetime) -> CentreStats | None:
        return None

    def next_event_at(self, *, now: datetime) -> datetime | None:
        """When the next session poll is due (virtual-time runs); None with nothing in flight."""
        due = [c.next_poll or now for c in self._calls.values()]
        return max(now, min(due)) if due else None

    def close(self) -> None:
        self.api.close()

    # ------------------------------------------------------------- helpers
    def _track(self, handle: CallHandle, *, now: datetime) -> TrackedCall:
        call = self._calls.get(handle.attempt_id)
        if call is None:
            call = TrackedCall(
                attempt_id=handle.attempt_id,
                campaign=handle.campaign,
                number=handle.number,
                placed_at=handle.placed_at,
                touched=now,
            )
            if not handle.provider_ref and handle.attempt_id in self._session_of:
                # Matched by an earlier poll whose update the store did not take (the write
                # failed, say): the same session again, reported again.
                call.session_id, call.correlation = self._session_of[handle.attempt_id]
            self._calls[handle.attempt_id] = call
        if handle.provider_ref and call.session_id != handle.provider_ref:
            # How the session was found is the dialer's record of it (``matched`` after a search,
            # ``direct`` from the placement's answer); unknown stays unknown.
            self._claim(call, handle.provider_ref, correlation=handle.correlation or call.correlation, now=now)
        if call.load_user_data is None:
            call.load_user_data = handle.load_user_data
        if handle.provider_ref:
            call.reported = True
        elif call.reported and call.session_id is not None:
            call.reported = False  # the store has not got the session: the next read reports it again
        call.seen_answer = call.seen_answer or handle.seen_answer
        call.touched = now
        return call

    def _forget_stale(self, now: datetime) -> None:
        """Drop attempts the dialer stopped mentioning, and old claims no match could reach."""
        for attempt_id in [a for a, c in self._calls.items() if now - c.touched > timedelta(hours=1)]:
            del self._calls[attempt_id]
        horizon = now - timedelta(days=2)
        for session_id in [s for s, (_, at) in self._claimed.items() if at < horizon]:
            attempt_id, _ = self._claimed.pop(session_id)
            if self._session_of.get(attempt_id, (None, None))[0] == session_id:
                del self._session_of[attempt_id]

    def _update(
        self, call: TrackedCall, session: Mapping[str, Any], handle: CallHandle, *, now: datetime, force: bool = False
    ) -> CallUpdate | None:
        """The session as a :class:`CallUpdate`; None when it shows nothing new."""
        call.call_sid = text(session, "callSid") or call.call_sid
        call.read = True
        call.console_data = text(session, "consoleData")
        used = evo_mapping.caller_id_used(session)
        if used and call.requested_caller_id and used != call.requested_caller_id:
            log.warning(
                "Evo Voice reports caller ID %s on session %s, but the dialer asked for %s; the attempt keeps %s",
                used,
                call.session_id,
                call.requested_caller_id,
                call.requested_caller_id,
            )
            call.requested_caller_id = None  # said once
        self._apply_live(call)
        update = session_update(call, session, handle=handle, now=now, outcome_map=self.outcome_map, force=force)
        if update is not None and update.state is AttemptState.ENDED:
            self._note_unknown_outcome(session)
            self._calls.pop(call.attempt_id, None)
        return update

    def _note_unknown_outcome(self, session: Mapping[str, Any]) -> None:
        outcome = text(session, "outcome")
        if outcome and evo_mapping.map_outcome(outcome, self.outcome_map) is None:
            key = outcome.strip().lower()
            if key not in self._unknown_outcomes:
                self._unknown_outcomes.add(key)
                log.info("Evo Voice outcome %r is not in the outcome map; classified by the session's flags", outcome)

    def _not_found(self, call: TrackedCall, *, now: datetime) -> CallUpdate:
        self._calls.pop(call.attempt_id, None)
        return not_found(call, now=now, margin=self.margin)

    def _vanished(self, call: TrackedCall, *, now: datetime) -> CallUpdate:
        self._calls.pop(call.attempt_id, None)
        return vanished(call, now=now)


class _ClaimedByOthers(Container[str]):
    """The claimed session ids, less the one ``attempt_id`` itself claimed (for
    :func:`~dialer.telephony.evo_mapping.match_session`, without copying the claims)."""

    def __init__(self, claims: Mapping[str, tuple[str, datetime]], attempt_id: str) -> None:
        self._claims = claims
        self._attempt = attempt_id

    def __contains__(self, session_id: object) -> bool:
        claim = self._claims.get(session_id) if isinstance(session_id, str) else None
        return claim is not None and claim[0] != self._attempt
