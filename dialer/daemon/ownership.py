"""One campaign, one pacer: campaign leases held by ``dialer run`` processes.

Every process that paces (``dialer run`` in any mode, the pacer inside ``dialer web``) holds
a lease on each campaign it paces, in the store's ``campaign_pacers`` table
(:mod:`dialer.store.pacers`), and renews it on a heartbeat thread every
``pacer_heartbeat_seconds``. Leases last ``pacer_lease_seconds``.

* **Exclusive runs.** ``dialer run --campaign X`` while another live process holds X fails
  with :class:`~dialer.errors.CampaignOwned`, naming that process's host, pid and since when.
* **Several daemons.** ``dialer run`` over all campaigns takes the campaigns no live process
  holds, and on every heartbeat looks again for campaigns that are free (a new campaign, or a
  lease whose owner died and stopped renewing): another daemon takes a campaign over within
  ``pacer_lease_seconds + pacer_heartbeat_seconds`` of its owner's last heartbeat (7.5 s by
  default).
* **Fencing.** A process dials or collects for a campaign only while :meth:`Pacers.owns`:
  until ``pacer_lease_seconds - pacer_heartbeat_seconds`` after the start of its last
  successful renewal, by the local monotonic clock. A process that cannot renew (database
  unreachable, the process stalled) stops dialing that campaign at least one heartbeat before
  its lease can expire and be taken over.
* **Takeover.** A newly taken campaign is reconciled before it is paced: calls left in flight
  by the previous owner are settled with the provider (the restart reconciliation path).

Lease times are wall-clock UTC, whatever clock the run uses (a virtual-time rehearsal jumps
ahead; its lease does not).
"""

from __future__ import annotations

import logging
import math
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime

from dialer.context import Context
from dialer.errors import CampaignOwned, DialerError
from dialer.settings import Settings
from dialer.store.repository import PacerLease, SqlStore

log = logging.getLogger(__name__)


def process_owner_id() -> str:
    """``host:pid:token``: the host and process, and a token that tells a restarted process
    (same pid in a container) from the old one."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def wall_clock() -> datetime:
    return datetime.now(UTC)


def owned_message(name: str, lease: PacerLease, *, now: datetime) -> str:
    return (
        f"campaign {name!r} is already paced by another dialer process: {lease.describe(now)}. One campaign has one "
        "pacer. Stop that process first (its lease is released when it exits, or expires "
        f"{max(0.0, (lease.expires_at - now).total_seconds()):.0f} s after its last heartbeat if it died), or run "
        "`dialer run` without --campaign to pace only the campaigns no daemon paces"
    )


class Pacers:
    """The campaign leases this process holds; :meth:`owns` is the fence the tick checks."""

    def __init__(
        self,
        store: SqlStore,
        *,
        lease_seconds: float,
        heartbeat_seconds: float,
        owner: str | None = None,
        wall: Callable[[], datetime] = wall_clock,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.owner = owner or process_owner_id()
        self.lease_seconds = lease_seconds
        self.heartbeat_seconds = heartbeat_seconds
        self.wall = wall
        self.monotonic = monotonic
        self._lock = threading.Lock()
        self._held: dict[int, float] = {}
        """Campaign id → the monotonic instant after which this process must not dial it."""
        self._fresh: set[int] = set()
        self._candidates: Callable[[], Sequence[int]] | None = None
        self._surplus: set[int] = set()
        self._fair = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._failing = False

    # ------------------------------------------------------------- the fence
    def owns(self, campaign_id: int) -> bool:
        with self._lock:
            deadline = self._held.get(campaign_id)
        return deadline is not None and self.monotonic() < deadline

    def remaining(self, campaign_id: int) -> float | None:
        """Seconds left before the fence closes on the campaign unless a renewal comes first
        (the lease itself runs at least one heartbeat longer); None when it is not held."""
        with self._lock:
            deadline = self._held.get(campaign_id)
        return None if deadline is None else deadline - self.monotonic()

    def owned(self) -> set[int]:
        now = self.monotonic()
        with self._lock:
            return {cid for cid, deadline in self._held.items() if now < deadline}

    def take_fresh(self) -> set[int]:
        """Campaigns taken since the last call: reconcile them before pacing them."""
        with self._lock:
            fresh, self._fresh = self._fresh, set()
        return fresh

    # ------------------------------------------------------------ taking leases
    def _deadline(self, started: float) -> float:
        return started + self.lease_seconds - self.heartbeat_seconds

    def acquire(self, campaign_ids: Sequence[int], *, limit: int | None = None) -> dict[int, PacerLease]:
        """Take every campaign no other live process holds (at most ``limit`` of them);
        returns the others' leases."""
        others: dict[int, PacerLease] = {}
        taken = 0
        for cid in campaign_ids:
            if limit is not None and taken >= limit:
                break
            started, now = self.monotonic(), self.wall()
            lease = self.store.acquire_pacer(cid, owner=self.owner, lease_seconds=self.lease_seconds, now=now)
            if lease.owner != self.owner:
                others[cid] = lease
                continue
            taken += 1
            with self._lock:
                if cid not in self._held:
                    self._fresh.add(cid)
                    log.info("pacing campaign %s (lease %s)", cid, self.owner)
                self._held[cid] = self._deadline(started)
        return others

    def acquire_exclusive(self, campaigns: dict[int, str]) -> None:
        """Take all of ``campaigns`` (id → name) or none: raises :class:`CampaignOwned` naming
        the process that holds one of them."""
        others = self.acquire(list(campaigns))
        if others:
            self.release()
            cid, lease = next(iter(others.items()))
            raise CampaignOwned(owned_message(campaigns[cid], lease, now=self.wall()))

    def renew(self) -> None:
        """Renew the leases held; a lease another process has taken is dropped (and logged)."""
        with self._lock:
            held = list(self._held)
        if not held:
            return
        started, now = self.monotonic(), self.wall()
        kept = self.store.renew_pacers(held, owner=self.owner, lease_seconds=self.lease_seconds, now=now)
        with self._lock:
            for cid in held:
                if cid in kept:
                    self._held[cid] = self._deadline(started)
                elif self._held.pop(cid, None) is not None:
                    self._fresh.discard(cid)
                    log.warning("lost the pacer lease of campaign %s to another process; no longer pacing it", cid)

    def heartbeat(self) -> None:
        """Renew, then take the free campaigns among the candidates (when watching) — with
        ``fair``, only up to this daemon's share, handing any surplus over."""
        try:
            self.renew()
            candidates = self._candidates
            if candidates is not None and not self._stop.is_set():
                wanted = list(candidates())
                held = self.owned()
                limit = None
                if self._fair:
                    live = self.store.beat_daemon(owner=self.owner, lease_seconds=self.lease_seconds, now=self.wall())
                    share = math.ceil(len(wanted) / max(1, live))
                    limit = max(0, share - len(held))
                    if len(held) > share:  # more daemons now: give the surplus to them
                        with self._lock:
                            self._surplus = set(sorted(held)[share:])
                self.acquire([cid for cid in wanted if cid not in held], limit=limit)
        except DialerError as exc:
            if not self._failing:
                log.error("cannot renew the pacer leases: %s; dialing stops when they run out", exc)
            self._failing = True
            return
        if self._failing:
            log.warning("pacer leases renewed again")
            self._failing = False

    # ------------------------------------------------------------ the heartbeat
    def hand_over(self) -> set[int]:
        """Give up the surplus campaigns the heartbeat found (this daemon holds more than its
        share). Called by the thread that dials, between ticks, so that no placement of this
        daemon is under way on them when another daemon takes them and reconciles."""
        with self._lock:
            surplus, self._surplus = self._surplus, set()
            for cid in surplus:
                self._held.pop(cid, None)
                self._fresh.discard(cid)
        if surplus:
            log.info("handing campaigns %s over to other daemons (fair share)", sorted(surplus))
            try:
                self.store.release_pacers(owner=self.owner, campaign_ids=sorted(surplus))
            except DialerError as exc:  # they expire on their own; this daemon no longer dials them
                log.warning("could not release campaigns %s (%s); their leases expire", sorted(surplus), exc)
        return surplus

    def start(self, *, watch: Callable[[], Sequence[int]] | None = None, fair: bool = False) -> None:
        """Renew on a thread every ``heartbeat_seconds``; with ``watch`` (campaign ids to
        look at), also take those no live process holds — with ``fair``, no more than this
        daemon's share of them: ``ceil(campaigns / live daemons)``."""
        self._candidates = watch
        self._fair = fair
        self._stop.clear()
        self._thread = threading.Thread(target=self._beat, name="pacer-heartbeat", daemon=True)
        with _RUNNING_LOCK:
            _RUNNING.add(self)
        self._thread.start()

    def stop_watching(self) -> None:
        """Keep renewing what is held, but take nothing new (the process is stopping)."""
        self._candidates = None

    def _beat(self) -> None:
        while not self._stop.wait(self.heartbeat_seconds):
            try:
                self.heartbeat()
            except Exception as exc:
                log.warning("pacer heartbeat failed (%s: %s); retrying", type(exc).__name__, exc)

    def stop(self) -> None:
        """Stop the heartbeat and give the leases up: another daemon may take them at once."""
        self._stop.set()
        with _RUNNING_LOCK:
            _RUNNING.discard(self)
        if self._thread is not None:
            self._thread.join(timeout=self.heartbeat_seconds + 30)
            self._thread = None
        self.release()
        if self._fair:
            try:
                self.store.remove_daemon(owner=self.owner)
            except DialerError:
                pass  # forgotten when its heartbeat expires

    def release(self) -> None:
        with self._lock:
            held, self._held, self._fresh = list(self._held), {}, set()
        if held:
            try:
                self.store.release_pacers(owner=self.owner, campaign_ids=held)
            except DialerError as exc:  # they expire on their own
                log.warning("could not release the pacer leases (%s); they expire in %g s", exc, self.lease_seconds)


_RUNNING: set[Pacers] = set()
_RUNNING_LOCK = threading.Lock()


def running() -> frozenset[Pacers]:
    """The pacer heartbeats this process runs now."""
    with _RUNNING_LOCK:
        return frozenset(_RUNNING)


def stop_all(*, keep: frozenset[Pacers] = frozenset()) -> int:
    """Stop every heartbeat this process still runs, except those in ``keep``, and give up
    their leases (an embedding application shutting down, or a test suite after a test that
    left a daemon running). Returns how many."""
    stopping = running() - keep
    for pacers in stopping:
        pacers.stop()
    return len(stopping)


def for_settings(store: SqlStore, settings: Settings) -> Pacers:
    return Pacers(store, lease_seconds=settings.pacer_lease_seconds, heartbeat_seconds=settings.pacer_heartbeat_seconds)


@contextmanager
def holding(ctx: Context, campaigns: Sequence[str] | None, *, every: bool) -> Iterator[Pacers]:
    """Hold the pacer leases of a run that ends by itself (``--once``, ``--until-done``) while
    it lasts: the campaigns named (or, with ``every``, all campaigns) or fail naming the
    process that paces one of them; else the campaigns no live process paces, failing only
    when there are campaigns and other processes pace them all."""
    pacers = for_settings(ctx.store, ctx.settings)
    by_name = {c.name: c.id for c in ctx.store.list_campaigns()}
    wanted = {by_name[n]: n for n in campaigns} if campaigns else {cid: n for n, cid in by_name.items()}
    if campaigns or every:
        pacers.acquire_exclusive(wanted)
    else:
        others = pacers.acquire(list(wanted))
        now = pacers.wall()
        if others and len(others) == len(wanted):
            pacers.release()
            raise CampaignOwned(
                "every campaign is paced by another dialer process: "
                + "; ".join(f"{wanted[cid]!r} by {lease.describe(now)}" for cid, lease in others.items())
                + ". Nothing is left for this run to pace"
            )
        for cid, lease in others.items():
            log.warning(
                "campaign %s is paced by another dialer process (%s); skipped", wanted[cid], lease.describe(now)
            )
    ctx.fence = pacers
    pacers.start()
    try:
        yield pacers
    finally:
        ctx.fence = None
        pacers.stop()
