"""The campaign schedule: when the campaign itself runs, in the campaign's time zone.

This sits on top of the callee's calling window (:mod:`dialer.domain.windows`): a call is
allowed only when the callee's window *and* the campaign schedule are both open. The
schedule has optional hours and weekdays (in the campaign's zone, e.g. the call centre's
opening hours) and optional first and last dates (inclusive, local dates).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfoNotFoundError

from dialer.domain import windows
from dialer.domain.clock import ensure_aware
from dialer.domain.windows import CallingWindow, Constraint


class ScheduleState(StrEnum):
    OPEN = "open"
    NOT_STARTED = "not_started"
    CLOSED = "closed"
    """Between the dates, outside the hours or days."""
    ENDED = "ended"


@dataclass(frozen=True, kw_only=True)
class ScheduleCheck:
    state: ScheduleState
    until: datetime | None
    """When the schedule opens next (None when it never will)."""
    reason: str

    @property
    def is_open(self) -> bool:
        return self.state is ScheduleState.OPEN


@dataclass(frozen=True, kw_only=True)
class CampaignSchedule:
    timezone: str
    window: CallingWindow | None = None
    start_date: date | None = None
    end_date: date | None = None
    """The last day the campaign dials (inclusive), in the campaign's zone."""

    def __post_init__(self) -> None:
        try:
            windows.zone(self.timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown campaign time zone {self.timezone!r}") from exc
        if self.start_date and self.end_date and self.end_date < self.start_date:
            raise ValueError(f"the campaign end date {self.end_date} is before its start date {self.start_date}")

    @property
    def unrestricted(self) -> bool:
        return self.window is None and self.start_date is None and self.end_date is None

    @property
    def starts_at(self) -> datetime | None:
        if self.start_date is None:
            return None
        return windows.local_instant(self.start_date, time(0), self.timezone, opening=True)

    @property
    def ends_at(self) -> datetime | None:
        """The first instant after the last day (local midnight that ends it)."""
        if self.end_date is None:
            return None
        return windows.local_instant(self.end_date + timedelta(days=1), time(0), self.timezone, opening=False)

    def constraints(self) -> list[Constraint]:
        return [(self.window, (self.timezone,))] if self.window is not None else []

    def describe(self) -> str:
        parts = []
        if self.window is not None:
            parts.append(f"{self.window.describe()} {self.timezone}")
        if self.start_date is not None:
            parts.append(f"from {self.start_date}")
        if self.end_date is not None:
            parts.append(f"until {self.end_date}")
        return ", ".join(parts) if parts else "always"

    def check(self, now: datetime) -> ScheduleCheck:
        now = ensure_aware(now)
        ends, starts = self.ends_at, self.starts_at
        if ends is not None and now >= ends:
            return ScheduleCheck(
                state=ScheduleState.ENDED,
                until=None,
                reason=f"the campaign ended on {self.end_date} ({self.timezone}); set a later end date to dial again",
            )
        if self.unrestricted:
            return ScheduleCheck(state=ScheduleState.OPEN, until=None, reason="no campaign schedule")
        opens = self.next_open(now)
        if opens == now:
            return ScheduleCheck(state=ScheduleState.OPEN, until=None, reason=f"campaign schedule {self.describe()}")
        if starts is not None and now < starts:
            return ScheduleCheck(
                state=ScheduleState.NOT_STARTED,
                until=opens,
                reason=f"the campaign starts on {self.start_date} ({self.timezone})"
                + (f"; first call at {opens:%Y-%m-%d %H:%M} UTC" if opens else ""),
            )
        if opens is None:
            return ScheduleCheck(
                state=ScheduleState.ENDED,
                until=None,
                reason=f"the campaign schedule {self.describe()} does not open again before it ends",
            )
        return ScheduleCheck(
            state=ScheduleState.CLOSED,
            until=opens,
            reason=f"outside the campaign schedule {self.describe()}; opens {opens:%Y-%m-%d %H:%M} UTC",
        )

    def next_open(self, at: datetime, extra: Sequence[Constraint] = ()) -> datetime | None:
        """The first instant ≥ ``at`` when the schedule (and every ``extra`` window) is open."""
        constraints = [*self.constraints(), *extra]
        at = ensure_aware(at)
        starts, ends = self.starts_at, self.ends_at
        if not constraints:
            begin = max(at, starts) if starts is not None else at
            return begin if ends is None or begin < ends else None
        return windows.joint_next_open(constraints, at, not_before=starts, not_after=ends)
