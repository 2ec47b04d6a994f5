"""The pacing chart: the pacer's decisions over time, drawn as server-side SVG (no JavaScript).

* bars: calls placed in each time slot (from the attempts, exact);
* a step line: how many calls the pacer wanted to place at each decision;
* a band along the top: which rule was deciding (progressive, predictive, abandon budget,
  paused…), each stretch with its decision's words as a tooltip.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from xml.sax.saxutils import escape, quoteattr

from dialer.store.repository import PacingNote

WIDTH, HEIGHT = 760, 240
LEFT, RIGHT, TOP, BOTTOM = 44, 12, 34, 28
SLOTS = 60

KINDS = {
    "progressive": ("#2e7d32", "progressive"),
    "predictive": ("#1565c0", "predictive"),
    "fallback": ("#6a8fc8", "predictive, dialing progressively"),
    "abandon_budget": ("#c62828", "abandon budget"),
    "paused": ("#9e9e9e", "paused"),
    "schedule": ("#8d6e63", "outside schedule"),
    "preview": ("#7b1fa2", "preview"),
    "other": ("#616161", "other"),
}


def kind_of(reason: str) -> str:
    """The rule behind a pacing decision, from its reason text."""
    text = reason.lower()
    if text.startswith("paused"):
        return "paused"
    if text.startswith("preview"):
        return "preview"
    if "abandon_budget" in text or text.startswith("abandon"):
        return "abandon_budget"
    if text.startswith(("campaign_ended", "outside_schedule")):
        return "schedule"
    if text.startswith("predictive"):
        return "fallback" if "progressive" in text else "predictive"
    if text.startswith("progressive"):
        return "progressive"
    return "other"


@dataclass(frozen=True, kw_only=True)
class Span:
    start: datetime
    end: datetime
    kind: str
    reason: str
    wanted: int


def spans(history: Sequence[PacingNote], *, since: datetime, until: datetime) -> list[Span]:
    """Decisions as stretches of time: each holds until the next one (the last until ``until``)."""
    out: list[Span] = []
    for i, note in enumerate(history):
        start = max(note.decided_at, since)
        end = history[i + 1].decided_at if i + 1 < len(history) else until
        end = min(end, until)
        if end <= start:
            continue
        out.append(Span(start=start, end=end, kind=kind_of(note.reason), reason=note.reason, wanted=note.wanted))
    return out


def pacing_svg(
    history: Sequence[PacingNote],
    placed: Sequence[datetime],
    *,
    since: datetime,
    until: datetime,
    title: str = "Pacing decisions",
) -> str:
    span_s = max((until - since).total_seconds(), 1.0)
    slot = span_s / SLOTS
    counts = [0] * SLOTS
    for at in placed:
        i = int((at - since).total_seconds() // slot)
        if 0 <= i < SLOTS:
            counts[i] += 1
    stretches = spans(history, since=since, until=until)
    top = _nice(max([*counts, *(s.wanted for s in stretches), 1]))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(at: datetime) -> float:
        return LEFT + plot_w * (at - since).total_seconds() / span_s

    def y(value: float) -> float:
        return TOP + plot_h * (1 - value / top)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label={quoteattr(title)} class="chart">',
        f"<title>{escape(title)}</title>",
        f'<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" fill="#fafafa" stroke="#ddd"/>',
    ]
    for tick in range(0, 5):
        value = top * tick / 4
        parts.append(
            f'<line x1="{LEFT}" x2="{LEFT + plot_w}" y1="{y(value):.1f}" y2="{y(value):.1f}" stroke="#eee"/>'
            f'<text x="{LEFT - 6}" y="{y(value) + 4:.1f}" text-anchor="end" class="axis">{value:g}</text>'
        )
    for stretch in stretches:
        colour, label = KINDS[stretch.kind]
        width = max(x(stretch.end) - x(stretch.start), 0.5)
        parts.append(
            f'<rect x="{x(stretch.start):.1f}" y="{TOP - 14}" width="{width:.1f}" '
            f'height="10" fill="{colour}"><title>{escape(label)}: {escape(stretch.reason)}</title></rect>'
        )
    bar_w = plot_w / SLOTS
    for i, n in enumerate(counts):
        if n:
            at = since + timedelta(seconds=slot * i)
            parts.append(
                f'<rect x="{LEFT + bar_w * i + 0.5:.1f}" y="{y(n):.1f}" width="{max(bar_w - 1, 0.5):.1f}" '
                f'height="{plot_h * n / top:.1f}" fill="#90caf9"><title>{n} placed from {at:%H:%M:%S} UTC'
                "</title></rect>"
            )
    if stretches:
        points = []
        for stretch in stretches:
            points.append(f"{x(stretch.start):.1f},{y(stretch.wanted):.1f}")
            points.append(f"{x(stretch.end):.1f},{y(stretch.wanted):.1f}")
        parts.append(f'<polyline points="{" ".join(points)}" fill="none" stroke="#0d47a1" stroke-width="1.5"/>')
    else:
        parts.append(
            f'<text x="{LEFT + plot_w / 2}" y="{TOP + plot_h / 2}" text-anchor="middle" class="empty">'
            "no pacing decisions in this period</text>"
        )
    for frac in (0.0, 0.25, 0.5, 0.75, 1.0):
        at = since + timedelta(seconds=span_s * frac)
        anchor = "start" if frac == 0 else "end" if frac == 1 else "middle"
        label = f"{at:%H:%M}" if span_s <= 86400 else f"{at:%m-%d %H:%M}"
        parts.append(
            f'<text x="{LEFT + plot_w * frac:.1f}" y="{HEIGHT - 10}" text-anchor="{anchor}" class="axis">{label}</text>'
        )
    parts.append(f'<text x="{LEFT + plot_w}" y="{HEIGHT}" text-anchor="end" class="axis">UTC</text>')
    used = sorted({s.kind for s in stretches}, key=list(KINDS).index)
    legend_x = LEFT
    legend = [("bar", "#90caf9", "calls placed"), ("line", "#0d47a1", "calls wanted")]
    legend += [("box", KINDS[k][0], KINDS[k][1]) for k in used]
    for shape, colour, label in legend:
        if shape == "line":
            parts.append(
                f'<line x1="{legend_x}" x2="{legend_x + 14}" y1="9" y2="9" stroke="{colour}" stroke-width="2"/>'
            )
        else:
            parts.append(f'<rect x="{legend_x}" y="4" width="14" height="10" fill="{colour}"/>')
        parts.append(f'<text x="{legend_x + 18}" y="13" class="legend">{escape(label)}</text>')
        legend_x += 26 + round(6.5 * len(label))
    parts.append("</svg>")
    return "".join(parts)


def _nice(value: float) -> float:
    """A round axis maximum at or above ``value``."""
    if value <= 4:
        return 4.0
    magnitude = 10.0 ** math.floor(math.log10(value))
    for step in (1.0, 2.0, 2.5, 5.0, 10.0):
        if value <= step * magnitude:
            return step * magnitude
    return 10.0 * magnitude
