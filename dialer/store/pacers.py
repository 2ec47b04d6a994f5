"""Campaign pacer leases: which process paces each campaign.

One row per campaign in ``campaign_pacers``. A process takes a campaign with
:meth:`PacerStore.acquire_pacer` — an ``INSERT … ON CONFLICT DO NOTHING`` for a campaign no
one holds, else an ``UPDATE`` that only matches when the lease is its own or has expired —
and keeps it by renewing it (:meth:`renew_pacers`) well before ``expires_at``. Both are
single conditional statements, so on PostgreSQL (row locks, read committed) and on SQLite
(serialised writers) at most one process ever holds a live lease on a campaign, with the
same semantics on both.

Times are the callers' wall-clock times: hosts sharing a database keep their clocks in sync
(NTP), as they must anyway for calling windows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case, delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from dialer.store.base import StoreBase, pacer_daemons_t, pacers_t
from dialer.store.types import PacerLease


def _lease(row: Mapping[Any, Any]) -> PacerLease:
    return PacerLease(
        campaign_id=row["campaign_id"],
        owner=row["owner"],
        acquired_at=row["acquired_at"],
        heartbeat_at=row["heartbeat_at"],
        expires_at=row["expires_at"],
    )


class PacerStore(StoreBase):
    def acquire_pacer(self, campaign_id: int, *, owner: str, lease_seconds: float, now: datetime) -> PacerLease:
        """Take (or renew) the campaign's lease for ``owner`` if no one else holds a live one.

        Returns the lease as it stands afterwards: ``owner`` holds it exactly when
        ``lease.owner == owner``; otherwise it is the live lease of the process that does."""
        expires = now + timedelta(seconds=lease_seconds)
        values = {
            "campaign_id": campaign_id,
            "owner": owner,
            "acquired_at": now,
            "heartbeat_at": now,
            "expires_at": expires,
        }
        dialect = postgresql if self.dialect == "postgresql" else sqlite
        with self._tx() as conn:
            inserted = conn.execute(
                dialect.insert(pacers_t)
                .values(**values)
                .on_conflict_do_nothing(index_elements=["campaign_id"])
                .returning(pacers_t.c.campaign_id)
            ).first()
            if inserted is None:
                conn.execute(
                    update(pacers_t)
                    .where(
                        pacers_t.c.campaign_id == campaign_id,
                        (pacers_t.c.owner == owner) | (pacers_t.c.expires_at < now),
                    )
                    .values(
                        # A takeover starts a new tenure; a renewal keeps the old one.
                        acquired_at=case((pacers_t.c.owner == owner, pacers_t.c.acquired_at), else_=now),
                        owner=owner,
                        heartbeat_at=now,
                        expires_at=expires,
                    )
                )
            row = conn.execute(select(pacers_t).where(pacers_t.c.campaign_id == campaign_id)).mappings().one()
        return _lease(row)

    def renew_pacers(self, campaign_ids: Sequence[int], *, owner: str, lease_seconds: float, now: datetime) -> set[int]:
        """Extend ``owner``'s leases on ``campaign_ids``; returns the campaigns it still holds
        (a lease another process took over after it expired is not renewed)."""
        if not campaign_ids:
            return set()
        with self._tx() as conn:
            rows = conn.execute(
                update(pacers_t)
                .where(pacers_t.c.campaign_id.in_(list(campaign_ids)), pacers_t.c.owner == owner)
                .values(heartbeat_at=now, expires_at=now + timedelta(seconds=lease_seconds))
                .returning(pacers_t.c.campaign_id)
            ).scalars()
            return set(rows)

    def release_pacers(self, *, owner: str, campaign_ids: Sequence[int] | None = None) -> int:
        """Give up ``owner``'s leases (all of them, or on ``campaign_ids``): another daemon may
        take the campaigns at once."""
        query = delete(pacers_t).where(pacers_t.c.owner == owner)
        if campaign_ids is not None:
            query = query.where(pacers_t.c.campaign_id.in_(list(campaign_ids)))
        with self._tx() as conn:
            return int(conn.execute(query).rowcount or 0)

    def beat_daemon(self, *, owner: str, lease_seconds: float, now: datetime) -> int:
        """Say that daemon ``owner`` is alive (for ``lease_seconds``); returns how many daemons
        are alive, itself included. Daemons gone for an hour are forgotten."""
        dialect = postgresql if self.dialect == "postgresql" else sqlite
        expires = now + timedelta(seconds=lease_seconds)
        insert = dialect.insert(pacer_daemons_t).values(
            owner=owner, started_at=now, heartbeat_at=now, expires_at=expires
        )
        with self._tx() as conn:
            conn.execute(
                insert.on_conflict_do_update(
                    index_elements=["owner"], set_={"heartbeat_at": now, "expires_at": expires}
                )
            )
            conn.execute(delete(pacer_daemons_t).where(pacer_daemons_t.c.expires_at < now - timedelta(hours=1)))
            live = conn.execute(
                select(func.count()).select_from(pacer_daemons_t).where(pacer_daemons_t.c.expires_at >= now)
            ).scalar_one()
        return int(live)

    def remove_daemon(self, *, owner: str) -> None:
        with self._tx() as conn:
            conn.execute(delete(pacer_daemons_t).where(pacer_daemons_t.c.owner == owner))

    def pacer_leases(self) -> dict[int, PacerLease]:
        """Every campaign's lease, live or expired, by campaign id."""
        with self._tx() as conn:
            return {r["campaign_id"]: _lease(r) for r in conn.execute(select(pacers_t)).mappings()}
