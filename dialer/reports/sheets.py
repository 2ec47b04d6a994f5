"""What each data sheet holds: its columns (name, kind) and how a store line becomes a row.

Shared by the XLSX and CSV writers, so both formats carry the same columns in the same
order. Kinds: ``text``, ``int``, ``float``, ``bool``, ``datetime`` (local wall-clock text
``YYYY-MM-DD HH:MM:SS`` from the store), ``date``, ``percent``.

``free`` marks text that can come from outside the dialer — the imported file, the provider,
an agent — and so must be neutralised against formula injection in CSV. The other text
columns are written by the dialer from fixed vocabularies (statuses, outcome codes, E.164
numbers normalised at import, timestamps) and cannot begin with a trigger character other
than the ``+`` of an E.164 number, which the CSV rule leaves as it is anyway
(:mod:`dialer.reports.safety`). The XLSX writer checks every text cell regardless.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from dialer.domain.campaigns import Campaign
from dialer.domain.records import RecordStatus
from dialer.store.reporting import AttemptLine, RecordLine, RejectLine

Row = Sequence[Any]


@dataclass(frozen=True)
class Column:
    name: str
    kind: str = "text"
    free: bool = False
    width: float | None = None


RECORD_COLUMNS = (
    Column("record_handle", free=True),
    Column("phone_number"),
    Column("caller_id"),
    Column("status"),
    Column("attempts", "int"),
    Column("last_outcome"),
    Column("was_missed", "bool"),
    Column("last_attempt_at", "datetime"),
    Column("next_attempt_at", "datetime"),
)

_FINAL = frozenset(s.value for s in RecordStatus if s.is_final)


def record_columns(user_keys: Sequence[str]) -> list[Column]:
    """The fixed columns, then every user-data column under its original name."""
    return [*RECORD_COLUMNS, *(Column(key, free=True) for key in user_keys)]


def record_batches(
    batches: Iterable[list[RecordLine]], campaign: Campaign, user_keys: Sequence[str]
) -> Iterator[list[Row]]:
    """Records as rows: the caller ID the record is dialed with (its own or the campaign's
    default), the next attempt only while the record is not final, user data as stored."""
    default_caller = campaign.default_caller_id
    for batch in batches:
        yield [_record_row(r, default_caller, user_keys) for r in batch]


def _record_row(r: RecordLine, default_caller: str | None, user_keys: Sequence[str]) -> Row:
    data = r.user_data or {}
    return (
        r.handle,
        r.phone,
        r.caller_id or default_caller,
        r.status,
        r.attempts,
        r.last_outcome,
        r.last_was_missed,
        r.last_attempt_at,
        None if r.status in _FINAL else r.next_dial_at,
        *(_text(data.get(key)) for key in user_keys),
    )


def _text(value: object) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return str(value)


def attempt_columns(zone: str) -> list[Column]:
    """One column per :class:`~dialer.store.reporting.AttemptLine` field, in its order."""
    return [
        Column("record_handle", free=True),
        Column("number_dialed"),
        Column("caller_id"),
        Column("backend"),
        Column("session_id", free=True),
        Column("call_sid", free=True),
        Column(f"placed_at ({zone})", "datetime"),
        Column(f"answered_at ({zone})", "datetime"),
        Column(f"connected_at ({zone})", "datetime"),
        Column(f"ended_at ({zone})", "datetime"),
        Column("duration_s", "float"),
        Column("outcome"),
        Column("raw_outcome", free=True),
        Column("was_missed", "bool"),
        Column("pacing_reason", free=True, width=40),
        Column("attempt_id", free=True),
        Column("agent", free=True),
        Column("error", free=True, width=40),
    ]


def attempt_batches(batches: Iterable[list[AttemptLine]]) -> Iterable[list[AttemptLine]]:
    """Attempts are rows as they come from the store, one per column above."""
    return batches


def reject_columns(zone: str) -> list[Column]:
    return [
        Column("import", "int"),
        Column("file", free=True),
        Column(f"imported_at ({zone})", "datetime"),
        Column("line", "int"),
        Column("reason"),
        Column("message", free=True, width=50),
        Column("original_row", free=True, width=60),
    ]


def reject_batches(batches: Iterable[list[RejectLine]], as_csv_line: Any) -> Iterator[list[Row]]:
    """Rejects with the original row's fields joined back into one CSV line."""
    for batch in batches:
        yield [
            (r.import_id, r.source_name, r.imported_at, r.line, r.reason, r.message, as_csv_line(r.raw)) for r in batch
        ]
