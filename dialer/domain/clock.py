"""The clock port: the only way the dialer learns the time.

The domain never reads the system clock; it takes ``now`` as an argument. Entry points
pick a clock: :class:`SystemClock` for real dialing, :class:`VirtualClock` for rehearsals,
the demo, tests and benchmarks, where a whole day passes in seconds.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current instant, timezone-aware, in UTC."""
        ...


def ensure_aware(value: datetime, *, name: str = "datetime") -> datetime:
    """Return ``value`` in UTC, refusing naive datetimes (they are always a bug here)."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got naive {value.isoformat()}")
    return value.astimezone(UTC)


class SystemClock:
    """Wall-clock time; for rehearsals it may start at another instant and run faster."""

    def __init__(self, *, speed: float = 1.0, start: datetime | None = None) -> None:
        if speed <= 0:
            raise ValueError("speed must be positive")
        self._speed = speed
        self._shifted = start is not None or speed != 1.0
        self._origin = ensure_aware(start, name="start") if start is not None else datetime.now(UTC)
        self._mono0 = _monotonic()

    def now(self) -> datetime:
        if not self._shifted:
            return datetime.now(UTC)
        return self._origin + timedelta(seconds=(_monotonic() - self._mono0) * self._speed)


@dataclass
class VirtualClock:
    """A clock that only moves when told to. Used by the demo, rehearsals and tests."""

    current: datetime = field(default_factory=lambda: datetime(2026, 1, 5, 15, 0, tzinfo=UTC))

    def __post_init__(self) -> None:
        self.current = ensure_aware(self.current, name="VirtualClock.current")

    def now(self) -> datetime:
        return self.current

    def advance(self, seconds: float) -> datetime:
        if seconds < 0:
            raise ValueError("a clock cannot go backwards")
        self.current += timedelta(seconds=seconds)
        return self.current

    def advance_to(self, instant: datetime) -> datetime:
        instant = ensure_aware(instant, name="instant")
        if instant > self.current:
            self.current = instant
        return self.current


def _monotonic() -> float:
    return time.monotonic()
