"""Table definitions. They never leave ``dialer.store``: the repository returns domain objects.

Datetimes are stored as UTC (naive on SQLite, ``timestamptz`` on PostgreSQL) through
:class:`UTCDateTime`, and always come back timezone-aware. JSON columns use the plain
``JSON`` type (``json`` on PostgreSQL, not ``jsonb``), which keeps user data byte-for-byte,
key order included.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    Boolean,
    Computed,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out, on every backend."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r} reached the store")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime(), dict[str, Any]: JSON(), list[Any]: JSON()}


class CampaignRow(Base):
    __tablename__ = "campaigns"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    flow_id: Mapped[str] = mapped_column(String(200))
    mode: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20), default="active")
    pause_reason: Mapped[str | None] = mapped_column(Text)
    caller_ids: Mapped[list[Any]] = mapped_column(JSON, default=list)
    allow_random_caller_id: Mapped[bool] = mapped_column(Boolean, default=False)
    agents: Mapped[int] = mapped_column(Integer)
    region: Mapped[str] = mapped_column(String(8))
    max_attempts: Mapped[int] = mapped_column(Integer)
    window_hours: Mapped[str] = mapped_column(String(20), default="08:00-21:00")
    window_days: Mapped[str] = mapped_column(String(40), default="mon-sun")
    timezone: Mapped[str] = mapped_column(String(64))
    fallback_zones: Mapped[list[Any]] = mapped_column(JSON, default=list)
    ring_timeout: Mapped[int] = mapped_column(Integer, default=25)
    wrap_seconds: Mapped[int] = mapped_column(Integer, default=10)
    max_cps: Mapped[float | None] = mapped_column(Float)
    max_lines: Mapped[int | None] = mapped_column(Integer)
    options: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


#: Callbacks (any record type but ``general``) are claimed before general records.
CLAIM_PRIORITY_SQL = "CASE WHEN record_type = 'general' THEN 1 ELSE 0 END"
#: The values ``records.priority`` takes, in claim order.
CLAIM_PRIORITIES = (0, 1)


LEASED = text("status = 'leased'")


class RecordRow(Base):
    __tablename__ = "records"
    __table_args__ = (
        UniqueConstraint("campaign_id", "handle", name="uq_records_campaign_handle"),
        Index("ix_records_campaign_phone", "campaign_id", "phone"),
        # blocked_reason last: the status page counts records by status and reason from the index alone
        Index("ix_records_dialable", "campaign_id", "status", "next_dial_at", "blocked_reason"),
        Index("ix_records_handle", "handle"),
        # The claim order: a tick reads the first due records of one priority straight off this
        # index (no sort of every due record), however large the campaign.
        Index("ix_records_claim", "campaign_id", "status", "priority", "next_dial_at", "id"),
        # Only the leased records (a few per agent): the sweep of expired leases finds them
        # without reading the campaign, whatever the statistics say about status.
        Index("ix_records_leased", "lease_until", sqlite_where=LEASED, postgresql_where=LEASED),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    handle: Mapped[str] = mapped_column(String(200))
    phone: Mapped[str] = mapped_column(String(32))
    caller_id: Mapped[str | None] = mapped_column(String(32))
    user_data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(20), default="ready")
    record_type: Mapped[str] = mapped_column(String(32), default="general")
    priority: Mapped[int | None] = mapped_column(SmallInteger, Computed(CLAIM_PRIORITY_SQL, persisted=True))
    """Claim priority, derived from ``record_type`` by the database: 0 for callbacks, 1 for the
    rest (stored on PostgreSQL, computed and kept in ``ix_records_claim`` on SQLite)."""
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_dial_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_outcome: Mapped[str | None] = mapped_column(String(32))
    last_was_missed: Mapped[bool | None] = mapped_column(Boolean)
    timezone: Mapped[str | None] = mapped_column(String(64))
    tz_candidates: Mapped[list[Any]] = mapped_column(JSON, default=list)
    tz_source: Mapped[str] = mapped_column(String(16), default="campaign")
    daily_from: Mapped[int | None] = mapped_column(Integer)
    daily_till: Mapped[int | None] = mapped_column(Integer)
    result_counts: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    blocked_reason: Mapped[str | None] = mapped_column(String(40))
    blocked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    blocked_detail: Mapped[str | None] = mapped_column(Text)
    lease_owner: Mapped[str | None] = mapped_column(String(100))
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    offered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    """When the current lease began (for a preview record: when the agent was shown it)."""
    reserved_for: Mapped[str | None] = mapped_column(String(100))
    """A personal callback's agent: no other agent gets the record before ``reserved_until``."""
    reserved_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    import_id: Mapped[int | None] = mapped_column(ForeignKey("imports.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


IN_FLIGHT = text("ended_at IS NULL")


class AttemptRow(Base):
    __tablename__ = "attempts"
    __table_args__ = (
        Index("ix_attempts_record", "record_id"),
        # outcome, preview and was_missed included: abandon-rate windows are counted from the index alone
        Index("ix_attempts_campaign_ended", "campaign_id", "ended_at", "outcome", "preview", "was_missed"),
        Index("ix_attempts_campaign_placed", "campaign_id", "placed_at"),
        # Reports stream a campaign's attempts in the order they were placed.
        Index("ix_attempts_campaign_created", "campaign_id", "created_at", "id"),
        Index("ix_attempts_provider_ref", "provider_ref"),
        # UK repeat lockouts look up a number's recent abandoned and machine-answered calls.
        Index("ix_attempts_number_ended", "number_dialed", "ended_at"),
        Index("ix_attempts_in_flight", "campaign_id", sqlite_where=IN_FLIGHT, postgresql_where=IN_FLIGHT),
        # At most one call in flight per destination number (Evo Voice correlation needs it).
        Index(
            "uq_attempts_in_flight_number",
            "number_dialed",
            unique=True,
            sqlite_where=IN_FLIGHT,
            postgresql_where=IN_FLIGHT,
        ),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    record_id: Mapped[int] = mapped_column(ForeignKey("records.id", ondelete="CASCADE"))
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    backend: Mapped[str] = mapped_column(String(20))
    mode: Mapped[str] = mapped_column(String(20))
    state: Mapped[str] = mapped_column(String(20))
    number_dialed: Mapped[str] = mapped_column(String(32))
    caller_id: Mapped[str | None] = mapped_column(String(32))
    provider_ref: Mapped[str | None] = mapped_column(String(100))
    call_sid: Mapped[str | None] = mapped_column(String(64))
    correlation: Mapped[str | None] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    placed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    connected_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    outcome: Mapped[str | None] = mapped_column(String(32))
    category: Mapped[str | None] = mapped_column(String(20))
    raw_outcome: Mapped[str | None] = mapped_column(Text)
    was_missed: Mapped[bool | None] = mapped_column(Boolean)
    amd: Mapped[str | None] = mapped_column(String(16))
    """Answering-machine detection class: human, machine, fax or unknown (NULL: AMD did not run)."""
    message_played: Mapped[bool | None] = mapped_column(Boolean)
    """The information (abandon) message was played to the callee (Ofcom); NULL when unknown."""
    duration_s: Mapped[float | None] = mapped_column(Float)
    agent: Mapped[str | None] = mapped_column(String(200))
    preview: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    """Dialed by an agent from the preview desk: never counted for the abandonment rate."""
    disposition: Mapped[str | None] = mapped_column(String(32))
    """The agent's disposition of a preview call (a canonical result, or ``RESCHEDULED``)."""
    pacing_reason: Mapped[str] = mapped_column(Text, default="")
    error: Mapped[str | None] = mapped_column(Text)
    raw: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ProviderEventRow(Base):
    """Provider callbacks as received (Twilio status/AMD), for ordering and idempotency."""

    __tablename__ = "provider_events"
    __table_args__ = (UniqueConstraint("provider_ref", "kind", "sequence", name="uq_provider_events_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    provider_ref: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(20))
    sequence: Mapped[int] = mapped_column(Integer)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())


class DncRow(Base):
    __tablename__ = "dnc_entries"
    __table_args__ = (UniqueConstraint("phone", "scope", name="uq_dnc_entries_phone_scope"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    phone: Mapped[str] = mapped_column(String(32))
    scope: Mapped[str] = mapped_column(String(40), default="*")
    """``*`` for the global list, else ``campaign:<id>``."""
    source: Mapped[str] = mapped_column(String(40))
    note: Mapped[str | None] = mapped_column(Text)
    added_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ImportRow(Base):
    __tablename__ = "imports"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    source_name: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str | None] = mapped_column(String(64))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    rows_read: Mapped[int] = mapped_column(Integer, default=0)
    imported: Mapped[int] = mapped_column(Integer, default=0)
    updated: Mapped[int] = mapped_column(Integer, default=0)
    skipped_duplicates: Mapped[int] = mapped_column(Integer, default=0)
    rejected: Mapped[int] = mapped_column(Integer, default=0)
    by_reason: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    options: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    duration_s: Mapped[float | None] = mapped_column(Float)


class ImportRejectRow(Base):
    __tablename__ = "import_rejects"
    __table_args__ = (Index("ix_import_rejects_import", "import_id", "line"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    import_id: Mapped[int] = mapped_column(ForeignKey("imports.id", ondelete="CASCADE"))
    line: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(String(40))
    message: Mapped[str] = mapped_column(Text)
    raw: Mapped[list[Any]] = mapped_column(JSON)
    """The original row's fields, exactly as read."""


class CampaignEventRow(Base):
    """What happened to a campaign and why (pauses, auth failures, scheduled exports)."""

    __tablename__ = "campaign_events"
    __table_args__ = (Index("ix_campaign_events_campaign_at", "campaign_id", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    kind: Mapped[str] = mapped_column(String(40))
    message: Mapped[str] = mapped_column(Text)


class PacingLogRow(Base):
    """The newest pacing decision of each campaign, so `dialer status` (another process) can show it."""

    __tablename__ = "pacing_log"

    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"), primary_key=True)
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime())
    wanted: Mapped[int] = mapped_column(Integer, default=0)
    placed: Mapped[int] = mapped_column(Integer, default=0)
    capped_by: Mapped[str | None] = mapped_column(String(80))
    reason: Mapped[str] = mapped_column(Text)
    blocked: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    """Records the compliance gates refused in that tick, by rule."""
    last_placed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class PacingHistoryRow(Base):
    """Every pacing decision written to ``pacing_log``, kept for a while for the campaign's chart."""

    __tablename__ = "pacing_history"
    __table_args__ = (Index("ix_pacing_history_campaign_decided", "campaign_id", "decided_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime())
    wanted: Mapped[int] = mapped_column(Integer, default=0)
    placed: Mapped[int] = mapped_column(Integer, default=0)
    capped_by: Mapped[str | None] = mapped_column(String(80))
    reason: Mapped[str] = mapped_column(Text)


class WebUserRow(Base):
    """A person who logs in to `dialer web`: name, role and an argon2 password hash."""

    __tablename__ = "web_users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(32))
    password_hash: Mapped[str] = mapped_column(Text)
    session_version: Mapped[int] = mapped_column(Integer, default=1)
    """Raised when the password changes: sessions signed with an older version are void."""
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class CampaignPacerRow(Base):
    """The lease of the one process pacing a campaign (see :mod:`dialer.store.pacers`)."""

    __tablename__ = "campaign_pacers"

    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"), primary_key=True)
    owner: Mapped[str] = mapped_column(String(200))
    """``host:pid:token`` of the process holding the lease."""
    acquired_at: Mapped[datetime] = mapped_column(UTCDateTime())
    heartbeat_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())


class PacerDaemonRow(Base):
    """A live ``dialer run`` daemon sharing campaigns with others (its heartbeat), so that each
    takes its fair share of the campaigns."""

    __tablename__ = "pacer_daemons"

    owner: Mapped[str] = mapped_column(String(200), primary_key=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    heartbeat_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
