"""Read-only queries behind the outcome reports: one snapshot, streamed, in local time.

A report is read inside :meth:`ReportStore.report_snapshot`: one read-only transaction
(``REPEATABLE READ`` on PostgreSQL, one read transaction on SQLite), so the summary, the
per-day figures and every row agree with each other even while the daemon keeps dialing.

Rows are streamed in batches (server-side cursors on PostgreSQL) and come back as small
named tuples of plain values, never as a million domain objects at once. Timestamps come
back as **wall-clock text in the report's time zone**, ``YYYY-MM-DD HH:MM:SS`` (to the
second), computed by the database: ``AT TIME ZONE`` on PostgreSQL; on SQLite, which has no
time zones, ``datetime()`` with the zone's UTC offset chosen per value from the offset periods
that :func:`offset_periods` derives from the IANA database. That keeps the per-row cost of
an export in C, and lets periods be grouped by *local* hour or day in SQL, for any zone.

The attempts can also come back as finished CSV lines
(:meth:`ReportReader.attempt_csv_lines`): SQLite renders each line with one ``printf``,
PostgreSQL streams them from ``COPY … TO STDOUT (FORMAT csv)``, which is what makes a
million-attempt CSV fit in seconds.

Attempts belong to the instant they were placed (``created_at``, written just before the
provider is asked to dial): every attempt, in flight or ended, falls in exactly one period.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from itertools import repeat
from typing import Any, Literal, NamedTuple, TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import (
    ColumnElement,
    Connection,
    Float,
    Numeric,
    Select,
    String,
    and_,
    case,
    cast,
    func,
    literal,
    select,
    type_coerce,
)
from sqlalchemy.exc import OperationalError

from dialer.errors import StoreError
from dialer.store.base import StoreBase, attempts_t, imports_t, records_t, rejects_t

#: SQLAlchemy's storage format for datetimes on SQLite (UTC, naive), which makes text
#: comparison the same as time comparison.
_SQLITE_FORMAT = "%Y-%m-%d %H:%M:%S.%f"
LOCAL_FORMAT = "%Y-%m-%d %H:%M:%S"
"""How local wall-clock text is written (``strptime``-compatible)."""


_Q = TypeVar("_Q", bound="Select[*tuple[Any, ...]]")


class RecordLine(NamedTuple):
    handle: str
    phone: str
    caller_id: str | None
    status: str
    attempts: int
    last_outcome: str | None
    last_was_missed: bool | None
    last_attempt_at: str | None
    next_dial_at: str | None
    user_data: Mapping[str, Any]


class AttemptLine(NamedTuple):
    record_handle: str
    number_dialed: str
    caller_id: str | None
    backend: str
    provider_ref: str | None
    call_sid: str | None
    placed_at: str
    """When the call was placed (or, before the provider accepted it, when it was written)."""
    answered_at: str | None
    connected_at: str | None
    ended_at: str | None
    duration_s: float | None
    outcome: str | None
    raw_outcome: str | None
    was_missed: bool | None
    pacing_reason: str
    attempt_id: str
    agent: str | None
    error: str | None


CsvKind = Literal["text", "free", "number", "flag"]
"""How a column is written to CSV: quoted ``text``; ``free`` text, quoted and neutralised;
a bare ``number`` or ``flag`` (``True``/``False``). ``None`` is always ``""``."""

#: Most records whose handles a CSV export holds in memory (about 150 bytes each).
HANDLES_IN_MEMORY = 2_000_000
#: The SQL name under which an export's ``neutralise`` function runs.
_NEUTRALISE = "dialer_neutralise"
#: Durations are reported to the millisecond.
DURATION_DECIMALS = 3


def _csv_printf(
    columns: Sequence[ColumnElement[Any]], kinds: Sequence[CsvKind], codes: Sequence[int]
) -> ColumnElement[str]:
    """One SQLite ``printf`` that writes ``columns`` as a CSV line the way ``csv.writer``
    with ``QUOTE_NONNUMERIC`` does: text quoted with quotes doubled (``%w``), flags as
    ``True``/``False``, ``None`` as ``""``, numbers as SQLite's text of them. That is what
    Python's ``repr`` writes for every integer, and for every real of at most 15
    significant digits below 10¹⁵ — such as a duration to the millisecond; a real with more
    digits would be cut to 15 (Excel's own precision), so round such columns first."""
    formats: list[str] = []
    values: list[ColumnElement[Any]] = []
    for column, kind in zip(columns, kinds, strict=True):
        if kind == "number":
            formats.append("%s")
            values.append(func.coalesce(column, literal('""')))
        elif kind == "flag":
            formats.append("%s")
            values.append(case((column == 1, "True"), (column == 0, "False"), else_='""'))
        else:
            formats.append('"%w"')
            text: ColumnElement[Any] = func.coalesce(column, literal(""))
            if kind == "free":
                text = case((func.unicode(column).in_(codes), getattr(func, _NEUTRALISE)(column)), else_=text)
            values.append(text)
    return type_coerce(func.printf(",".join(formats), *values), String())


def _csv_fields(
    columns: Sequence[ColumnElement[Any]], kinds: Sequence[CsvKind], triggers: Sequence[str], plain: str
) -> list[tuple[ColumnElement[str], bool]]:
    """PostgreSQL's counterpart of :func:`_csv_printf`: each column as the text that
    ``csv.writer`` with ``QUOTE_NONNUMERIC`` writes for it, and whether it is quoted. COPY's
    own CSV writer then quotes (``FORCE_QUOTE``) and escapes the text columns in C. No value
    is NULL: an empty one is ``''``, which COPY writes as ``""`` whether forced or not, as the
    csv module writes ``None``. Floats are written as Python's ``repr`` writes them:
    PostgreSQL's shortest exact text, with ``.0`` on whole numbers (below 10¹⁵, as a duration
    always is). ``free`` text that begins with a trigger and does not match ``plain`` gets the
    ``'`` prefix."""
    fields: list[tuple[ColumnElement[str], bool]] = []
    for column, kind in zip(columns, kinds, strict=True):
        if kind == "number":
            text: ColumnElement[Any] = cast(column, String())
            if isinstance(column.type, Float):
                # The float as a numeric holds its shortest digits (at most 15 significant);
                # trim_scale drops trailing zeros, and a whole number gets Python's ".0".
                exact = func.trim_scale(cast(column, Numeric()))
                text = func.concat(cast(exact, String()), case((func.scale(exact) == 0, ".0")))
            fields.append((func.coalesce(text, literal("")), False))
        elif kind == "flag":
            fields.append((case((column.is_(True), "True"), (column.is_(False), "False"), else_=""), False))
        else:
            value: ColumnElement[Any] = func.coalesce(column, literal(""))
            if kind == "free":
                risky = and_(func.left(column, 1).in_(triggers), column.op("!~")(f"^(?:{plain})$"))
                value = case((risky, func.concat("'", column)), else_=value)
            fields.append((type_coerce(value, String()), True))
    return fields


class PeriodCount(NamedTuple):
    """Attempts placed in one local period (``YYYY-MM-DD`` or ``YYYY-MM-DD HH``) with one outcome."""

    period: str
    outcome: str | None
    """``None`` for attempts still in flight."""
    attempts: int
    missed: int
    """Of those, how many carried the provider's ``wasMissed`` flag."""
    preview: int = 0
    """Of those, how many agents dialed from the preview desk (not abandonment candidates)."""
    message_played: int = 0
    """Of the non-preview ones, how many heard the information message."""
    amd_machines: int = 0
    """Of the non-preview ones, how many AMD classed as a machine."""


class RejectLine(NamedTuple):
    import_id: int
    source_name: str
    imported_at: str
    line: int
    reason: str
    message: str
    raw: tuple[str, ...]


def offset_periods(zone: str, start: datetime, end: datetime) -> list[tuple[datetime, int]]:
    """The UTC offsets of ``zone`` over ``[start, end]``: ``(from_instant, offset_seconds)``.

    The first pair starts at ``start``; each later one at a transition (DST, or a change of
    the zone's standard time), exact to the second. Real zones change at most a few times a
    year, so scanning day by day and bisecting the day that changed finds every transition.
    """
    tz = ZoneInfo(zone)
    first = int(start.timestamp())
    last = max(first, int(end.timestamp()) + 1)

    def offset(epoch: int) -> int:
        delta = datetime.fromtimestamp(epoch, UTC).astimezone(tz).utcoffset()
        return int(delta.total_seconds()) if delta is not None else 0

    periods = [(first, offset(first))]
    cursor = first
    while cursor < last:
        step = min(cursor + 86_400, last)
        if offset(step) != periods[-1][1]:
            lo, hi = cursor, step  # offset(lo) is the current offset, offset(hi) the next
            while hi - lo > 1:
                mid = (lo + hi) // 2
                lo, hi = (mid, hi) if offset(mid) == periods[-1][1] else (lo, mid)
            periods.append((hi, offset(hi)))
        cursor = step
    return [(datetime.fromtimestamp(epoch, UTC), off) for epoch, off in periods]


_L = TypeVar("_L", bound=tuple[Any, ...])


def _lines(kind: type[_L], rows: Sequence[Any]) -> list[_L]:
    """Rows as named tuples, without a Python call per row (exports are row-count bound)."""
    return list(map(tuple.__new__, repeat(kind), rows))


class ReportReader:
    """Queries over one read snapshot; built by :meth:`ReportStore.report_snapshot`."""

    def __init__(self, conn: Connection, *, zone: str, now: datetime) -> None:
        self._conn = conn
        self._zone = zone
        self._now = now
        self._sqlite = conn.dialect.name == "sqlite"
        self._periods: dict[int, list[tuple[datetime, int]]] = {}

    # ------------------------------------------------------------------ local time
    def _ensure_periods(self, campaign_id: int) -> list[tuple[datetime, int]]:
        """SQLite only: the zone's offsets from the campaign's first to last timestamp."""
        if campaign_id not in self._periods:
            a, r = attempts_t.c, records_t.c
            bounds = [
                select(func.min(a.created_at), func.max(a.created_at), func.max(a.ended_at)).where(
                    a.campaign_id == campaign_id
                ),
                select(func.min(r.next_dial_at), func.max(r.next_dial_at), func.max(r.last_attempt_at)).where(
                    r.campaign_id == campaign_id
                ),
                select(func.min(imports_t.c.started_at), func.max(imports_t.c.started_at), literal(None)).where(
                    imports_t.c.campaign_id == campaign_id
                ),
            ]
            seen: list[datetime] = []
            for query in bounds:
                seen += [v for v in self._conn.execute(query).one() if v is not None]
            # Unfinished attempts learn their answer times up to the present; pad both ends
            # by a day so a timestamp at the very edge is always inside a period.
            first = min([*seen, self._now]) - timedelta(days=1)
            last = max([*seen, self._now]) + timedelta(days=1)
            self._periods[campaign_id] = offset_periods(self._zone, first, last)
        return self._periods[campaign_id]

    def _rounded(self, column: ColumnElement[Any], decimals: int) -> ColumnElement[float]:
        """``column`` (a float) rounded to ``decimals``, as a float on either database."""
        if self._sqlite:
            return type_coerce(func.round(column, decimals), Float())
        return cast(func.round(cast(column, Numeric()), decimals), Float())

    def _local(self, column: ColumnElement[Any], campaign_id: int) -> ColumnElement[str]:
        """``column`` (a UTC timestamp) as local wall-clock text, ``None`` kept."""
        if not self._sqlite:
            # Timestamp text in ISO style (the snapshot sets it): a third cheaper than to_char.
            return cast(func.date_trunc("second", func.timezone(self._zone, column)), String())
        periods = self._ensure_periods(campaign_id)
        raw = type_coerce(column, String())

        def shift(seconds: int) -> str:
            return f"{seconds:+d} seconds"

        if len(periods) == 1:
            modifier: ColumnElement[str] | str = shift(periods[0][1])
        else:
            whens = [
                (raw < nxt.astimezone(UTC).strftime(_SQLITE_FORMAT), shift(off))
                for (_, off), (nxt, _) in itertools.pairwise(periods)
            ]
            modifier = case(*whens, else_=shift(periods[-1][1]))
        # Whole seconds first: SQLite would round 59.9996 s up, PostgreSQL's to_char truncates.
        return type_coerce(func.datetime(func.substr(raw, 1, 19), modifier), String())

    # ------------------------------------------------------------------ records
    def record_counts(self, campaign_id: int) -> dict[str, int]:
        query = (
            select(records_t.c.status, func.count())
            .where(records_t.c.campaign_id == campaign_id)
            .group_by(records_t.c.status)
        )
        return {status: int(n) for status, n in self._conn.execute(query)}

    def user_data_keys(self, campaign_id: int, *, batch: int = 5000) -> list[str]:
        """Every user-data key of the campaign's records, in first-seen order (import order)."""
        keys: dict[str, None] = {}
        query = select(records_t.c.user_data).where(records_t.c.campaign_id == campaign_id).order_by(records_t.c.id)
        for part in self._conn.execution_options(yield_per=batch).execute(query).partitions():
            for (data,) in part:
                if data:
                    for key in data:
                        if key not in keys:
                            keys[key] = None
        return list(keys)

    def record_lines(self, campaign_id: int, *, batch: int = 5000) -> Iterator[list[RecordLine]]:
        r = records_t.c
        query = (
            select(
                r.handle,
                r.phone,
                r.caller_id,
                r.status,
                r.attempts,
                r.last_outcome,
                r.last_was_missed,
                self._local(r.last_attempt_at, campaign_id),
                self._local(r.next_dial_at, campaign_id),
                r.user_data,
            )
            .where(r.campaign_id == campaign_id)
            .order_by(r.id)
        )
        for part in self._conn.execution_options(yield_per=batch).execute(query).partitions():
            yield _lines(RecordLine, part)

    # ------------------------------------------------------------------ attempts
    def _placed_in(self, query: _Q, campaign_id: int, since: datetime | None, until: datetime | None) -> _Q:
        conditions = [attempts_t.c.campaign_id == campaign_id]
        if since is not None:
            conditions.append(attempts_t.c.created_at >= since)
        if until is not None:
            conditions.append(attempts_t.c.created_at < until)
        return query.where(and_(*conditions))

    def _attempts_query(
        self, campaign_id: int, since: datetime | None, until: datetime | None, *, join: bool = True
    ) -> Select[*tuple[Any, ...]]:
        """The attempt lines' query; ``join=False`` selects the record's id, not its handle."""
        a = attempts_t.c
        local = self._local
        query = select(
            records_t.c.handle if join else a.record_id,
            a.number_dialed,
            a.caller_id,
            a.backend,
            a.provider_ref,
            a.call_sid,
            local(func.coalesce(a.placed_at, a.created_at), campaign_id),
            local(a.answered_at, campaign_id),
            local(a.connected_at, campaign_id),
            local(a.ended_at, campaign_id),
            self._rounded(a.duration_s, DURATION_DECIMALS),
            a.outcome,
            a.raw_outcome,
            a.was_missed,
            a.pacing_reason,
            a.id,
            a.agent,
            a.error,
        )
        if join:
            query = query.join(records_t, records_t.c.id == a.record_id)
        return self._placed_in(query, campaign_id, since, until).order_by(a.created_at, a.id)

    def attempt_lines(
        self,
        campaign_id: int,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        batch: int = 5000,
    ) -> Iterator[list[AttemptLine]]:
        """Attempts placed in ``[since, until)``, in the order they were placed."""
        query = self._attempts_query(campaign_id, since, until)
        for part in self._conn.execution_options(yield_per=batch).execute(query).partitions():
            yield _lines(AttemptLine, part)

    @property
    def renders_csv(self) -> bool:
        """Whether :meth:`attempt_csv_lines` is available (SQLite and PostgreSQL)."""
        return self._conn.dialect.name in ("sqlite", "postgresql")

    def attempt_csv_lines(
        self,
        campaign_id: int,
        kinds: Sequence[CsvKind],
        neutralise: Callable[[str], str],
        triggers: Iterable[str],
        *,
        plain: re.Pattern[str] | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        batch: int = 5000,
    ) -> Iterator[list[str]]:
        """:meth:`attempt_lines` rendered by the database as CSV lines (no line end), byte for
        byte what ``csv.writer(quoting=QUOTE_NONNUMERIC)`` writes for them, with ``neutralise``
        applied to the ``free`` text that begins with one of ``triggers``.

        ``kinds`` holds one :data:`CsvKind` per column.

        On SQLite each line is one ``printf`` (``%w`` doubles quotes, as CSV escapes them), so
        a row costs no Python object per field: a million attempts take about half the time of
        the csv module's path. ``neutralise`` runs in Python, as an SQL function, only on
        values that begin with a trigger. The records' handles are rendered once each and
        looked up in memory (one read of the campaign's records instead of a B-tree probe per
        attempt); campaigns of more than :data:`HANDLES_IN_MEMORY` records join instead, so
        memory stays bounded.

        On PostgreSQL the lines come from ``COPY (…) TO STDOUT (FORMAT csv)``: the server
        renders each value, COPY's CSV writer quotes the text ones, and the client only turns
        each row's ``\\n`` into ``\\r\\n`` (:func:`~dialer.reports.csvfile.write_csv_lines`).
        There the neutralisation is done in SQL too: the ``'`` prefix of OWASP's rule (what
        :func:`dialer.reports.safety.csv_text` does) on trigger-led text that does not match
        ``plain`` in full, which is therefore required.
        """
        if self._conn.dialect.name == "postgresql":
            if plain is None:
                raise StoreError("PostgreSQL neutralises CSV text in SQL: pass plain= (the text left as it is)")
            yield from self._copy_csv_lines(campaign_id, kinds, triggers, plain, since, until, batch)
            return
        if not self._sqlite:
            raise StoreError("only SQLite and PostgreSQL render CSV lines; write attempt_lines with the csv module")
        raw = self._conn.connection.driver_connection
        assert raw is not None  # a live connection inside the snapshot
        raw.create_function(_NEUTRALISE, 1, neutralise, deterministic=True)
        codes = sorted(ord(c) for c in triggers)
        a = attempts_t.c
        try:
            handles = self._rendered_handles(campaign_id, kinds[0], codes)
            query = self._attempts_query(campaign_id, since, until, join=handles is None)
            columns = list(query.selected_columns)
            if handles is None:
                line = _csv_printf(columns, kinds, codes)
                query = query.with_only_columns(a.record_id, line)
            else:
                line = _csv_printf(columns[1:], kinds[1:], codes)
                query = query.with_only_columns(a.record_id, func.printf(",%s", line))
            for part in self._raw_rows(query, batch):
                if handles is None:
                    yield [text for _, text in part]
                else:
                    yield [handles[rid] + text for rid, text in part]
        finally:
            raw.create_function(_NEUTRALISE, 1, None)

    def _copy_csv_lines(
        self,
        campaign_id: int,
        kinds: Sequence[CsvKind],
        triggers: Iterable[str],
        plain: re.Pattern[str],
        since: datetime | None,
        until: datetime | None,
        batch: int,
    ) -> Iterator[list[str]]:
        query = self._attempts_query(campaign_id, since, until)
        fields = _csv_fields(list(query.selected_columns), kinds, sorted(triggers), plain.pattern)
        names = [f"c{i}" for i in range(len(fields))]
        query = query.with_only_columns(*(value.label(name) for (value, _), name in zip(fields, names, strict=True)))
        sql = query.compile(dialect=self._conn.dialect, compile_kwargs={"literal_binds": True})
        quoted = ", ".join(name for (_, forced), name in zip(fields, names, strict=True) if forced)
        raw = self._conn.connection.driver_connection
        assert raw is not None  # a live connection inside the snapshot
        encoding = raw.info.encoding
        statement = f"COPY ({sql}) TO STDOUT (FORMAT csv, FORCE_QUOTE ({quoted}))"
        with raw.cursor() as cursor:
            # Compiling the row expressions to machine code takes longer than it saves here.
            cursor.execute("SET LOCAL jit = off")
            with cursor.copy(statement) as copy:
                lines: list[str] = []
                for data in copy:
                    # One CopyData message is one row and its "\n" (a quoted value may hold more).
                    lines.append(str(data[:-1], encoding))
                    if len(lines) >= batch:
                        yield lines
                        lines = []
                if lines:
                    yield lines

    def _rendered_handles(self, campaign_id: int, kind: CsvKind, codes: Sequence[int]) -> dict[int, str] | None:
        """Record id → its handle as a CSV field, or ``None`` if there are too many records to hold."""
        r = records_t.c
        count = self._conn.execute(select(func.count()).where(r.campaign_id == campaign_id)).scalar_one()
        if count > HANDLES_IN_MEMORY:
            return None
        query = select(r.id, _csv_printf([r.handle], [kind], codes)).where(r.campaign_id == campaign_id)
        return {rid: text for part in self._raw_rows(query, 50_000) for rid, text in part}

    def _raw_rows(self, query: Select[*tuple[Any, ...]], batch: int) -> Iterator[list[Any]]:
        """Rows straight from the SQLite driver's cursor: no per-value conversion. The only
        parameters here are ids and the period's bounds, which SQLAlchemy renders as literals."""
        sql = str(query.compile(dialect=self._conn.dialect, compile_kwargs={"literal_binds": True}))
        cursor = self._conn.connection.cursor()
        try:
            cursor.execute(sql)
            while part := cursor.fetchmany(batch):
                yield list(part)
        finally:
            cursor.close()

    def last_placed_at(self, campaign_id: int) -> datetime | None:
        """When the campaign's latest attempt was placed (UTC), if it has any."""
        query = select(func.max(attempts_t.c.created_at)).where(attempts_t.c.campaign_id == campaign_id)
        value: datetime | None = self._conn.execute(query).scalar_one()
        return value

    def placed_span(
        self, campaign_id: int, *, since: datetime | None = None, until: datetime | None = None
    ) -> tuple[str, str] | None:
        """Local times of the first and last attempt placed in ``[since, until)``, if any."""
        a = attempts_t.c
        first, last = (self._local(f(a.created_at), campaign_id) for f in (func.min, func.max))
        start, end = self._conn.execute(self._placed_in(select(first, last), campaign_id, since, until)).one()
        return None if start is None else (start, end)

    def period_counts(
        self,
        campaign_id: int,
        *,
        unit: str,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[PeriodCount]:
        """Attempts per local ``"day"`` or ``"hour"`` and outcome, oldest first."""
        width = {"day": 10, "hour": 13}[unit]
        a = attempts_t.c
        period = func.substr(self._local(a.created_at, campaign_id), 1, width).label("period")
        missed = func.sum(case((a.was_missed.is_(True), 1), else_=0))
        preview = func.sum(case((a.preview.is_(True), 1), else_=0))
        own = a.preview.is_not(True)
        played = func.sum(case((and_(own, a.message_played.is_(True)), 1), else_=0))
        machines = func.sum(case((and_(own, a.amd == "machine"), 1), else_=0))
        query = (
            self._placed_in(
                select(period, a.outcome, func.count(), missed, preview, played, machines), campaign_id, since, until
            )
            .group_by(period, a.outcome)
            .order_by(period)
        )
        return [
            PeriodCount(p, o, int(n), int(m or 0), int(v or 0), int(mp or 0), int(am or 0))
            for p, o, n, m, v, mp, am in self._conn.execute(query)
        ]

    def outcome_totals(
        self, campaign_id: int, *, since: datetime | None = None, until: datetime | None = None
    ) -> dict[str | None, tuple[int, int]]:
        """Attempts placed in ``[since, until)`` by outcome: ``outcome → (attempts, missed)``."""
        a = attempts_t.c
        missed = func.sum(case((a.was_missed.is_(True), 1), else_=0))
        query = self._placed_in(select(a.outcome, func.count(), missed), campaign_id, since, until).group_by(a.outcome)
        return {o: (int(n), int(m or 0)) for o, n, m in self._conn.execute(query)}

    def preview_totals(
        self, campaign_id: int, *, since: datetime | None = None, until: datetime | None = None
    ) -> dict[str | None, int]:
        """Of :meth:`outcome_totals`, the calls agents dialed from the preview desk, by outcome
        (not abandonment candidates)."""
        a = attempts_t.c
        query = self._placed_in(
            select(a.outcome, func.count()).where(a.preview.is_(True)), campaign_id, since, until
        ).group_by(a.outcome)
        return {o: int(n) for o, n in self._conn.execute(query)}

    def abandon_detail_totals(
        self, campaign_id: int, *, since: datetime | None = None, until: datetime | None = None
    ) -> tuple[dict[str | None, int], int]:
        """Of :meth:`outcome_totals`, preview calls left out: attempts that heard the information
        message, by outcome, and attempts that AMD classed as a machine."""
        a = attempts_t.c
        played = func.sum(case((a.message_played.is_(True), 1), else_=0))
        machines = func.sum(case((a.amd == "machine", 1), else_=0))
        query = self._placed_in(
            select(a.outcome, played, machines).where(a.preview.is_not(True)), campaign_id, since, until
        ).group_by(a.outcome)
        rows = list(self._conn.execute(query))
        return {o: int(mp) for o, mp, _ in rows if mp}, sum(int(am or 0) for *_, am in rows)

    # ------------------------------------------------------------------ rejects
    def reject_lines(self, campaign_id: int, *, batch: int = 5000) -> Iterator[list[RejectLine]]:
        i, j = imports_t.c, rejects_t.c
        query = (
            select(i.id, i.source_name, self._local(i.started_at, campaign_id), j.line, j.reason, j.message, j.raw)
            .join(imports_t, i.id == j.import_id)
            .where(i.campaign_id == campaign_id)
            .order_by(i.id, j.line, j.id)
        )
        for part in self._conn.execution_options(yield_per=batch).execute(query).partitions():
            yield [
                RejectLine(
                    import_id=iid,
                    source_name=name,
                    imported_at=at,
                    line=line,
                    reason=reason,
                    message=msg,
                    raw=tuple(raw or ()),
                )
                for iid, name, at, line, reason, msg, raw in part
            ]


class ReportStore(StoreBase):
    @contextmanager
    def report_snapshot(self, *, zone: str, now: datetime) -> Iterator[ReportReader]:
        """A read-only view in which every query sees the same data, times local to ``zone``.

        ``now`` bounds the local-time conversion on SQLite (attempts in flight may still
        learn answer times up to it).
        """
        ZoneInfo(zone)  # an unknown zone fails here, before the database is touched
        try:
            with self.engine.connect() as conn:
                if conn.dialect.name == "postgresql":
                    conn = conn.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
                with conn.begin():
                    if conn.dialect.name == "sqlite":
                        # pysqlite begins transactions only before writes; a report's reads
                        # must share one snapshot, so begin one explicitly.
                        conn.exec_driver_sql("BEGIN")
                    else:
                        # Local times are rendered as timestamp text (ReportReader._local),
                        # which is "YYYY-MM-DD HH:MM:SS" in ISO style whatever the server's default.
                        conn.exec_driver_sql("SET LOCAL datestyle = 'ISO, YMD'")
                    yield ReportReader(conn, zone=zone, now=now)
        except OperationalError as exc:
            raise StoreError(f"the database failed while reading a report: {exc.orig}. Is it reachable?") from exc
