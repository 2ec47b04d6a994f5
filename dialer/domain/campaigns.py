"""Campaigns: a calling list's dialing configuration."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import ClassVar

from dialer.domain import campaign_options
from dialer.domain.schedule import CampaignSchedule
from dialer.domain.windows import CallingWindow

JSONValue = str | int | float | bool | None | list["JSONValue"] | dict[str, "JSONValue"]


class DialMode(StrEnum):
    PREVIEW = "preview"
    PROGRESSIVE = "progressive"
    PREDICTIVE = "predictive"


class CampaignStatus(StrEnum):
    ACTIVE = "active"
    PAUSED = "paused"


#: Campaign time zone (reports, fallback) by dialing region.
REGION_TIMEZONES: Mapping[str, str] = {
    "US": "America/New_York",
    "CA": "America/Toronto",
    "GB": "Europe/London",
    "IE": "Europe/Dublin",
    "FR": "Europe/Paris",
    "DE": "Europe/Berlin",
    "ES": "Europe/Madrid",
    "AU": "Australia/Sydney",
}

#: Zones assumed when a number says nothing about where the callee is (toll-free, mobile
#: ranges spanning a country). The safe window across them applies.
REGION_SAFE_ZONES: Mapping[str, tuple[str, ...]] = {
    "US": ("America/New_York", "America/Chicago", "America/Denver", "America/Phoenix", "America/Los_Angeles"),
    "CA": ("America/Halifax", "America/Toronto", "America/Winnipeg", "America/Edmonton", "America/Vancouver"),
    "AU": ("Australia/Sydney", "Australia/Adelaide", "Australia/Brisbane", "Australia/Perth"),
}


def default_timezone(region: str) -> str:
    return REGION_TIMEZONES.get(region.upper(), "UTC")


def default_safe_zones(region: str) -> tuple[str, ...]:
    return REGION_SAFE_ZONES.get(region.upper(), (default_timezone(region),))


@dataclass(frozen=True, kw_only=True)
class CampaignSpec:
    """What `dialer campaign create` takes. Validated here so every entry point agrees."""

    name: str
    flow_id: str
    mode: DialMode = DialMode.PROGRESSIVE
    caller_ids: tuple[str, ...] = ()
    allow_random_caller_id: bool = False
    agents: int = 10
    region: str = "US"
    max_attempts: int = 6
    window: CallingWindow = field(default_factory=CallingWindow)
    timezone: str | None = None
    fallback_zones: tuple[str, ...] = ()
    ring_timeout: int = 25
    wrap_seconds: int = 10
    max_cps: float | None = None
    max_lines: int | None = None
    options: Mapping[str, JSONValue] = field(default_factory=dict)
    _new: ClassVar[bool] = True
    """A spec for a campaign being created (stored campaigns are :class:`Campaign`)."""

    def __post_init__(self) -> None:
        if not self.name.strip():
            raise ValueError("a campaign needs a name")
        if not self.flow_id.strip():
            raise ValueError("a campaign needs a flow id (--flow-id): the flow that runs when the callee answers")
        if self.agents < 0:
            raise ValueError("--agents cannot be negative")
        if self.max_attempts < 1:
            raise ValueError("--max-attempts must be at least 1")
        if self.ring_timeout < 15:
            raise ValueError("ring timeout must be at least 15 s (FCC 47 CFR 64.1200 and Ofcom minimum ring time)")
        if self.max_cps is not None and self.max_cps <= 0:
            raise ValueError("max CPS must be positive")
        object.__setattr__(self, "region", self.region.upper())
        if self.timezone is None:
            object.__setattr__(self, "timezone", default_timezone(self.region))
        if not self.fallback_zones:
            object.__setattr__(self, "fallback_zones", default_safe_zones(self.region))
        # Compliance profile, abandon target, schedule and treatments: validated, canonical form.
        object.__setattr__(self, "options", campaign_options.normalise(self.options))
        # Parsed once: the tick reads these for every claim and every ended call.
        object.__setattr__(self, "_compliance", campaign_options.parse(self.options))
        if self._new:
            # Only new campaigns: one stored before the rule existed must still load (the gates
            # narrow its window to the legal hours at dial time, see effective_window).
            self.compliance_options().check_window(self.window)
        if any(self.options.get(k) for k in campaign_options.SCHEDULE_KEYS):
            self.schedule()  # the campaign's zone must exist for its schedule to mean anything

    def compliance_options(self) -> campaign_options.CampaignOptions:
        """The validated compliance profile, abandon target, schedule and treatment overrides."""
        parsed: campaign_options.CampaignOptions = self.__dict__["_compliance"]
        return parsed

    def effective_window(self) -> CallingWindow:
        """The calling window the gates use: the campaign's, within the profile's legal hours."""
        return self.compliance_options().effective_window(self.window)

    def schedule(self) -> CampaignSchedule | None:
        """The campaign's own days, hours and dates in its zone (None when it has none)."""
        schedule = self.compliance_options().schedule(self.timezone or "UTC")
        return None if schedule.unrestricted else schedule


@dataclass(frozen=True, kw_only=True)
class Campaign(CampaignSpec):
    _new: ClassVar[bool] = False
    id: int
    status: CampaignStatus = CampaignStatus.ACTIVE
    pause_reason: str | None = None
    created_at: datetime | None = None

    @property
    def default_caller_id(self) -> str | None:
        return self.caller_ids[0] if self.caller_ids else None

    @property
    def zone(self) -> str:
        return self.timezone or "UTC"

    def caller_id_for(self, record_caller_id: str | None) -> str | None:
        return record_caller_id or self.default_caller_id
