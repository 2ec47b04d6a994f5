"""Campaigns and their event log."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError

from dialer.domain import campaign_options
from dialer.domain.campaigns import Campaign, CampaignSpec, CampaignStatus
from dialer.domain.windows import format_days
from dialer.errors import AlreadyExists, NotFound
from dialer.store import convert
from dialer.store.base import StoreBase, campaigns_t, events_t

_ALL = select(campaigns_t).order_by(campaigns_t.c.id)
_BY_NAME = select(campaigns_t).where(campaigns_t.c.name == bindparam("name"))
_BY_ID = select(campaigns_t).where(campaigns_t.c.id == bindparam("cid"))


class CampaignStore(StoreBase):
    def create_campaign(self, spec: CampaignSpec, *, now: datetime) -> Campaign:
        values = campaign_values(spec)
        try:
            with self._tx() as conn:
                conn.execute(insert(campaigns_t).values(**values, created_at=now, updated_at=now))
        except IntegrityError as exc:
            raise AlreadyExists(
                f"campaign {spec.name!r} already exists; pick another name or see `dialer campaign show {spec.name}`"
            ) from exc
        return self.get_campaign(spec.name)

    def get_campaign(self, name: str) -> Campaign:
        with self._tx() as conn:
            row = conn.execute(_BY_NAME, {"name": name}).mappings().first()
        if row is None:
            known = ", ".join(c.name for c in self.list_campaigns()) or "none yet"
            raise NotFound(
                f"no campaign named {name!r} (campaigns: {known}). Create it with `dialer campaign create {name} "
                "--flow-id FLOW`"
            )
        return convert.campaign(row)

    def get_campaign_by_id(self, campaign_id: int) -> Campaign:
        with self._tx() as conn:
            row = conn.execute(_BY_ID, {"cid": campaign_id}).mappings().first()
        if row is None:
            raise NotFound(f"no campaign with id {campaign_id}")
        return convert.campaign(row)

    def list_campaigns(self, *, status: CampaignStatus | None = None) -> list[Campaign]:
        with self._tx() as conn:
            campaigns = [convert.campaign(r) for r in conn.execute(_ALL).mappings()]
        return [c for c in campaigns if status is None or c.status is status]

    def update_campaign(self, name: str, *, now: datetime, **changes: Any) -> Campaign:
        """Change campaign columns (``agents=``, ``mode=``…), ``window=``, or merge ``options=``."""
        campaign = self.get_campaign(name)
        values: dict[str, Any] = {}
        for key, value in changes.items():
            if key == "options":
                # Validated before it is written: a stored campaign must always load.
                values["options"] = campaign_options.normalise({**campaign.options, **value})
            elif key == "window":
                values["window_hours"] = value.hours_text()
                values["window_days"] = format_days(value.days)
            elif key in campaigns_t.c:
                values[key] = list(value) if isinstance(value, tuple) else value
            else:
                raise ValueError(f"unknown campaign field {key!r}")
        with self._tx() as conn:
            conn.execute(update(campaigns_t).where(campaigns_t.c.id == campaign.id).values(**values, updated_at=now))
        return self.get_campaign_by_id(campaign.id)

    def set_campaign_status(self, name: str, status: CampaignStatus, *, reason: str | None, now: datetime) -> Campaign:
        campaign = self.update_campaign(name, now=now, status=status.value, pause_reason=reason)
        kind = "paused" if status is CampaignStatus.PAUSED else "resumed"
        self.add_campaign_event(campaign.id, kind=kind, message=reason or kind, now=now)
        return campaign

    def add_campaign_event(self, campaign_id: int, *, kind: str, message: str, now: datetime) -> None:
        with self._tx() as conn:
            conn.execute(insert(events_t).values(campaign_id=campaign_id, at=now, kind=kind, message=message))

    def campaign_events(self, campaign_id: int, *, limit: int = 20) -> list[tuple[datetime, str, str]]:
        query = (
            select(events_t.c.at, events_t.c.kind, events_t.c.message)
            .where(events_t.c.campaign_id == campaign_id)
            .order_by(events_t.c.at.desc(), events_t.c.id.desc())
            .limit(limit)
        )
        with self._tx() as conn:
            return [(r.at, r.kind, r.message) for r in conn.execute(query)]


def campaign_values(spec: CampaignSpec) -> dict[str, Any]:
    return {
        "name": spec.name,
        "flow_id": spec.flow_id,
        "mode": spec.mode.value,
        "status": CampaignStatus.ACTIVE.value,
        "caller_ids": list(spec.caller_ids),
        "allow_random_caller_id": spec.allow_random_caller_id,
        "agents": spec.agents,
        "region": spec.region,
        "max_attempts": spec.max_attempts,
        "window_hours": spec.window.hours_text(),
        "window_days": format_days(spec.window.days),
        "timezone": spec.timezone,
        "fallback_zones": list(spec.fallback_zones),
        "ring_timeout": spec.ring_timeout,
        "wrap_seconds": spec.wrap_seconds,
        "max_cps": spec.max_cps,
        "max_lines": spec.max_lines,
        "options": dict(spec.options),
    }
