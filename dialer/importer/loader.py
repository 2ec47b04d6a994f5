"""The import pipeline: read rows → map columns → validate → de-duplicate → scrub DNC → store.

:func:`import_file` is the library call; ``dialer import`` is a thin wrapper around it.

* **One transaction.** Records, rejects, the import's summary and the campaign's remembered
  mapping are written together or not at all; the rejects file appears only when the import
  succeeded.
* **Streaming.** Rows are read, checked and written in batches; memory holds the batches in
  flight and one entry per handle and phone seen (for duplicates in the file), never the file.
* **Both cores.** Checking a row (phone, caller ID, zone, user data) needs no database, so
  for large files it runs in worker processes while this process reads, de-duplicates and
  writes. Results come back in file order, so "the first row wins" holds.
* **Order of judgement per row:** the checks of :mod:`dialer.importer.rows`; then
  ``duplicate_in_file`` (same handle or phone as an earlier accepted row); then the campaign's
  own records (``--on-duplicate skip``: skipped, not rejected; ``update``: the record's data
  is replaced, its dialing state kept); then ``dnc``; then insert.
"""

from __future__ import annotations

import contextlib
import gc
import os
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Literal

import phonenumbers

from dialer.domain.campaigns import Campaign
from dialer.domain.imports import RejectedRow
from dialer.errors import ImportFileError
from dialer.importer import mapping as columns_
from dialer.importer import parallel, sources
from dialer.importer import rows as rows_
from dialer.importer.rejects import DryRun, RejectsFile
from dialer.store.records import ImportWriter
from dialer.store.repository import SqlStore

#: Files at least this large are checked in worker processes (when there are several cores).
PARALLEL_FROM_BYTES = 4 * 1024 * 1024
#: Up to this many DNC entries are held in memory for the scrub; more are looked up per batch.
DNC_IN_MEMORY = 500_000


@dataclass(frozen=True, kw_only=True)
class ImportOptions:
    region: str | None = None
    """Region for numbers written without a country code; the campaign's region by default."""
    mapping: Mapping[str, str] = field(default_factory=dict)
    """Field → column overrides (``phoneNumber=Mobile``); remembered by the campaign."""
    encoding: str | None = None
    """None: detected (UTF-8, UTF-8 with BOM, UTF-16 with BOM, Windows-1252, Latin-1)."""
    delimiter: str | None = None
    """None: sniffed among , ; tab |."""
    sheet: str | None = None
    """XLSX sheet (default: the first)."""
    header: bool = True
    on_duplicate: Literal["skip", "update"] = "skip"
    rejects_path: Path | None = None
    workers: int | None = None
    """Worker processes for checking rows; None: one per core for large files; 0: none."""
    max_field_chars: int = rows_.DEFAULT_MAX_FIELD
    """The longest field accepted, in characters; a row with a longer one is rejected
    (``field_too_long``). At most :data:`sources.PARSE_LIMIT`."""
    dry_run: bool = False
    """Do everything, report it, then roll the database back."""


@dataclass(frozen=True, kw_only=True)
class ImportProgress:
    rows: int
    done: int
    total: int
    """``done`` of ``total``: bytes for CSV, rows for XLSX."""


@dataclass(frozen=True, kw_only=True)
class ImportReport:
    import_id: int | None
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
    file_format: Mapping[str, str | None] = field(default_factory=dict)
    mapping: Mapping[str, str] = field(default_factory=dict)
    previous_import: int | None = None
    """An earlier import of the same file (by SHA-256) into this campaign."""
    dry_run: bool = False

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
            "rows_per_second": round(self.rows_read / self.duration_s) if self.duration_s > 0 else None,
            "rejects_file": self.rejects_path,
            "format": dict(self.file_format),
            "mapping": dict(self.mapping),
            "previous_import": self.previous_import,
            "dry_run": self.dry_run,
        }


def import_file(
    store: SqlStore,
    campaign: Campaign,
    path: Path,
    options: ImportOptions,
    *,
    now: datetime,
    progress: Callable[[ImportProgress], None] | None = None,
) -> ImportReport:
    """Import ``path`` into ``campaign``; raises :class:`ImportFileError` (changing nothing) when
    the file as a whole cannot be imported."""
    started = time.perf_counter()
    region = check_region(campaign, options)
    with sources.open_table(path, source_options(options)) as table:
        remembered = _remembered_mapping(campaign)
        column_map, rules = plan_columns(
            campaign, table, options.mapping, region=region, max_field_chars=options.max_field_chars
        )
        previous = next((i.id for i in store.imports(campaign.id, limit=100) if i.sha256 == table.sha256), None)
        run = _Run(
            store=store,
            campaign=campaign,
            table=table,
            rules=rules,
            options=options,
            now=now,
            progress=progress,
        )
        outcome = run.execute(
            record_options={
                "region": region,
                "on_duplicate": options.on_duplicate,
                "mapping": column_map.describe(),
                **{k: v for k, v in table.describe().items() if v is not None},
            },
            remember={**remembered, **_canonical(options.mapping)},
        )
    return ImportReport(
        import_id=outcome.import_id,
        campaign=campaign.name,
        source=str(path),
        rows_read=run.counts["rows"],
        imported=run.counts["imported"],
        updated=run.counts["updated"],
        skipped_duplicates=run.counts["skipped"],
        rejected=sum(run.by_reason.values()),
        by_reason=dict(sorted(run.by_reason.items())),
        duration_s=time.perf_counter() - started,
        rejects_path=str(options.rejects_path) if options.rejects_path else None,
        file_format=table.describe(),
        mapping=column_map.describe(),
        previous_import=previous,
        dry_run=options.dry_run,
    )


def source_options(options: ImportOptions) -> sources.SourceOptions:
    return sources.SourceOptions(
        encoding=options.encoding, delimiter=options.delimiter, sheet=options.sheet, header=options.header
    )


def plan_columns(
    campaign: Campaign,
    table: sources.Table,
    overrides: Mapping[str, str],
    *,
    region: str,
    max_field_chars: int = rows_.DEFAULT_MAX_FIELD,
) -> tuple[columns_.ColumnMap, rows_.RowRules]:
    """Which column holds which field (``overrides``, then the campaign's remembered mapping,
    then the names sources use), and the row checks that follow; raises
    :class:`ImportFileError` when the file cannot be imported into ``campaign`` as mapped."""
    try:
        column_map = columns_.map_columns(table.header, overrides, remembered=_remembered_mapping(campaign))
    except ImportFileError as exc:
        if len(table.sheets) > 1:
            others = ", ".join(repr(s) for s in table.sheets if s != table.sheet)
            raise ImportFileError(
                f"{exc.message} (in sheet {table.sheet!r}; the workbook also has {others}: pass --sheet NAME)"
            ) from None
        raise
    if column_map.index("outboundCallerId") < 0 and not campaign.caller_ids and not campaign.allow_random_caller_id:
        raise ImportFileError(
            f"no caller ID: {table.path.name} has no outboundCallerId column and campaign {campaign.name!r} has no "
            "caller ID. Add one with `dialer campaign create … --caller-id +1…`, add an outboundCallerId "
            "column, or map one with --map outboundCallerId=COLUMN."
        )
    rules = rows_.RowRules(
        width=len(table.header),
        handle=column_map.index("recordHandle"),
        phone=column_map.index("phoneNumber"),
        caller_id=column_map.index("outboundCallerId"),
        timezone=column_map.index("timezone"),
        country=column_map.index("country"),
        phone_code=column_map.index("phoneCode"),
        user_columns=column_map.user_columns,
        region=region,
        caller_ids=tuple(campaign.caller_ids),
        allow_random_caller_id=campaign.allow_random_caller_id,
        fallback_zones=tuple(campaign.fallback_zones),
        max_field=max_field_chars,
        columns=tuple(table.header),
        delimiter=table.delimiter or ",",
    )
    return column_map, rules


def check_region(campaign: Campaign, options: ImportOptions) -> str:
    """The region for numbers without a country code (and the options' field limit), checked."""
    region = (options.region or campaign.region).upper()
    if region not in phonenumbers.SUPPORTED_REGIONS:
        raise ImportFileError(f"--region {region}: not a region code; use ISO codes such as US, CA or GB")
    if not 1 <= options.max_field_chars <= sources.PARSE_LIMIT:
        raise ImportFileError(
            f"--max-field-chars {options.max_field_chars}: give a number of characters from 1 to "
            f"{sources.PARSE_LIMIT:,}"
        )
    return region


def _remembered_mapping(campaign: Campaign) -> dict[str, str]:
    """The field → column mapping the campaign remembers from earlier ``--map`` options."""
    stored = campaign.options.get("mapping")
    if not isinstance(stored, dict):
        return {}
    return {k: v for k, v in stored.items() if isinstance(v, str)}


def _canonical(overrides: Mapping[str, str]) -> dict[str, str]:
    return {columns_.field_name(k): v for k, v in overrides.items()}


@dataclass
class _Outcome:
    import_id: int | None


class _Run:
    """One import in progress: the counters, the duplicate sets and the writers."""

    def __init__(
        self,
        *,
        store: SqlStore,
        campaign: Campaign,
        table: sources.Table,
        rules: rows_.RowRules,
        options: ImportOptions,
        now: datetime,
        progress: Callable[[ImportProgress], None] | None,
    ) -> None:
        self.store = store
        self.campaign = campaign
        self.table = table
        self.rules = rules
        self.options = options
        self.now = now
        self.progress = progress
        self.counts: Counter[str] = Counter()
        self.by_reason: Counter[str] = Counter()
        self.seen_handles: set[str] = set()
        self.seen_phones: set[int] = set()
        self.track_handles = rules.handle >= 0
        self.dnc: set[str] | None = None
        self.has_records = False

    def execute(self, *, record_options: Mapping[str, object], remember: Mapping[str, str]) -> _Outcome:
        started = time.perf_counter()
        if self.store.dnc_count() <= DNC_IN_MEMORY:
            self.dnc = self.store.dnc_numbers(campaign_id=self.campaign.id)
        import_id: int | None = None
        try:
            with (
                _collector_paused(),
                RejectsFile(self.options.rejects_path, self.table.header) as rejects_out,
                self.store.import_batch(
                    self.campaign.id,
                    source_name=self.table.path.name,
                    sha256=self.table.sha256,
                    options=dict(record_options),
                    now=self.now,
                ) as writer,
            ):
                self.has_records = writer.has_records()
                if not self.has_records:
                    writer.defer_indexes(expected_rows=self._expected_rows())
                reader = parallel.CheckedReader(self.table, self.rules, workers=self._workers())
                for checked in reader:
                    self._settle(writer, rejects_out, checked)
                    if self.progress is not None:
                        done = reader.position if reader.position is not None else self.table.progress()
                        self.progress(ImportProgress(rows=self.counts["rows"], done=done, total=self.table.size))
                writer.finish(
                    rows_read=self.counts["rows"],
                    imported=self.counts["imported"],
                    updated=self.counts["updated"],
                    skipped_duplicates=self.counts["skipped"],
                    by_reason=self.by_reason,
                    finished_at=self.now,
                    duration_s=time.perf_counter() - started,
                )
                if self.options.mapping:
                    writer.remember({"mapping": dict(remember)})
                import_id = writer.import_id
                if self.options.dry_run:
                    raise DryRun
        except DryRun:
            return _Outcome(import_id=None)
        return _Outcome(import_id=import_id)

    def _expected_rows(self) -> int:
        """A low estimate of the file's rows (for CSV, at 100 bytes a row)."""
        return self.table.size if self.table.kind == "xlsx" else self.table.size // 100

    def _workers(self) -> int:
        if self.options.workers is not None:
            return max(self.options.workers, 0)
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        large = self.table.kind == "csv" and self.table.size >= PARALLEL_FROM_BYTES
        return min(cores, 4) if large and cores > 1 else 0

    # ----------------------------------------------------------- judging
    def _settle(self, writer: ImportWriter, rejects_out: RejectsFile, checked: parallel.Checked) -> None:
        """Judge one batch of checked rows against the file so far, the campaign and the DNC
        list, and write it."""
        offset, results = checked.line_offset, checked.rows
        width = rows_.ACCEPTED_WIDTH
        self.counts["rows"] += len(results)
        inserts: list[rows_.Checked] = []
        updates: list[rows_.Checked] = []
        rejected: list[RejectedRow] = []
        counts, by_reason = self.counts, self.by_reason
        seen_handles, seen_phones, track_handles = self.seen_handles, self.seen_phones, self.track_handles
        update_mode = self.options.on_duplicate == "update"
        has_records = self.has_records
        existing_handles: set[str] = set()
        existing_phones: dict[str, str] = {}
        dnc = self.dnc
        if has_records or dnc is None:
            accepted = [r for r in results if len(r) == width]
            if has_records:
                existing_handles, existing_phones = writer.existing([r[2] for r in accepted], [r[3] for r in accepted])
            if dnc is None:
                dnc = writer.dnc_hits([r[3] for r in accepted])

        def reject(line: int, raw: bytes, reason: str, message: str) -> None:
            by_reason[reason] += 1
            rejected.append(
                RejectedRow(line=offset + line, reason=reason, message=message, raw=tuple(rows_.raw_cells(raw)))
            )

        for result in results:
            if len(result) != width:
                reject(result[0], result[1], result[2], result[3])
                continue
            handle, phone = result[2], result[3]
            phone_key = int(phone[1:])
            if phone_key in seen_phones:
                reject(result[0], result[1], "duplicate_in_file", f"{phone} is on an earlier row of the file")
                continue
            if track_handles:
                if handle in seen_handles:
                    reject(result[0], result[1], "duplicate_in_file", f"record handle {handle!r} is on an earlier row")
                    continue
                seen_handles.add(handle)
            seen_phones.add(phone_key)
            is_update = False
            if has_records:
                holder = existing_phones.get(phone)
                if handle in existing_handles and update_mode and holder in (None, handle):
                    is_update = True
                elif handle in existing_handles or holder is not None:
                    counts["skipped"] += 1
                    continue
            if phone in dnc:
                reject(result[0], result[1], "dnc", f"{phone} is on the do-not-call list")
                continue
            if is_update:
                updates.append(result)
            else:
                inserts.append(result)
        counts["imported"] += len(inserts)
        counts["updated"] += len(updates)
        # Accepted rows are PreparedRecords in all but name: see rows_.
        writer.insert_prepared(inserts)  # type: ignore[arg-type]
        writer.update_prepared(updates)  # type: ignore[arg-type]
        writer.reject(rejected)
        rejects_out.write(rejected)


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector: an import allocates millions of tuples that form no
    cycles, and the collector's repeated passes over them cost more than the import's work."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
