"""Value objects of an import: rejected rows and the summary a campaign manager reads."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import NamedTuple

#: Stable reject reason codes, with what each means (shown in rejects files and `--help`).
REJECT_REASONS: Mapping[str, str] = {
    "missing_phone": "the row has no phone number",
    "invalid_phone": "the phone number is not valid for its region (bad area code, too short or long, letters)",
    "unrecoverable_format": "the number was mangled by a spreadsheet (e.g. 8.14404E+09) and its digits are lost",
    "invalid_caller_id": "the caller ID is not a valid number or not one of the campaign's caller IDs",
    "missing_caller_id": "no caller ID on the row and none on the campaign",
    "duplicate_in_file": "the same record handle or phone number appears earlier in the file",
    "dnc": "the number is on the do-not-call list",
    "invalid_timezone": "the time-zone column names no IANA zone",
    "invalid_country": "the country column names no known country or calling code",
    "invalid_handle": "the record handle is longer than 200 characters",
    "malformed_row": "the row has more fields than the header",
    "field_too_long": "a field is longer than the import accepts (--max-field-chars, default 131,072 characters)",
    "nul_byte": "a field holds a NUL byte (0x00): the file is damaged on that line",
}


class PreparedRecord(NamedTuple):
    """A validated row on its way into the store, in the form a bulk insert wants.

    A tuple rather than a dataclass: an import makes a million of them and sends them
    between processes. ``user_data`` and ``tz_candidates`` are already JSON text.
    """

    line: int
    source: bytes
    """The importer's own encoding of the row as read (for reporting it if it is rejected
    later); the store ignores it."""
    handle: str
    phone: str
    caller_id: str | None
    user_data: str
    """JSON object of the row's user-data columns, in file order, values exactly as read."""
    timezone: str | None
    tz_candidates: str
    """JSON list of candidate IANA zones."""
    tz_source: str


class RowProblem(NamedTuple):
    """A row rejected while validating it (the raw fields stay with the reader)."""

    line: int
    reason: str
    message: str


@dataclass(frozen=True, kw_only=True)
class RejectedRow:
    line: int
    """1-based line in the file as a spreadsheet shows it (header = line 1)."""
    reason: str
    message: str
    raw: tuple[str, ...]
    """The row's fields exactly as read."""


@dataclass(frozen=True, kw_only=True)
class ImportSummary:
    id: int
    campaign_id: int
    source_name: str
    started_at: datetime
    finished_at: datetime | None
    rows_read: int
    imported: int
    updated: int
    skipped_duplicates: int
    rejected: int
    by_reason: Mapping[str, int] = field(default_factory=dict)
    duration_s: float | None = None
    sha256: str | None = None
