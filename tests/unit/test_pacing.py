from __future__ import annotations

import pytest

from dialer.domain.pacing import Caps, PacingDecision, PacingSnapshot, Progressive, apply_caps
from tests.conftest import T0


def snap(*, agents: int = 5, idle: int = 0, waiting: int = 0, ringing: int = 0, lines: int = 0) -> PacingSnapshot:
    return PacingSnapshot(
        now=T0, agents=agents, idle_agents=idle, waiting=waiting, ringing_ages=(5.0,) * ringing, lines_in_use=lines
    )


@pytest.mark.parametrize(
    ("idle", "waiting", "ringing", "expected"),
    [(4, 0, 0, 4), (4, 1, 2, 1), (0, 0, 3, 0), (2, 3, 0, 0), (5, 0, 5, 0)],
)
def test_progressive_one_line_per_idle_agent(idle: int, waiting: int, ringing: int, expected: int) -> None:
    decision = Progressive().decide(snap(idle=idle, waiting=waiting, ringing=ringing))
    assert decision.calls_to_place == expected
    assert decision.reason.startswith("progressive")


def test_progressive_ratio() -> None:
    assert Progressive(lines_per_agent=1.5).decide(snap(idle=4)).calls_to_place == 6
    with pytest.raises(ValueError):
        Progressive(lines_per_agent=3.0)


def test_no_agents_no_calls() -> None:
    decision = Progressive().decide(snap(agents=0, idle=0))
    assert decision.calls_to_place == 0
    assert "no agents" in decision.reason


@pytest.mark.parametrize(
    ("caps", "lines", "placed", "expected", "by"),
    [
        (Caps(max_cps=2), 0, 0, 2, "CPS cap 2/s"),
        (Caps(max_cps=2), 0, 2, 0, "CPS cap 2/s"),
        (Caps(max_lines=6), 4, 0, 2, "line cap 6"),
        (Caps(max_lines_per_agent=1.0), 3, 0, 2, "1 lines per agent"),
        (Caps(), 0, 0, 10, None),
    ],
)
def test_caps_clamp_and_explain(caps: Caps, lines: int, placed: int, expected: int, by: str | None) -> None:
    decision = PacingDecision(calls_to_place=10, reason="policy wants 10")
    capped = apply_caps(decision, snap(lines=lines), caps, placed_last_second=placed)
    assert capped.calls_to_place == expected
    assert capped.capped_by == by
    if by:
        assert by in capped.reason
