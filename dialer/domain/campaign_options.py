"""Compliance, pacing-guard, schedule and treatment settings kept in ``Campaign.options``.

The options JSON is free-form (simulator settings, Twilio AMD, …); the keys below are
validated here, so that `dialer campaign create`, campaign files and the store agree:

==========================  =======================================  ==============
key                         meaning                                  default
==========================  =======================================  ==============
``compliance_profile``      ``us`` or ``uk`` (:data:`PROFILES`)      ``us``
``abandon_target``          abandon-rate cap, fraction of live       ``0.03``
                            answers (at most the legal 3 %)
``min_agents_predictive``   below this many agents, predictive        ``5``
                            campaigns dial progressively
``schedule_hours``          campaign hours, campaign's zone          any time
``schedule_days``           campaign weekdays, campaign's zone       every day
``start_date``/``end_date`` first/last dialing day (inclusive)       none
``treatments``              ``{RESULT: spec}`` overrides, see        defaults
                            :func:`dialer.domain.treatments.parse_treatment`
``allow_relaxing``          permit settings laxer than the profile   ``false``
                            (abandon target over 3 %, US calling
                            hours wider than 08:00–21:00)
==========================  =======================================  ==============

Overrides may only be stricter than the profile unless ``allow_relaxing`` is set explicitly
(outbound-domain.md §7).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from dialer.domain.compliance import PROFILES, ComplianceProfile
from dialer.domain.results import CallResult
from dialer.domain.schedule import CampaignSchedule
from dialer.domain.treatments import Treatment, parse_treatments
from dialer.domain.windows import CallingWindow

PROFILE_KEY = "compliance_profile"
ABANDON_TARGET_KEY = "abandon_target"
MIN_AGENTS_KEY = "min_agents_predictive"
SCHEDULE_HOURS_KEY = "schedule_hours"
SCHEDULE_DAYS_KEY = "schedule_days"
START_DATE_KEY = "start_date"
END_DATE_KEY = "end_date"
TREATMENTS_KEY = "treatments"
ALLOW_RELAXING_KEY = "allow_relaxing"
SCHEDULE_KEYS = (SCHEDULE_HOURS_KEY, SCHEDULE_DAYS_KEY, START_DATE_KEY, END_DATE_KEY)

DEFAULT_PROFILE = "us"
DEFAULT_ABANDON_TARGET = 0.03
#: The legal cap (FTC TSR, Ofcom): overrides may only be stricter.
MAX_ABANDON_TARGET = 0.03
DEFAULT_MIN_AGENTS_PREDICTIVE = 5


@dataclass(frozen=True, kw_only=True)
class CampaignOptions:
    profile: ComplianceProfile = PROFILES[DEFAULT_PROFILE]
    abandon_target: float = DEFAULT_ABANDON_TARGET
    min_agents_predictive: int = DEFAULT_MIN_AGENTS_PREDICTIVE
    schedule_hours: str | None = None
    schedule_days: str | None = None
    start_date: date | None = None
    end_date: date | None = None
    treatments: Mapping[CallResult, Treatment] = field(default_factory=dict)
    allow_relaxing: bool = False

    def check_window(self, window: CallingWindow) -> None:
        """Refuse a campaign calling window wider than the profile's legal hours."""
        legal = self.profile.calling_hours
        if legal is None or self.allow_relaxing:
            return
        if window.start < legal.start or window.end > legal.end:
            raise ValueError(
                f"the {self.profile.name.upper()} profile allows calls only {legal.start:%H:%M}–{legal.end:%H:%M} "
                f"in the callee's local time ({self.profile.calling_hours_rule}); narrow --hours "
                f"({window.hours_text()} given), or allow it explicitly with --allow-relaxing "
                "(allow_relaxing = true in a campaign file)"
            )

    def effective_window(self, window: CallingWindow) -> CallingWindow:
        """The campaign's window narrowed to the profile's legal hours (unless relaxing is allowed)."""
        legal = self.profile.calling_hours
        if legal is None or self.allow_relaxing:
            return window
        start, end = max(window.start, legal.start), min(window.end, legal.end)
        if not start < end:
            return CallingWindow(start=window.start, end=window.end, days=frozenset())  # never opens
        return CallingWindow(start=start, end=end, days=window.days & legal.days)

    def schedule(self, timezone: str) -> CampaignSchedule:
        window = None
        if self.schedule_hours or self.schedule_days:
            window = CallingWindow.parse(self.schedule_hours or "00:00-24:00", self.schedule_days or "mon-sun")
        return CampaignSchedule(timezone=timezone, window=window, start_date=self.start_date, end_date=self.end_date)


def _date(key: str, value: Any) -> date | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value).strip())
    except ValueError:
        raise ValueError(f"{key} {value!r} must be a date like 2026-03-31") from None


def parse(options: Mapping[str, Any]) -> CampaignOptions:
    """Validate the keys this module owns; raises ValueError naming the key and the fix."""
    profile_name = str(options.get(PROFILE_KEY) or DEFAULT_PROFILE).strip().lower()
    if profile_name not in PROFILES:
        raise ValueError(f"compliance profile {profile_name!r} is not known; use one of {', '.join(PROFILES)}")
    raw_target = options.get(ABANDON_TARGET_KEY, DEFAULT_ABANDON_TARGET)
    try:
        target = float(raw_target if raw_target is not None else DEFAULT_ABANDON_TARGET)
    except (TypeError, ValueError):
        raise ValueError(f"abandon target {raw_target!r} must be a fraction such as 0.025") from None
    relaxing = options.get(ALLOW_RELAXING_KEY, False)
    if not isinstance(relaxing, bool):
        raise ValueError(f"allow_relaxing {relaxing!r} must be true or false")
    if not 0 < target <= (0.5 if relaxing else MAX_ABANDON_TARGET):
        raise ValueError(
            f"abandon target {target:g} must be above 0 and at most {MAX_ABANDON_TARGET:g} (the legal 3% cap); "
            "give a fraction, e.g. 0.025 for 2.5%"
        )
    raw_agents = options.get(MIN_AGENTS_KEY, DEFAULT_MIN_AGENTS_PREDICTIVE)
    if isinstance(raw_agents, bool) or not isinstance(raw_agents, int | str):
        raise ValueError(f"min_agents_predictive {raw_agents!r} must be a whole number of agents")
    try:
        min_agents = int(raw_agents)
    except ValueError:
        raise ValueError(f"min_agents_predictive {raw_agents!r} must be a whole number of agents") from None
    if min_agents < 1:
        raise ValueError("min_agents_predictive must be at least 1")
    hours = options.get(SCHEDULE_HOURS_KEY) or None
    days = options.get(SCHEDULE_DAYS_KEY) or None
    if hours or days:
        CallingWindow.parse(str(hours or "00:00-24:00"), str(days or "mon-sun"))  # raises with a clear message
    start, end = _date(START_DATE_KEY, options.get(START_DATE_KEY)), _date(END_DATE_KEY, options.get(END_DATE_KEY))
    if start and end and end < start:
        raise ValueError(f"the campaign end date {end} is before its start date {start}")
    raw_treatments = options.get(TREATMENTS_KEY) or {}
    if not isinstance(raw_treatments, Mapping):
        raise ValueError('treatments must be a table of RESULT = "spec", e.g. BUSY = "retry_in 30m +5m x3"')
    return CampaignOptions(
        profile=PROFILES[profile_name],
        abandon_target=target,
        min_agents_predictive=min_agents,
        schedule_hours=str(hours) if hours else None,
        schedule_days=str(days) if days else None,
        start_date=start,
        end_date=end,
        treatments=parse_treatments(raw_treatments),
        allow_relaxing=relaxing,
    )


def normalise(options: Mapping[str, Any]) -> dict[str, Any]:
    """``options`` with this module's keys validated and written in one canonical JSON form."""
    parsed = parse(options)
    out = dict(options)
    if PROFILE_KEY in out:
        out[PROFILE_KEY] = parsed.profile.name
    if ABANDON_TARGET_KEY in out:
        out[ABANDON_TARGET_KEY] = parsed.abandon_target
    if MIN_AGENTS_KEY in out:
        out[MIN_AGENTS_KEY] = parsed.min_agents_predictive
    for key, value in ((START_DATE_KEY, parsed.start_date), (END_DATE_KEY, parsed.end_date)):
        if key in out:
            out[key] = value.isoformat() if value else None
    if TREATMENTS_KEY in out:
        out[TREATMENTS_KEY] = {r.value: t.spec() for r, t in parsed.treatments.items()}
    return out
