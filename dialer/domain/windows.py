"""Calling windows, evaluated in the callee's local time.

A window is a daily range of local wall-clock time plus the weekdays it applies to. A
record whose time zone is ambiguous (a number spanning zones, a toll-free number) gets the
**safe window**: the instants that fall inside the window in *every* candidate zone, i.e.
the latest opening to the earliest closing.

DST is handled by doing all arithmetic on aware instants. Where a boundary's wall time
does not exist (spring forward) or exists twice (fall back), the opening takes the later
of the candidate instants and the closing the earlier one, so the window never widens.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from dialer.domain.clock import ensure_aware

WEEKDAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
ALL_DAYS = frozenset(range(7))

#: The latest representable closing time: ``24:00`` in a window means this.
END_OF_DAY = time(23, 59, 59)

#: How far ahead :func:`next_open` looks before concluding the window never opens.
SEARCH_DAYS = 15


@dataclass(frozen=True, kw_only=True)
class CallingWindow:
    """``start``–``end`` local time on ``days`` (0 = Monday)."""

    start: time = time(8, 0)
    end: time = time(21, 0)
    days: frozenset[int] = ALL_DAYS

    def __post_init__(self) -> None:
        if not self.start < self.end:
            raise ValueError(f"calling window must start before it ends ({self.start}–{self.end})")
        if not self.days <= ALL_DAYS:
            raise ValueError("calling window weekdays must be in 0..6 (0 = Monday)")

    @classmethod
    def parse(cls, hours: str = "08:00-21:00", days: str = "mon-sun") -> CallingWindow:
        """Parse ``"08:00-21:00"`` and ``"mon-fri"`` / ``"mon,wed,fri"``."""
        try:
            start_s, end_s = (part.strip() for part in hours.replace("–", "-").split("-"))
            start = time.fromisoformat(start_s)
            end = END_OF_DAY if end_s in ("24:00", "24:00:00") else time.fromisoformat(end_s)
        except ValueError as exc:
            raise ValueError(f"calling hours {hours!r} must look like 08:00-21:00") from exc
        return cls(start=start, end=end, days=parse_days(days))

    def narrowed(self, daily_from: int | None, daily_till: int | None) -> CallingWindow:
        """This window intersected with a record's own daily range (seconds after local midnight)."""
        start, end = self.start, self.end
        if daily_from is not None:
            start = max(start, _seconds_to_time(daily_from))
        if daily_till is not None:
            end = min(end, _seconds_to_time(daily_till))
        if not start < end:
            return CallingWindow(start=self.start, end=self.end, days=frozenset())  # never opens
        return CallingWindow(start=start, end=end, days=self.days)

    def hours_text(self) -> str:
        """The hours as :meth:`parse` reads them (``08:00-21:00``; ``24:00`` for the end of the day)."""
        end = "24:00" if self.end == END_OF_DAY else f"{self.end:%H:%M}"
        return f"{self.start:%H:%M}-{end}"

    def describe(self) -> str:
        if not self.days:
            return "never (the record's own hours do not overlap the campaign's)"
        end = "24:00" if self.end == END_OF_DAY else f"{self.end:%H:%M}"
        return f"{self.start:%H:%M}–{end} {format_days(self.days)}"


def parse_days(spec: str) -> frozenset[int]:
    spec = spec.strip().lower()
    if spec in ("", "all", "daily", "*"):
        return ALL_DAYS
    out: set[int] = set()
    try:
        for part in spec.split(","):
            part = part.strip()
            if "-" in part:
                a, b = (_weekday(p) for p in part.split("-"))
                out.update(range(a, b + 1) if a <= b else [*range(a, 7), *range(0, b + 1)])
            else:
                out.add(_weekday(part))
    except ValueError:
        raise ValueError(f"calling days {spec!r} must look like mon-fri or mon,wed,fri") from None
    return frozenset(out)


def _weekday(name: str) -> int:
    """``mon``, ``Monday``, ``tues``… → 0..6 (0 = Monday)."""
    name = name.strip().lower()
    for i, full in enumerate(_FULL_DAY_NAMES):
        if len(name) >= 3 and full.startswith(name):
            return i
    raise ValueError(name)


_FULL_DAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def format_days(days: Iterable[int]) -> str:
    ds = sorted(set(days))
    if ds == list(range(7)):
        return "mon-sun"
    if ds and ds == list(range(ds[0], ds[-1] + 1)) and len(ds) > 2:
        return f"{WEEKDAY_NAMES[ds[0]]}-{WEEKDAY_NAMES[ds[-1]]}"
    return ",".join(WEEKDAY_NAMES[d] for d in ds)


def _seconds_to_time(seconds: int) -> time:
    seconds = max(0, min(seconds, 24 * 3600 - 1))
    return time(seconds // 3600, (seconds % 3600) // 60, seconds % 60)


@lru_cache(maxsize=512)
def zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def _boundary(day: date, wall: time, tz: ZoneInfo, *, opening: bool) -> datetime:
    """The UTC instant of ``day wall`` in ``tz``; the safe choice when DST makes it ambiguous."""
    a = datetime.combine(day, wall, tzinfo=tz).astimezone(UTC)
    b = datetime.combine(day, wall, tzinfo=tz).replace(fold=1).astimezone(UTC)
    return max(a, b) if opening else min(a, b)


def local_instant(day: date, wall: time, tz_name: str, *, opening: bool = True) -> datetime:
    """The UTC instant of wall time ``wall`` on local ``day`` in ``tz_name``. When DST makes it
    ambiguous or skipped, the later candidate for an opening and the earlier for a closing."""
    return _boundary(day, wall, zone(tz_name), opening=opening)


@lru_cache(maxsize=65536)
def _day_interval(window: CallingWindow, tz_name: str, day: date) -> tuple[datetime, datetime] | None:
    """The UTC interval of ``window`` on local ``day`` in ``tz_name`` (None when closed that day)."""
    if day.weekday() not in window.days:
        return None
    tz = zone(tz_name)
    start = _boundary(day, window.start, tz, opening=True)
    end = _boundary(day, window.end, tz, opening=False)
    return (start, end) if start < end else None


def _intervals(window: CallingWindow, tz_name: str, first: date, days: int) -> list[tuple[datetime, datetime]]:
    out = []
    for k in range(days):
        interval = _day_interval(window, tz_name, first + timedelta(days=k))
        if interval is not None:
            out.append(interval)
    return out


def _intersect(
    a: Sequence[tuple[datetime, datetime]], b: Sequence[tuple[datetime, datetime]]
) -> list[tuple[datetime, datetime]]:
    out, i, j = [], 0, 0
    while i < len(a) and j < len(b):
        lo, hi = max(a[i][0], b[j][0]), min(a[i][1], b[j][1])
        if lo < hi:
            out.append((lo, hi))
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return out


def open_intervals(
    window: CallingWindow, zones: Sequence[str], *, start: datetime, days: int = SEARCH_DAYS
) -> list[tuple[datetime, datetime]]:
    """UTC intervals from about ``start`` on when dialing is allowed in every zone of ``zones``."""
    if not zones:
        raise ValueError("at least one time zone is needed to evaluate a calling window")
    first = ensure_aware(start).date() - timedelta(days=1)
    result = _intervals(window, zones[0], first, days + 2)
    for name in zones[1:]:
        result = _intersect(result, _intervals(window, name, first, days + 2))
    return result


def is_open(window: CallingWindow, zones: Sequence[str], at: datetime) -> bool:
    at = ensure_aware(at)
    return any(lo <= at < hi for lo, hi in open_intervals(window, zones, start=at, days=1))


def next_open(window: CallingWindow, zones: Sequence[str], at: datetime, *, days: int = SEARCH_DAYS) -> datetime | None:
    """The first instant ≥ ``at`` inside the window in every zone, or None within ``days``."""
    at = ensure_aware(at)
    for span in sorted({min(3, days), days}):  # most windows open within a day or two
        for lo, hi in open_intervals(window, zones, start=at, days=span):
            if hi > at:
                return max(lo, at)
    return None


#: One constraint on when dialing is allowed: a daily window evaluated in every zone listed.
Constraint = tuple[CallingWindow, Sequence[str]]


def joint_intervals(
    constraints: Sequence[Constraint],
    *,
    start: datetime,
    days: int = SEARCH_DAYS,
    not_before: datetime | None = None,
    not_after: datetime | None = None,
) -> list[tuple[datetime, datetime]]:
    """UTC intervals when *every* constraint is open (the callee's window and the campaign's
    schedule, say), clipped to ``[not_before, not_after)`` when given."""
    if not constraints:
        raise ValueError("at least one window is needed")
    window, zones = constraints[0]
    result = open_intervals(window, zones, start=start, days=days)
    for window, zones in constraints[1:]:
        result = _intersect(result, open_intervals(window, zones, start=start, days=days))
    if not_before is not None or not_after is not None:
        lo_bound = ensure_aware(not_before) if not_before is not None else None
        hi_bound = ensure_aware(not_after) if not_after is not None else None
        clipped = []
        for lo, hi in result:
            lo = max(lo, lo_bound) if lo_bound is not None else lo
            hi = min(hi, hi_bound) if hi_bound is not None else hi
            if lo < hi:
                clipped.append((lo, hi))
        result = clipped
    return result


def joint_next_open(
    constraints: Sequence[Constraint],
    at: datetime,
    *,
    days: int = SEARCH_DAYS,
    not_before: datetime | None = None,
    not_after: datetime | None = None,
) -> datetime | None:
    """The first instant ≥ ``at`` when every constraint is open (and within the bounds)."""
    at = ensure_aware(at)
    if not_before is not None and at < not_before:
        # Search from the start of the allowed period: it may be further away than ``days``.
        at_search = ensure_aware(not_before)
    else:
        at_search = at
    for span in sorted({min(3, days), days}):
        for lo, hi in joint_intervals(
            constraints, start=at_search, days=span, not_before=not_before, not_after=not_after
        ):
            if hi > at:
                return max(lo, at)
    return None


def closes_at(window: CallingWindow, zones: Sequence[str], at: datetime) -> datetime | None:
    """When the window that contains ``at`` closes, or None if it is closed at ``at``."""
    at = ensure_aware(at)
    for lo, hi in open_intervals(window, zones, start=at, days=1):
        if lo <= at < hi:
            return hi
    return None
