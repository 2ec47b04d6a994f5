"""Campaign outcome figures, shared by `run --json`, `demo`, `status` and `campaign show`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from dialer.domain.campaigns import Campaign
from dialer.domain.records import FINAL_STATUSES
from dialer.domain.results import CallResult, Category
from dialer.reports.figures import ABANDON_CAP
from dialer.store.repository import OutcomeCounts, SqlStore
from dialer.telephony.base import TelephonyBackend


@dataclass(frozen=True, kw_only=True)
class CampaignMetrics:
    campaign: str
    records: int
    records_by_status: dict[str, int]
    attempts: int
    live_answers: int
    connects: int
    abandoned: int
    answering_machines: int
    bad_numbers: int
    occupancy: float | None
    by_outcome: dict[str, int]
    preview_attempts: int = 0
    """Ended calls agents dialed from the preview desk (left out of live answers and abandoned)."""

    @property
    def abandon_rate(self) -> float | None:
        return self.abandoned / self.live_answers if self.live_answers else None

    @property
    def contact_rate(self) -> float | None:
        """Share of attempts that reached a live person."""
        return self.live_answers / self.attempts if self.attempts else None

    @property
    def final_records(self) -> int:
        return sum(n for s, n in self.records_by_status.items() if s in {f.value for f in FINAL_STATUSES})

    def as_dict(self) -> dict[str, object]:
        return {
            "campaign": self.campaign,
            "records": self.records,
            "attempts": self.attempts,
            "live_answers": self.live_answers,
            "connects": self.connects,
            "abandoned": self.abandoned,
            "preview_attempts": self.preview_attempts,
            "abandon_rate": _round(self.abandon_rate),
            "abandon_cap": ABANDON_CAP,
            "contact_rate": _round(self.contact_rate),
            "answering_machines": self.answering_machines,
            "bad_numbers": self.bad_numbers,
            "occupancy": _round(self.occupancy),
            "records_by_status": self.records_by_status,
            "attempts_by_outcome": self.by_outcome,
        }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def campaign_metrics(
    store: SqlStore,
    campaign: Campaign,
    *,
    occupancy: float | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> CampaignMetrics:
    counts: OutcomeCounts = store.outcome_counts(campaign.id, since=since, until=until)
    by_status = store.count_records(campaign.id)
    in_flight = len(store.in_flight(campaign.id))
    return CampaignMetrics(
        campaign=campaign.name,
        records=sum(by_status.values()),
        records_by_status=dict(sorted(by_status.items())),
        attempts=counts.attempts + in_flight,
        live_answers=counts.live_answers,
        connects=counts.connects,
        abandoned=counts.abandoned,
        answering_machines=counts.count(CallResult.ANSWERING_MACHINE),
        bad_numbers=sum(n for k, n in counts.by_outcome.items() if CallResult(k).category is Category.BAD_NUMBER),
        occupancy=occupancy,
        by_outcome=dict(sorted(counts.by_outcome.items())),
        preview_attempts=counts.preview_attempts,
    )


def run_summary(
    store: SqlStore, telephony: TelephonyBackend, names: Sequence[str] | None, *, now: datetime
) -> dict[str, object]:
    """Totals and per-campaign figures: the JSON of `dialer run` and `dialer demo`."""
    campaigns = [store.get_campaign(n) for n in names] if names else store.list_campaigns()
    metrics: list[CampaignMetrics] = []
    for c in campaigns:
        stats = telephony.centre_stats(c.name, now=now)
        metrics.append(campaign_metrics(store, c, occupancy=stats.occupancy if stats else None))
    by_status: dict[str, int] = {}
    for m in metrics:
        for status, n in m.records_by_status.items():
            by_status[status] = by_status.get(status, 0) + n
    live = sum(m.live_answers for m in metrics)
    abandoned = sum(m.abandoned for m in metrics)
    occupancies = [m.occupancy for m in metrics if m.occupancy is not None]
    return {
        "records": sum(m.records for m in metrics),
        "attempts": sum(m.attempts for m in metrics),
        "live_answers": live,
        "connects": sum(m.connects for m in metrics),
        "abandoned": abandoned,
        "abandon_rate": _round(abandoned / live if live else None),
        "occupancy": _round(sum(occupancies) / len(occupancies) if occupancies else None),
        "records_by_status": dict(sorted(by_status.items())),
        "campaigns": [m.as_dict() for m in metrics],
    }
