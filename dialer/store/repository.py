"""The SQL store: campaigns, records, attempts, DNC entries and imports.

Methods are named by intent and return domain objects. Every method is one transaction.
Records are claimed by lease (``FOR UPDATE SKIP LOCKED`` on PostgreSQL; SQLite serialises
writers anyway), and an attempt is written *before* the provider is asked to dial, so a
crash can always be reconciled. The methods live in one module per concept:

* :mod:`dialer.store.campaigns` — campaigns and their event log
* :mod:`dialer.store.records` — records, imports and record moves outside dialing
* :mod:`dialer.store.dnc` — the do-not-call list
* :mod:`dialer.store.dialing` — claims, attempts and their progress (the hot path)
* :mod:`dialer.store.preview` — the preview desk: records locked to agents, dispositions
* :mod:`dialer.store.stats` — aggregates
* :mod:`dialer.store.reporting` — the read snapshot behind outcome reports
* :mod:`dialer.store.users` — web users and their password hashes
* :mod:`dialer.store.pacers` — which process paces each campaign (leases with a heartbeat)
"""

from __future__ import annotations

from dialer.store.base import StoreBase
from dialer.store.campaigns import CampaignStore
from dialer.store.dialing import DialingStore
from dialer.store.dnc import DncStore
from dialer.store.engine import make_engine
from dialer.store.pacers import PacerStore
from dialer.store.preview import PreviewStore
from dialer.store.records import ImportWriter, RecordStore
from dialer.store.reporting import ReportStore
from dialer.store.stats import StatsStore
from dialer.store.types import (
    GLOBAL_SCOPE,
    AttemptEnding,
    AttemptProgress,
    Claim,
    Decide,
    DueSummary,
    FinishedAttempt,
    InFlightCall,
    OutcomeCounts,
    PacerLease,
    PacingNote,
    campaign_scope,
)
from dialer.store.users import UserStore


class SqlStore(
    CampaignStore,
    RecordStore,
    DncStore,
    DialingStore,
    PreviewStore,
    StatsStore,
    ReportStore,
    UserStore,
    PacerStore,
    StoreBase,
):
    """The repository. Build it with :meth:`open`, which migrates the schema on first use."""

    @classmethod
    def open(cls, url: str, *, migrate_schema: bool = True) -> SqlStore:
        store = cls(make_engine(url))
        if migrate_schema:
            store.upgrade()
        return store


__all__ = [
    "GLOBAL_SCOPE",
    "AttemptEnding",
    "AttemptProgress",
    "Claim",
    "Decide",
    "DueSummary",
    "FinishedAttempt",
    "ImportWriter",
    "InFlightCall",
    "OutcomeCounts",
    "PacerLease",
    "PacingNote",
    "SqlStore",
    "campaign_scope",
]
