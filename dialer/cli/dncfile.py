"""`dialer dnc import`: opt-out lists from files."""

from __future__ import annotations

from pathlib import Path

import click

from dialer.cli.app import State, out, pass_state, print_json
from dialer.cli.data import _scope, dnc
from dialer.importer.dnc import read_dnc


@dnc.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--campaign", help="Only for this campaign (default: every campaign).")
@click.option("--region", default="US", show_default=True, help="Region for numbers without a country code.")
@click.option("--column", help="Column holding the numbers (default: the phone column, else the first).")
@click.option("--encoding", help="File encoding (default: detected).")
@click.option("--note", help="Why (kept with each entry; default: the file name).")
@click.option("--json", "as_json", is_flag=True)
@pass_state
def dnc_import(
    state: State,
    file: Path,
    campaign: str | None,
    region: str,
    column: str | None,
    encoding: str | None,
    note: str | None,
    as_json: bool,
) -> None:
    """Add every number in FILE (one per line, or a CSV/XLSX phone column) to the do-not-call list.

    Numbers in any format are normalised to E.164; lines without a valid number are listed
    with their line number and not added.
    """
    result = read_dnc(file, region=region, encoding=encoding, column=column)
    with state.context() as ctx:
        added = ctx.store.add_dnc(
            result.numbers,
            scope=_scope(ctx.store, campaign),
            source="import",
            note=note or file.name,
            now=ctx.clock.now(),
        )
    if as_json:
        print_json(
            {
                "file": str(file),
                "rows": result.rows,
                "numbers": len(result.numbers),
                "added": added,
                "already_listed": len(result.numbers) - added,
                "bad_lines": [{"line": b.line, "value": b.value, "message": b.message} for b in result.bad],
            }
        )
        return
    out.print(
        f"{file.name}: {result.rows} rows, {len(result.numbers)} numbers; added {added} to the do-not-call list "
        f"({len(result.numbers) - added} already there).",
        highlight=False,
    )
    if result.bad:
        out.print(f"{len(result.bad)} line(s) without a valid number were skipped:", highlight=False)
        for bad in result.bad[:20]:
            out.print(f"  line {bad.line}: {bad.message}", highlight=False)
        if len(result.bad) > 20:
            out.print(f"  … and {len(result.bad) - 20} more (use --json for all)", highlight=False)
