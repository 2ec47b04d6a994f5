"""The figures of an outcome report: tallies, the abandonment rate per day and rolling.

Pure functions over counts; :mod:`dialer.reports.export` feeds them from the store.

The abandonment (overdial) rate is ``(ABANDONED + DROPPED) ÷ live answers``
(``outbound-domain.md`` §2), measured per campaign over a rolling **30 days** (FTC TSR,
16 CFR 310.4(b)(4)) and a rolling **24 hours** (Ofcom), against a cap of 3 %. A rate exactly
at the cap is within it; only a rate above it is flagged. Attempts count in the period they
were *placed*, so every attempt belongs to exactly one day (the live meter that paces calls
counts them when they *end*; the two differ only by calls in progress across midnight).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from dialer.domain.abandonment import AbandonCounts, abandonment_counts
from dialer.domain.results import CallResult, Category

#: The legal cap on abandoned calls as a share of live answers (FTC TSR, Ofcom).
ABANDON_CAP = 0.03
#: The rolling window of the US rule, in days.
ROLLING_DAYS = 30


def over_cap(abandoned: int, live_answers: int, cap: float = ABANDON_CAP) -> bool:
    """``abandoned / live_answers > cap``, decided in integers (no float rounding at the edge)."""
    return live_answers > 0 and abandoned * 10_000 > round(cap * 10_000) * live_answers


def rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


@dataclass(frozen=True, kw_only=True)
class Tally:
    """Attempts placed in some period, by outcome (``None``: still in flight)."""

    by_outcome: Mapping[str | None, int] = field(default_factory=dict)
    missed: int = 0
    """Attempts the provider flagged ``wasMissed`` (Evo Voice); a cross-check of ``abandoned``."""
    preview: Mapping[str | None, int] = field(default_factory=dict)
    """Of ``by_outcome``, calls agents dialed from the preview desk: not abandonment
    candidates, so ``live_answers`` and ``abandoned`` leave them out."""
    message_played: Mapping[str | None, int] = field(default_factory=dict)
    """Of ``by_outcome`` (preview calls left out), attempts that heard the information message."""
    amd_machines: int = 0
    """Attempts (preview calls left out) that answering-machine detection classed as a machine."""
    amd_false_positive_rate: float = 0.0
    """The campaign's reasoned estimate of people among AMD machines (counted as abandoned)."""

    @classmethod
    def of(
        cls,
        counts: Mapping[str | None, tuple[int, int]],
        *,
        preview: Mapping[str | None, int] | None = None,
        message_played: Mapping[str | None, int] | None = None,
        amd_machines: int = 0,
        amd_false_positive_rate: float = 0.0,
    ) -> Tally:
        """From ``outcome → (attempts, missed)`` (and ``outcome → preview attempts``, …)."""
        return cls(
            by_outcome={o: n for o, (n, _) in counts.items()},
            missed=sum(m for _, m in counts.values()),
            preview=dict(preview or {}),
            message_played=dict(message_played or {}),
            amd_machines=amd_machines,
            amd_false_positive_rate=amd_false_positive_rate,
        )

    def __add__(self, other: Tally) -> Tally:
        return Tally(
            by_outcome=_merge(self.by_outcome, other.by_outcome),
            missed=self.missed + other.missed,
            preview=_merge(self.preview, other.preview),
            message_played=_merge(self.message_played, other.message_played),
            amd_machines=self.amd_machines + other.amd_machines,
            amd_false_positive_rate=max(self.amd_false_positive_rate, other.amd_false_positive_rate),
        )

    @property
    def abandonment(self) -> AbandonCounts:
        """The abandonment figures (one rule for the reports and the live meter)."""
        return abandonment_counts(
            self.by_outcome,
            preview=self.preview,
            message_played=self.message_played,
            amd_machines=self.amd_machines,
            amd_false_positive_rate=self.amd_false_positive_rate,
        )

    def _count(self, test: Callable[[CallResult], bool]) -> int:
        return sum(n for o, n in self.by_outcome.items() if o is not None and test(CallResult(o)))

    @property
    def preview_attempts(self) -> int:
        return sum(self.preview.values())

    @property
    def attempts(self) -> int:
        return sum(self.by_outcome.values())

    @property
    def in_flight(self) -> int:
        return self.by_outcome.get(None, 0)

    @property
    def ended(self) -> int:
        return self.attempts - self.in_flight

    @property
    def live_answers(self) -> int:
        """Live answers counted for the abandonment rate (preview calls excluded)."""
        return self.abandonment.live_answers

    @property
    def abandoned(self) -> int:
        """Abandoned calls counted for the abandonment rate (preview calls excluded)."""
        return self.abandonment.abandoned

    @property
    def message_played_abandoned(self) -> int:
        """Abandoned calls that got the information message (Ofcom's played-message exception)."""
        return self.abandonment.message_played

    @property
    def silent_calls(self) -> int:
        """Abandoned calls on which no information message was played."""
        return self.abandonment.silent

    @property
    def connects(self) -> int:
        """Live answers an agent took (preview calls excluded)."""
        return self.live_answers - self.abandoned

    @property
    def answering_machines(self) -> int:
        return self._count(lambda r: r.category is Category.MACHINE)

    @property
    def bad_numbers(self) -> int:
        return self._count(lambda r: r.category is Category.BAD_NUMBER)

    @property
    def abandon_rate(self) -> float | None:
        return rate(self.abandoned, self.live_answers)

    @property
    def over_cap(self) -> bool:
        return over_cap(self.abandoned, self.live_answers)

    @property
    def contact_rate(self) -> float | None:
        """Share of ended attempts that reached a live person."""
        return rate(self.live_answers, self.ended)


@dataclass(frozen=True, kw_only=True)
class AbandonDay:
    """One row of the Abandonment sheet."""

    day: date
    attempts: int
    live_answers: int
    abandoned: int
    live_answers_30d: int
    abandoned_30d: int

    @property
    def rate(self) -> float | None:
        return rate(self.abandoned, self.live_answers)

    @property
    def rate_30d(self) -> float | None:
        return rate(self.abandoned_30d, self.live_answers_30d)

    @property
    def over_cap(self) -> bool:
        return over_cap(self.abandoned, self.live_answers)

    @property
    def over_cap_30d(self) -> bool:
        return over_cap(self.abandoned_30d, self.live_answers_30d)


def _merge(a: Mapping[str | None, int], b: Mapping[str | None, int]) -> dict[str | None, int]:
    merged = dict(a)
    for key, n in b.items():
        merged[key] = merged.get(key, 0) + n
    return merged


def abandonment_by_day(
    days: Mapping[date, Tally], *, first: date, last: date, window: int = ROLLING_DAYS
) -> list[AbandonDay]:
    """Every day from ``first`` to ``last`` with its own rate and the rolling ``window``-day rate.

    ``days`` may (and for a correct rolling figure should) include the ``window - 1`` days
    before ``first``. Days without calls are listed with zero counts, so the rolling window is
    visibly continuous.
    """
    rows: list[AbandonDay] = []
    empty = Tally()
    day = first
    while day <= last:
        window_days = [days.get(day - timedelta(days=k), empty) for k in range(window)]
        today = days.get(day, empty)
        rows.append(
            AbandonDay(
                day=day,
                attempts=today.attempts,
                live_answers=today.live_answers,
                abandoned=today.abandoned,
                live_answers_30d=sum(t.live_answers for t in window_days),
                abandoned_30d=sum(t.abandoned for t in window_days),
            )
        )
        day += timedelta(days=1)
    return rows


def fill_periods(
    counts: Iterable[tuple[str, Tally]], *, unit: str, first: datetime, last: datetime
) -> list[tuple[datetime, Tally]]:
    """Local periods (``YYYY-MM-DD`` or ``YYYY-MM-DD HH`` keys) from ``first`` to ``last``
    (naive local datetimes), gaps filled with empty tallies, as ``(period start, tally)``."""
    step = timedelta(hours=1) if unit == "hour" else timedelta(days=1)
    fmt = "%Y-%m-%d %H" if unit == "hour" else "%Y-%m-%d"
    known = dict(counts)
    cursor = first.replace(minute=0, second=0, microsecond=0)
    if unit == "day":
        cursor = cursor.replace(hour=0)
    out: list[tuple[datetime, Tally]] = []
    while cursor <= last:
        out.append((cursor, known.get(cursor.strftime(fmt), Tally())))
        cursor += step
    return out
