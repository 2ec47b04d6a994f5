"""`dialer import`, `dialer dnc …`, `dialer config show`, `dialer db upgrade`."""

from __future__ import annotations

from pathlib import Path

import click
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from dialer.cli.app import State, cli, err, out, pass_state, print_json
from dialer.domain import phones
from dialer.errors import DialerError
from dialer.importer import ImportOptions, import_file
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
@click.option("--map", "maps", multiple=True, help="FIELD=COLUMN, e.g. phoneNumber=Mobile (repeatable).")
@click.option("--encoding", default="utf-8-sig", show_default=True, help="File encoding.")
@click.option(
    "--on-duplicate",
    type=click.Choice(["skip", "update"]),
    default="skip",
    show_default=True,
    help="What to do with records the campaign already has.",
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
    encoding: str,
    on_duplicate: str,
    as_json: bool,
) -> None:
    """Import outbound records from FILE into a campaign.

    Recognised columns: recordHandle, phoneNumber, outboundCallerId and timezone (and their
    snake_case twins); every other column is kept as user data, exactly as written.
    """
    options = ImportOptions(
        region=region,
        mapping=parse_map(maps),
        encoding=encoding,
        on_duplicate=on_duplicate,  # type: ignore[arg-type]
        rejects_path=rejects_path,
    )
    with state.context() as ctx:
        campaign = ctx.store.get_campaign(campaign_name)
        with Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            TimeElapsedColumn(),
            console=err,
            transient=True,
            disable=as_json,
        ) as bar:
            task = bar.add_task(f"importing {file.name}", total=None)
            report = import_file(
                ctx.store,
                campaign,
                file,
                options,
                now=ctx.clock.now(),
                progress=lambda n: bar.update(task, description=f"importing {file.name}: {n:,} rows"),
            )
    if as_json:
        print_json(report.as_dict())
        return
    out.print(
        f"{file.name} → {campaign_name}: {report.rows_read} rows, {report.imported} imported, "
        f"{report.updated} updated, "
        f"{report.skipped_duplicates} duplicates skipped, {report.rejected} rejected ({report.duration_s:.2f} s)"
    )
    for reason, n in report.by_reason.items():
        out.print(f"  {reason}: {n}")
    if report.rejected and rejects_path:
        out.print(f"Rejected rows with line numbers and reasons: {rejects_path}")
    elif report.rejected:
        out.print("Pass --rejects rejects.csv to get each rejected row with its line and reason.")


@cli.group()
def dnc() -> None:
    """The internal do-not-call list, checked at import and again at dial time."""


def _scope(store: SqlStore, campaign: str | None) -> str:
    return campaign_scope(store.get_campaign(campaign).id) if campaign else GLOBAL_SCOPE


@dnc.command("add")
@click.argument("numbers", nargs=-1, required=True)
@click.option("--campaign", help="Only for this campaign (default: every campaign).")
@click.option("--region", default="US", show_default=True, help="Region for numbers without a country code.")
@click.option("--note", help="Why (kept with the entry).")
@pass_state
def dnc_add(state: State, numbers: tuple[str, ...], campaign: str | None, region: str, note: str | None) -> None:
    """Add NUMBERS to the do-not-call list. They are never dialed again, even mid-campaign."""
    normalised = []
    for n in numbers:
        try:
            normalised.append(phones.normalise(n, region).e164)
        except phones.PhoneError as exc:
            raise DialerError(f"{n!r}: {exc}. Give the number in E.164 (+1…) or pass --region.") from exc
    with state.context() as ctx:
        added = ctx.store.add_dnc(
            normalised, scope=_scope(ctx.store, campaign), source="cli", note=note, now=ctx.clock.now()
        )
    out.print(f"Added {added} number(s) to the do-not-call list ({len(normalised) - added} already there).")


@dnc.command("remove")
@click.argument("numbers", nargs=-1, required=True)
@click.option("--campaign")
@click.option("--region", default="US", show_default=True)
@pass_state
def dnc_remove(state: State, numbers: tuple[str, ...], campaign: str | None, region: str) -> None:
    """Remove NUMBERS from the do-not-call list."""
    with state.context() as ctx:
        removed = ctx.store.remove_dnc(
            [phones.normalise(n, region).e164 for n in numbers], scope=_scope(ctx.store, campaign)
        )
    out.print(f"Removed {removed} number(s).")


@dnc.command("list")
@click.option("--campaign")
@click.option("--json", "as_json", is_flag=True)
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
@pass_state
def db_upgrade(state: State) -> None:
    """Apply schema migrations (also done automatically on first use)."""
    settings = state.settings()
    store = SqlStore.open(settings.effective_database_url, migrate_schema=False)
    try:
        before, after = store.upgrade()
    finally:
        store.close()
    if before == after:
        out.print(f"Schema already at {after} (head {migrate.head_revision()}).")
    else:
        out.print(f"Schema upgraded from {before or 'empty'} to {after}.")
