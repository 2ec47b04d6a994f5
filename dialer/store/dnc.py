"""The internal do-not-call list."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime

from sqlalchemy import delete, func, insert, select

from dialer.store.base import StoreBase, dnc_t
from dialer.store.types import GLOBAL_SCOPE, campaign_scope


class DncStore(StoreBase):
    def add_dnc(
        self,
        phones: Iterable[str],
        *,
        scope: str = GLOBAL_SCOPE,
        source: str,
        note: str | None = None,
        now: datetime,
    ) -> int:
        """Add numbers (E.164) to the list; return how many were new."""
        wanted = sorted(set(phones))
        if not wanted:
            return 0
        added = 0
        with self._tx() as conn:
            for chunk in _chunks(wanted, 500):
                existing = set(
                    conn.execute(
                        select(dnc_t.c.phone).where(dnc_t.c.scope == scope, dnc_t.c.phone.in_(chunk))
                    ).scalars()
                )
                rows = [
                    {"phone": p, "scope": scope, "source": source, "note": note, "added_at": now}
                    for p in chunk
                    if p not in existing
                ]
                if rows:
                    conn.execute(insert(dnc_t), rows)
                    added += len(rows)
        return added

    def remove_dnc(self, phones: Iterable[str], *, scope: str = GLOBAL_SCOPE) -> int:
        with self._tx() as conn:
            result = conn.execute(delete(dnc_t).where(dnc_t.c.scope == scope, dnc_t.c.phone.in_(list(phones))))
            return int(result.rowcount or 0)

    def dnc_numbers_in(self, phones: Iterable[str], *, scope: str = GLOBAL_SCOPE) -> set[str]:
        """Which of ``phones`` are on the list of ``scope`` (the global list, or one campaign's)."""
        hits: set[str] = set()
        with self._tx() as conn:
            for chunk in _chunks(list(set(phones)), 500):
                query = select(dnc_t.c.phone).where(dnc_t.c.phone.in_(chunk), dnc_t.c.scope == scope)
                hits.update(conn.execute(query).scalars())
        return hits

    def dnc_hits(self, phones: Iterable[str], *, campaign_id: int | None = None) -> set[str]:
        """Which of ``phones`` are on the global list or the campaign's own list."""
        wanted = list(set(phones))
        scopes = [GLOBAL_SCOPE] + ([campaign_scope(campaign_id)] if campaign_id is not None else [])
        hits: set[str] = set()
        with self._tx() as conn:
            for chunk in _chunks(wanted, 500):
                query = select(dnc_t.c.phone).where(dnc_t.c.phone.in_(chunk), dnc_t.c.scope.in_(scopes))
                hits.update(conn.execute(query).scalars())
        return hits

    def dnc_numbers(self, *, campaign_id: int | None = None) -> set[str]:
        scopes = [GLOBAL_SCOPE] + ([campaign_scope(campaign_id)] if campaign_id is not None else [])
        with self._tx() as conn:
            return set(conn.execute(select(dnc_t.c.phone).where(dnc_t.c.scope.in_(scopes))).scalars())

    def dnc_count(self) -> int:
        with self._tx() as conn:
            return int(conn.execute(select(func.count()).select_from(dnc_t)).scalar_one())


def _chunks(items: Sequence[str], size: int) -> Iterator[Sequence[str]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]
