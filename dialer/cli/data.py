"""`dialer import`, `dialer dnc …`, `dialer config show`, `dialer db upgrade`."""

from __future__ import annotations

from pathlib import Path

import click
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

from dialer.cli.app import State, cli, err, out, pass_state, print_json
from dialer.domain import phones
from dialer.errors import DialerError, Interrupted
from dialer.importer import ImportOptions, ImportProgress, import_file
from dialer.importer.rows import DEFAULT_MAX_FIELD
from dialer.importer.sources import PARSE_LIMIT
from dialer.settings import redacted
from dialer.store import migrate
from dialer.store.repository import GLOBAL_SCOPE, SqlStore, campaign_scope


def parse_map(values: tuple[str, ...]) -> dict[str, str]:
    mapping = {}
    for value in values:
        if "=" not in value:
            raise click.UsageError(f"--map {value!r}: use FIELD=COLUMN, e.g. --map phoneNumber=Mobile")
        fld, column = value.split("=", 1)
        mapping[fld.strip()] = column.strip()
    return mapping


@cli.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--campaign", "campaign_name", required=True, help="Campaign to load the records into.")
@click.option("--region", help="Region for numbers without a country code (default: the campaign's).")
@click.option(
    "--rejects",
    "rejects_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write rejected rows (line, reason, message, original row) to this CSV.",
)
@click.option(
    "--map",
    "maps",
    multiple=True,
    metavar="FIELD=COLUMN",
    help="Which column holds a field (recordHandle, phoneNumber, outboundCallerId, timezone, country, "
    "phoneCode), by name, number or letter, e.g. phoneNumber=Mobile; FIELD= ignores a column. Repeatable; "
    "the campaign remembers it.",
)
@click.option("--encoding", help="File encoding (default: detected; utf-8, cp1252, latin-1, utf-16…).")
@click.option("--delimiter", help="CSV delimiter (default: sniffed among , ; tab |); 'tab' for a tab.")
@click.option("--sheet", help="XLSX sheet to read (default: the first).")
@click.option("--no-header", is_flag=True, help="The first line is a record; columns are 'column 1', 'column 2'….")
@click.option(
    "--on-duplicate",
    type=click.Choice(["skip", "update"]),
    default="skip",
    show_default=True,
    help="Records the campaign already has (same handle or phone): skip them, or update their data.",
)
@click.option("--dry-run", is_flag=True, help="Check and count everything, then store nothing.")
@click.option(
    "--workers", type=click.IntRange(min=0), help="Processes checking rows (default: one per core for large files)."
)
@click.option(
    "--max-field-chars",
    type=click.IntRange(min=1, max=PARSE_LIMIT),
    default=DEFAULT_MAX_FIELD,
    show_default=True,
    help="Longest field accepted, in characters; a row with a longer one is rejected (field_too_long).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as one JSON object.")
@pass_state
def import_(
    state: State,
    file: Path,
    campaign_name: str,
    region: str | None,
    rejects_path: Path | None,
    maps: tuple[str, ...],
    encoding: str | None,
    delimiter: str | None,
    sheet: str | None,
    no_header: bool,
    on_duplicate: str,
    dry_run: bool,
    workers: int | None,
    max_field_chars: int,
    as_json: bool,
) -> None:
    """Import outbound records from FILE (CSV or XLSX) into a campaign.

    Columns are recognised by the names Genesys, VICIdial and spreadsheets use (recordHandle,
    phoneNumber / phone_number / contact_info / Phone / Mobile, outboundCallerId / Caller ID,
    timezone, country, phone_code); every other column is kept as user data, exactly as
    written. Rejected rows are counted by reason: missing_phone, invalid_phone,
    unrecoverable_format, invalid_caller_id, missing_caller_id, invalid_timezone,
    invalid_country, invalid_handle, malformed_row, field_too_long, nul_byte, duplicate_in_file,
    dnc. A quote that is never closed refuses the file, naming its line.
    """
    if no_header and not maps:
        raise click.UsageError("--no-header needs --map phoneNumber=N (the phone's column number or letter)")
    options = ImportOptions(
        region=region,
        mapping=parse_map(maps),
        encoding=encoding,
        delimiter="\t" if delimiter in ("tab", "\\t") else delimiter,
        sheet=sheet,
        header=not no_header,
        on_duplicate=on_duplicate,  # type: ignore[arg-type]
        rejects_path=rejects_path,
        dry_run=dry_run,
        workers=workers,
        max_field_chars=max_field_chars,
    )
    with state.context() as ctx:
        campaign = ctx.store.get_campaign(campaign_name)
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TaskProgressColumn(),
            TextColumn("{task.fields[rows]:,} rows"),
            TimeElapsedColumn(),
            console=err,
            transient=True,
            auto_refresh=False,  # no refresh thread: the import may fork worker processes
            disable=as_json or not err.is_terminal,
        ) as bar:
            task = bar.add_task(f"importing {file.name}", total=None, rows=0)

            def show(p: ImportProgress) -> None:
                bar.update(task, completed=p.done, total=p.total or None, rows=p.rows, refresh=True)

            try:
                report = import_file(ctx.store, campaign, file, options, now=ctx.clock.now(), progress=show)
            except KeyboardInterrupt:
                raise Interrupted(
                    f"interrupted: nothing from {file.name} was imported (an import is one transaction, rolled "
                    "back). Run the same command again to import the file"
                ) from None
    if as_json:
        print_json(report.as_dict())
        return
    verb = "would be" if report.dry_run else ""
    out.print(
        f"{file.name} → {campaign_name}: {report.rows_read} rows, {report.imported} {verb} imported, "
        f"{report.updated} {verb} updated, {report.skipped_duplicates} duplicates skipped, "
        f"{report.rejected} rejected ({report.duration_s:.2f} s)".replace("  ", " "),
        highlight=False,
    )
    for reason, n in report.by_reason.items():
        out.print(f"  {reason}: {n}", highlight=False)
    if report.previous_import is not None:
        out.print(f"This file was imported before (import #{report.previous_import}); existing records were skipped.")
    if report.dry_run:
        out.print("Dry run: nothing was stored.")
    if report.rejected and rejects_path:
        out.print(f"Rejected rows with line numbers and reasons: {rejects_path}")
    elif report.rejected:
        out.print("Pass --rejects rejects.csv to get each rejected row with its line and reason.")


@cli.group()
def dnc() -> None:
    """The internal do-not-call list, checked at import and again at dial time."""


def _scope(store: SqlStore, campaign: str | None) -> str:
    return campaign_scope(store.get_campaign(campaign).id) if campaign else GLOBAL_SCOPE


def _normalise_numbers(numbers: tuple[str, ...], region: str) -> list[str]:
    """E.164 forms of ``numbers``; the first that is not a phone number refuses them all."""
    normalised = []
    for n in numbers:
        try:
            normalised.append(phones.normalise(n, region).e164)
        except phones.PhoneError as exc:
            raise DialerError(f"{n!r}: {exc}. Give the number in E.164 (+1…) or pass --region.") from exc
    return normalised


@dnc.command("add")
@click.argument("numbers", nargs=-1, required=True)
@click.option("--campaign", help="Only for this campaign (default: every campaign).")
@click.option("--region", default="US", show_default=True, help="Region for numbers without a country code.")
@click.option("--note", help="Why (kept with the entry).")
@click.option("--json", "as_json", is_flag=True, help="Print the result as one JSON object.")
@pass_state
def dnc_add(
    state: State, numbers: tuple[str, ...], campaign: str | None, region: str, note: str | None, as_json: bool
) -> None:
    """Add NUMBERS to the do-not-call list. They are never dialed again, even mid-campaign."""
    normalised = _normalise_numbers(numbers, region)
    with state.context() as ctx:
        added = ctx.store.add_dnc(
            normalised, scope=_scope(ctx.store, campaign), source="cli", note=note, now=ctx.clock.now()
        )
    if as_json:
        print_json(
            {
                "scope": campaign or "global",
                "numbers": list(dict.fromkeys(normalised)),
                "added": added,
                "already_listed": len(normalised) - added,
            }
        )
        return
    out.print(f"Added {added} number(s) to the do-not-call list ({len(normalised) - added} already there).")


@dnc.command("remove")
@click.argument("numbers", nargs=-1, required=True)
@click.option("--campaign", help="From this campaign's own list (default: the global list).")
@click.option("--region", default="US", show_default=True, help="Region for numbers without a country code.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as one JSON object.")
@pass_state
def dnc_remove(state: State, numbers: tuple[str, ...], campaign: str | None, region: str, as_json: bool) -> None:
    """Remove NUMBERS from the do-not-call list.

    Numbers that are not on the list are named, and the command then exits 1 (the others are
    removed)."""
    normalised = _normalise_numbers(numbers, region)
    with state.context() as ctx:
        scope = _scope(ctx.store, campaign)
        listed = ctx.store.dnc_numbers_in(normalised, scope=scope)
        removed = ctx.store.remove_dnc(normalised, scope=scope)
    missing = [n for n in dict.fromkeys(normalised) if n not in listed]
    where = f"campaign {campaign}'s do-not-call list" if campaign else "the global do-not-call list"
    if as_json:
        removed_numbers = [n for n in dict.fromkeys(normalised) if n in listed]
        print_json({"scope": campaign or "global", "removed": removed_numbers, "not_listed": missing})
        if missing:
            raise click.exceptions.Exit(1)
        return
    out.print(f"Removed {removed} number(s) from {where}.", highlight=False)
    if missing:
        hint = (
            "`dialer dnc list` shows the global list"
            if campaign
            else "a campaign's own list needs --campaign NAME (`dialer dnc list --campaign NAME` shows it)"
        )
        raise DialerError(f"not on {where}: {', '.join(missing)}. Nothing to remove for them; {hint}")


@dnc.command("list")
@click.option("--campaign", help="Also the campaign's own list.")
@click.option("--json", "as_json", is_flag=True, help="Print the numbers as one JSON array.")
@pass_state
def dnc_list(state: State, campaign: str | None, as_json: bool) -> None:
    """List do-not-call numbers (global, plus the campaign's own with --campaign)."""
    with state.context() as ctx:
        cid = ctx.store.get_campaign(campaign).id if campaign else None
        numbers = sorted(ctx.store.dnc_numbers(campaign_id=cid))
    if as_json:
        print_json(numbers)
    else:
        for n in numbers:
            out.print(n)
        err.print(f"{len(numbers)} number(s)")


@cli.group()
def config() -> None:
    """Inspect the effective configuration."""


@config.command("show")
@click.option("--json", "as_json", is_flag=True)
@pass_state
def config_show(state: State, as_json: bool) -> None:
    """Print the effective settings (secrets redacted) and where they came from."""
    data = redacted(state.settings())
    if as_json:
        print_json(data)
        return
    for key, value in data.items():
        out.print(f"{key} = {value!r}", highlight=False)


@cli.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@click.option("--json", "as_json", is_flag=True, help="Print the result as one JSON object.")
@pass_state
def db_upgrade(state: State, as_json: bool) -> None:
    """Apply schema migrations (also done automatically on first use)."""
    settings = state.settings()
    store = SqlStore.open(settings.effective_database_url, migrate_schema=False)
    try:
        before, after = store.upgrade()
        shown = store.shown_url
    finally:
        store.close()
    if as_json:
        print_json(
            {
                "database": shown,
                "before": before,
                "after": after,
                "head": migrate.head_revision(),
                "upgraded": before != after,
            }
        )
        return
    if before == after:
        out.print(f"Schema already at {after} (head {migrate.head_revision()}).")
    else:
        out.print(f"Schema upgraded from {before or 'empty'} to {after}.")
