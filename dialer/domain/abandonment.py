"""Abandonment counts: the one place that decides what counts for the abandonment rate.

The rate is ``abandoned ÷ live answers`` (``outbound-domain.md`` §2, §7):

- **live answers** are attempts whose result is live (a person answered: ANSWER,
  WRONG_PARTY, WRONG_NUMBER, SILENCE, ABANDONED, DROPPED);
- **abandoned** are the ABANDONED and DROPPED results;
- **preview calls** (an agent dialed them from the desk and was on the line) are never
  abandonment candidates: they leave both counts;
- **AMD false positives** (people the answering-machine detection took for a machine and
  hung up on) count as abandoned live answers under both the US and the UK rule. A single
  call cannot be told apart from a real machine, so Ofcom asks for a reasoned estimate:
  ``amd_false_positive_rate`` × the calls AMD classed as a machine is added to both counts.

Ofcom's played-message exception is counted separately: an abandoned call on which the
information message was played within the grace time (``message_played`` on the attempt)
is a lawful abandoned call — it stays in the rate — while an abandoned call with no message
is a *silent call*, which Ofcom treats as persistent misuse on its own. Reports show both.

Everything here is pure: the store and the report code pass in counts and get the figures.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from dialer.domain.results import CallResult

#: Answering-machine detection classes stored on an attempt (``None``: AMD did not run).
AMD_CLASSES = ("human", "machine", "fax", "unknown")

_MACHINE = frozenset({"machine", "machine_start", "machine_end_beep", "machine_end_silence", "machine_end_other"})


def amd_class(answered_by: str | None) -> str | None:
    """A provider's AMD verdict (Twilio ``AnsweredBy``) as one of :data:`AMD_CLASSES`."""
    if not answered_by:
        return None
    value = answered_by.strip().lower()
    if value in _MACHINE:
        return "machine"
    if value in ("human", "fax"):
        return value
    return "unknown"


@dataclass(frozen=True, kw_only=True)
class AbandonCounts:
    """The abandonment figures of some set of ended attempts."""

    live_answers: int
    """Denominator: live answers, preview calls left out, estimated AMD false positives in."""
    abandoned: int
    """Numerator: ABANDONED + DROPPED (preview calls left out) + estimated AMD false positives."""
    message_played: int = 0
    """Of the abandoned calls (not the estimate), those that got the information message."""
    amd_machines: int = 0
    """Attempts AMD classed as a machine (preview calls left out)."""
    amd_false_positives: int = 0
    """Estimated people among ``amd_machines`` (already inside both counts)."""
    preview_live_answers: int = 0
    """Live answers of preview calls (outside the rate)."""

    @property
    def silent(self) -> int:
        """Abandoned calls on which no information message was played (Ofcom silent calls)."""
        return self.abandoned - self.amd_false_positives - self.message_played

    @property
    def connects(self) -> int:
        return self.live_answers - self.abandoned

    @property
    def rate(self) -> float | None:
        return self.abandoned / self.live_answers if self.live_answers else None


def abandonment_counts(
    by_outcome: Mapping[str | None, int],
    *,
    preview: Mapping[str | None, int] | None = None,
    message_played: Mapping[str | None, int] | None = None,
    amd_machines: int = 0,
    amd_false_positive_rate: float = 0.0,
) -> AbandonCounts:
    """The abandonment figures from attempts by outcome.

    ``by_outcome`` counts every ended attempt (``None`` keys, calls in flight, are ignored);
    ``preview`` the preview calls among them; ``message_played`` the non-preview attempts
    flagged as having heard the information message; ``amd_machines`` the non-preview attempts
    AMD classed as a machine.
    """
    if not 0.0 <= amd_false_positive_rate < 1.0:
        raise ValueError("amd_false_positive_rate must be a fraction between 0 and 1")
    preview = preview or {}
    played = message_played or {}
    live = abandoned = message = preview_live = 0
    for key, n in by_outcome.items():
        if key is None:
            continue
        result = CallResult(key)
        if not result.is_live:
            continue
        own = n - preview.get(key, 0)
        live += own
        preview_live += preview.get(key, 0)
        if result.is_abandoned:
            abandoned += own
            message += min(own, played.get(key, 0))
    estimate = math.ceil(amd_false_positive_rate * amd_machines - 1e-9) if amd_machines else 0
    return AbandonCounts(
        live_answers=live + estimate,
        abandoned=abandoned + estimate,
        message_played=message,
        amd_machines=amd_machines,
        amd_false_positives=estimate,
        preview_live_answers=preview_live,
    )
