"""Value objects of an import: rejected rows and the summary a campaign manager reads."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

#: Stable reject reason codes, with what each means (shown in rejects files and `--help`).
REJECT_REASONS: Mapping[str, str] = {
    "missing_phone": "the row has no phone number",
    "invalid_phone": "the phone number is not valid for its region (bad area code, too short or long, letters)",
    "unrecoverable_format": "the number was mangled by a spreadsheet (e.g. 8.14404E+09) and its digits are lost",
    "invalid_caller_id": "the caller ID is not E.164 or not one of the campaign's caller IDs",
    "missing_caller_id": "no caller ID on the row and none on the campaign",
    "duplicate_in_file": "the same record handle or phone number appears earlier in the file",
    "dnc": "the number is on the do-not-call list",
    "invalid_timezone": "the time-zone column names no IANA zone",
    "malformed_row": "the row has more fields than the header",
}


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
