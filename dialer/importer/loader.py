"""The import pipeline: read rows → map columns → validate → de-duplicate → scrub DNC → store."""

from __future__ import annotations

import csv
import hashlib
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Literal

from dialer.domain import phones
from dialer.domain.campaigns import Campaign
from dialer.domain.imports import REJECT_REASONS, RejectedRow
from dialer.domain.records import NewRecord
from dialer.errors import ImportFileError
from dialer.store.repository import SqlStore

#: Column names recognised for each field, compared case-insensitively without spaces,
#: dashes or underscores.
FIELD_ALIASES: Mapping[str, tuple[str, ...]] = {
    "recordHandle": ("recordhandle", "handle", "recordid", "id"),
    "phoneNumber": ("phonenumber", "phone", "number", "contactinfo", "telephone", "tel"),
    "outboundCallerId": ("outboundcallerid", "callerid", "cli"),
    "timezone": ("timezone", "tz", "tzdbid"),
}
FIELDS = tuple(FIELD_ALIASES)

BATCH = 5000


def _key(name: str) -> str:
    return "".join(ch for ch in name.lower() if ch.isalnum())


@dataclass(frozen=True, kw_only=True)
class ImportOptions:
    region: str | None = None
    """Region for numbers written without a country code; the campaign's region by default."""
    mapping: Mapping[str, str] = field(default_factory=dict)
    """Field → column overrides (``phoneNumber=Mobile``)."""
    encoding: str = "utf-8-sig"
    on_duplicate: Literal["skip", "update"] = "skip"
    rejects_path: Path | None = None


@dataclass(frozen=True, kw_only=True)
class ImportReport:
    import_id: int
    campaign: str
    source: str
    rows_read: int
    imported: int
    updated: int
    skipped_duplicates: int
    rejected: int
    by_reason: Mapping[str, int]
    duration_s: float
    rejects_path: str | None = None

    def as_dict(self) -> dict[str, object]:
        return {
            "import_id": self.import_id,
            "campaign": self.campaign,
            "source": self.source,
            "rows_read": self.rows_read,
            "imported": self.imported,
            "updated": self.updated,
            "skipped_duplicates": self.skipped_duplicates,
            "rejected": self.rejected,
            "rejected_by_reason": dict(self.by_reason),
            "seconds": round(self.duration_s, 3),
            "rejects_file": self.rejects_path,
        }


def map_columns(header: Sequence[str], overrides: Mapping[str, str]) -> dict[str, int]:
    """Field → column index. Overrides name columns exactly; otherwise aliases apply."""
    index: dict[str, int] = {}
    for fld, column in overrides.items():
        if fld not in FIELD_ALIASES:
            raise ImportFileError(f"--map {fld}={column}: unknown field {fld!r}; fields are {', '.join(FIELDS)}")
        if column not in header:
            raise ImportFileError(
                f"--map {fld}={column}: the file has no column {column!r}; columns are: {', '.join(header)}"
            )
        index[fld] = header.index(column)
    for fld, aliases in FIELD_ALIASES.items():
        if fld in index:
            continue
        for i, name in enumerate(header):
            if _key(name) in aliases and i not in index.values():
                index[fld] = i
                break
    if "phoneNumber" not in index:
        raise ImportFileError(
            f"no phone column found; columns are: {', '.join(header) or '(none)'}; pass --map phoneNumber=COLUMN"
        )
    return index


@contextmanager
def open_csv(path: Path, encoding: str) -> Iterator[tuple[list[str], Iterator[tuple[int, list[str]]]]]:
    """(header, rows as (first line number, fields)), closed on exit. Line numbers are
    1-based as a spreadsheet shows them: the header is line 1."""
    try:
        handle = path.open("r", encoding=encoding, newline="")
    except OSError as exc:
        raise ImportFileError(f"cannot open {path}: {exc.strerror}. Check the path and permissions.") from exc
    with handle:
        reader = csv.reader(handle)
        try:
            header = next(reader)
        except StopIteration:
            raise ImportFileError(f"{path} is empty; it needs a header row and at least one record") from None
        except UnicodeDecodeError as exc:
            raise ImportFileError(
                f"{path} is not valid {encoding}: {exc}. Pass --encoding latin-1 (or the file's encoding)."
            ) from exc

        def rows() -> Iterator[tuple[int, list[str]]]:
            start = reader.line_num + 1
            try:
                for row in reader:
                    yield start, row
                    start = reader.line_num + 1
            except UnicodeDecodeError as exc:
                raise ImportFileError(
                    f"{path} is not valid {encoding} near line {start}: {exc}. "
                    "Pass --encoding latin-1 (or the file's encoding)."
                ) from exc
            except csv.Error as exc:
                raise ImportFileError(f"{path} line {start}: {exc}. Fix the quoting on that line.") from exc

        yield [h.strip() for h in header], rows()


def import_file(
    store: SqlStore,
    campaign: Campaign,
    path: Path,
    options: ImportOptions,
    *,
    now: datetime,
    progress: Callable[[int], None] | None = None,
) -> ImportReport:
    with open_csv(path, options.encoding) as (header, rows):
        return _import_rows(store, campaign, path, header, rows, options, now=now, progress=progress)


def _import_rows(
    store: SqlStore,
    campaign: Campaign,
    path: Path,
    header: list[str],
    rows: Iterator[tuple[int, list[str]]],
    options: ImportOptions,
    *,
    now: datetime,
    progress: Callable[[int], None] | None,
) -> ImportReport:
    started = time.perf_counter()
    index = map_columns(header, options.mapping)
    region = (options.region or campaign.region).upper()
    if "outboundCallerId" not in index and not campaign.caller_ids and not campaign.allow_random_caller_id:
        raise ImportFileError(
            f"no caller ID: {path.name} has no outboundCallerId column and campaign {campaign.name!r} has no caller "
            "ID. Add one with `dialer campaign create … --caller-id +1…`, or add an outboundCallerId column."
        )
    known_handles, known_phones = store.record_keys(campaign.id)
    dnc = store.dnc_numbers(campaign_id=campaign.id)
    owned = set(campaign.caller_ids)
    user_columns = [(i, name) for i, name in enumerate(header) if i not in index.values()]
    seen_handles: set[str] = set()
    seen_phones: set[str] = set()
    by_reason: Counter[str] = Counter()
    rejects_kept: list[RejectedRow] = []
    counts = Counter[str]()

    def validate(line: int, row: list[str]) -> NewRecord | RejectedRow | None:
        def reject(reason: str, message: str) -> RejectedRow:
            return RejectedRow(line=line, reason=reason, message=message, raw=tuple(row))

        if len(row) > len(header) and any(cell.strip() for cell in row[len(header) :]):
            return reject("malformed_row", f"{len(row)} fields but the header has {len(header)}")
        cells = row + [""] * (len(header) - len(row))

        def get(fld: str) -> str:
            return cells[index[fld]].strip() if fld in index else ""

        raw_phone = get("phoneNumber")
        if not raw_phone:
            return reject("missing_phone", REJECT_REASONS["missing_phone"])
        try:
            parsed = phones.normalise(raw_phone, region)
        except phones.PhoneError as exc:
            return reject(exc.reason, str(exc))
        raw_cid = get("outboundCallerId")
        caller_id: str | None = None
        if raw_cid:
            try:
                caller_id = phones.normalise(raw_cid, region).e164
            except phones.PhoneError:
                return reject("invalid_caller_id", f"caller ID {raw_cid!r} is not a valid number")
            if owned and caller_id not in owned:
                return reject(
                    "invalid_caller_id",
                    f"caller ID {caller_id} is not one of the campaign's: {', '.join(sorted(owned))}",
                )
        elif not campaign.caller_ids and not campaign.allow_random_caller_id:
            return reject("missing_caller_id", REJECT_REASONS["missing_caller_id"])
        handle = get("recordHandle") or parsed.e164
        if handle in seen_handles or parsed.e164 in seen_phones:
            return reject("duplicate_in_file", f"{handle} / {parsed.e164} appears earlier in the file")
        seen_handles.add(handle)
        seen_phones.add(parsed.e164)
        if parsed.e164 in dnc:
            return reject("dnc", f"{parsed.e164} is on the do-not-call list")
        tz_raw = get("timezone")
        if tz_raw:
            try:
                from zoneinfo import ZoneInfo

                ZoneInfo(tz_raw)
            except (KeyError, ValueError):
                return reject("invalid_timezone", f"{tz_raw!r} is not an IANA time zone (e.g. America/Chicago)")
        zone = phones.resolve_zone(parsed.e164, explicit=tz_raw or None, fallback=campaign.fallback_zones)
        user_data = {name: cells[i] for i, name in user_columns}
        if parsed.extension:
            user_data.setdefault("extension", parsed.extension)
        return NewRecord(
            handle=handle,
            phone=parsed.e164,
            caller_id=caller_id,
            user_data=user_data,
            next_dial_at=now,
            timezone=zone.timezone,
            tz_candidates=zone.candidates,
            tz_source=zone.source,
        )

    sha = hashlib.sha256(path.read_bytes()).hexdigest() if path.stat().st_size < 512 * 1024 * 1024 else None
    with store.import_batch(
        campaign.id,
        source_name=path.name,
        sha256=sha,
        options={"region": region, "on_duplicate": options.on_duplicate, "mapping": dict(options.mapping)},
        now=now,
    ) as writer:
        inserts: list[NewRecord] = []
        updates: list[NewRecord] = []
        rejects: list[RejectedRow] = []

        def flush() -> None:
            writer.insert(inserts)
            writer.update(updates)
            writer.reject(rejects)
            inserts.clear()
            updates.clear()
            rejects.clear()

        for line, row in rows:
            if not row or not any(cell.strip() for cell in row):
                continue  # blank line
            counts["rows"] += 1
            result = validate(line, row)
            if isinstance(result, RejectedRow):
                by_reason[result.reason] += 1
                rejects.append(result)
                if options.rejects_path is not None:
                    rejects_kept.append(result)
            elif result is not None:
                if result.handle in known_handles:
                    if options.on_duplicate == "update":
                        updates.append(result)
                        counts["updated"] += 1
                    else:
                        counts["skipped"] += 1
                elif result.phone in known_phones:
                    counts["skipped"] += 1
                else:
                    inserts.append(result)
                    counts["imported"] += 1
            if len(inserts) + len(updates) + len(rejects) >= BATCH:
                flush()
            if progress is not None and counts["rows"] % BATCH == 0:
                progress(counts["rows"])
        flush()
        duration = time.perf_counter() - started
        writer.finish(
            rows_read=counts["rows"],
            imported=counts["imported"],
            updated=counts["updated"],
            skipped_duplicates=counts["skipped"],
            by_reason=by_reason,
            finished_at=now,
            duration_s=duration,
        )
        import_id = writer.import_id
    if options.rejects_path is not None:
        write_rejects(options.rejects_path, header, rejects_kept)
    return ImportReport(
        import_id=import_id,
        campaign=campaign.name,
        source=str(path),
        rows_read=counts["rows"],
        imported=counts["imported"],
        updated=counts["updated"],
        skipped_duplicates=counts["skipped"],
        rejected=sum(by_reason.values()),
        by_reason=dict(sorted(by_reason.items())),
        duration_s=time.perf_counter() - started,
        rejects_path=str(options.rejects_path) if options.rejects_path else None,
    )


def write_rejects(path: Path, header: Sequence[str], rejects: Sequence[RejectedRow]) -> None:
    """line, reason, message, then the original row under the file's own header."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8-sig", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["line", "reason", "message", *header])
        for r in rejects:
            writer.writerow([r.line, r.reason, r.message, *r.raw])
