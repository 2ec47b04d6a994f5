"""The `dialer` command group, shared state and the one error handler."""

from __future__ import annotations

import json
import logging
import re
import sys
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.logging import RichHandler
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from dialer import __version__, logs
from dialer.context import Context, build_context
from dialer.domain.clock import Clock
from dialer.errors import DialerError
from dialer.settings import Settings, load_settings
from dialer.telephony.base import TelephonyBackend

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


@dataclass
class State:
    config_file: Path | None = None
    verbose: int = 0
    overrides: dict[str, Any] = field(default_factory=dict)
    _settings: Settings | None = None

    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = load_settings(self.config_file, **self.overrides)
            _configure_logging(self._settings, self.verbose)
        return self._settings

    @contextmanager
    def context(
        self, *, clock: Clock | None = None, telephony: TelephonyBackend | None = None, **overrides: Any
    ) -> Iterator[Context]:
        settings = self.settings()
        if overrides:
            settings = settings.model_copy(update={k: v for k, v in overrides.items() if v is not None})
        ctx = build_context(settings, clock=clock, telephony=telephony)
        try:
            yield ctx
        finally:
            ctx.close()


pass_state = click.make_pass_decorator(State, ensure=True)


def _configure_logging(settings: Settings, verbose: int) -> None:
    level = logging.DEBUG if verbose > 1 else getattr(logging, settings.log_level.upper(), logging.INFO)
    if verbose == 0 and level < logging.WARNING and settings.log_format == "text":
        level = logging.WARNING  # a terminal shows warnings unless -v; JSON logs keep the configured level
    logs.configure(settings, level=level, text_handler=RichHandler(console=err, show_path=False, rich_tracebacks=False))


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="dialer")
@click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="DIALER_CONFIG_FILE",
    help="Config file (default config/dialer.toml). [env: DIALER_CONFIG_FILE]",
)
@click.option("--database-url", envvar="DIALER_DATABASE_URL", help="Database URL. [env: DIALER_DATABASE_URL]")
@click.option("-v", "--verbose", count=True, help="Log more; -vv for debug and tracebacks.")
@click.pass_context
def cli(ctx: click.Context, config_file: Path | None, database_url: str | None, verbose: int) -> None:
    """Outbound predictive dialer for preview records.

    Campaigns of outbound records are imported from CSV, paced (preview, progressive or
    predictive) inside calling windows and the abandonment cap, dialed through Evo Voice,
    Twilio or the simulated call centre, and reported to spreadsheets.
    """
    state = ctx.ensure_object(State)
    state.config_file = config_file
    state.verbose = verbose
    if database_url:
        state.overrides["database_url"] = database_url


@contextmanager
def rows_progress(description: str, *, disable: bool = False) -> Iterator[Callable[[str, int], None]]:
    """A progress line on stderr for long writes: ``update(part, rows so far)``. Off under
    ``--json`` and when stderr is not a terminal."""
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TextColumn("{task.fields[part]} {task.fields[rows]:,} rows"),
        TimeElapsedColumn(),
        console=err,
        transient=True,
        disable=disable or not err.is_terminal,
    ) as bar:
        task = bar.add_task(description, total=None, part="", rows=0)

        def update(part: str, rows: int) -> None:
            bar.update(task, part=part, rows=rows, refresh=True)

        yield update


def print_json(data: object) -> None:
    click.echo(json.dumps(data, indent=2, default=str, ensure_ascii=False))


def error_code(exc: BaseException) -> str:
    """The ``code`` of an error as JSON: its class in snake case (``not_found``, ``store_error``…)."""
    name = type(exc).__name__
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def split_fix(message: str) -> tuple[str, str | None]:
    """(what went wrong, what to do): a message's first sentence, and the rest when there is one."""
    head, sep, rest = message.partition(". ")
    return (head, rest.strip() or None) if sep else (message, None)


def print_json_error(code: str, message: str, fix: str | None = None) -> None:
    """An error under ``--json``: one object on stdout, ``{"error": {"code", "message", "fix"}}``
    (``message`` is the whole text, as on stderr; ``fix`` what to do, when the text says)."""
    print_json({"error": {"code": code, "message": message, "fix": fix}})


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the CLI, turning :class:`DialerError` into a message and exit code.

    Under ``--json`` every error is also printed on stdout as one JSON object (see
    :func:`print_json_error`), so a script reading stdout always gets JSON."""
    args = sys.argv[1:] if argv is None else argv
    verbose = "-vv" in args or "--verbose" in args
    as_json = "--json" in args
    try:
        code = cli.main(args=argv, prog_name="dialer", standalone_mode=False)
        if isinstance(code, int) and code:  # a command that ended with click's Exit(code)
            return code
    except click.exceptions.Abort:
        err.print("Aborted.")
        if as_json:
            print_json_error("interrupted", "aborted (Ctrl-C)")
        return 130
    except click.ClickException as exc:
        exc.show()
        if as_json:
            context = exc.ctx if isinstance(exc, click.UsageError) else None
            fix = f"see `{context.command_path} --help`" if context is not None else None
            print_json_error("usage" if isinstance(exc, click.UsageError) else "invalid", exc.format_message(), fix)
        return exc.exit_code
    except click.exceptions.Exit as exc:
        return int(exc.exit_code or 0)
    except DialerError as exc:
        if as_json:
            print_json_error(error_code(exc), exc.message, split_fix(exc.message)[1])
        click.echo(f"Error: {exc.message}", err=True)
        cause = exc.__cause__
        while cause is not None:
            click.echo(f"  caused by: {type(cause).__name__}: {cause}", err=True)
            cause = cause.__cause__
        if verbose:
            traceback.print_exc()
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # a bug: say so, with the traceback
        if as_json:
            print_json_error(
                "bug",
                f"an unexpected error occurred: {type(exc).__name__}: {exc}",
                "report it with the traceback on stderr",
            )
        click.echo("Error: an unexpected error occurred; this is a bug, please report it with this output:", err=True)
        traceback.print_exc()
        return 1
    return 0
