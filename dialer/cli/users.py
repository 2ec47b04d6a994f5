"""`dialer user …`: who may log in to `dialer web`, and with which role."""

from __future__ import annotations

import sys

import click
from rich.table import Table

from dialer import accounts
from dialer.cli.app import State, cli, out, pass_state, print_json
from dialer.domain.users import Role

ROLE_HELP = (
    "Manager (campaigns, imports, reports, DNC), Agent (the preview desk) or SystemAdministrator (all, users too)."
)


def _role(_ctx: click.Context, _param: click.Parameter, value: str | None) -> Role | None:
    if value is None:
        return None
    try:
        return Role.parse(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def _password(name: str, from_stdin: bool) -> str:
    if from_stdin:
        line = sys.stdin.readline()
        if not line:
            raise click.UsageError("--password-stdin: no password on standard input")
        return line.rstrip("\r\n")
    value: str = click.prompt(f"Password for {name}", hide_input=True, confirmation_prompt=True)
    return value


PASSWORD_STDIN = click.option(
    "--password-stdin", is_flag=True, help="Read the password from the first line of standard input (for scripts)."
)


@cli.group()
def user() -> None:
    """Web users: add, list, change password or role, remove."""


@user.command("add")
@click.argument("name")
@click.option("--role", required=True, callback=_role, help=ROLE_HELP)
@PASSWORD_STDIN
@pass_state
def user_add(state: State, name: str, role: Role, password_stdin: bool) -> None:
    """Create web user NAME with a role; the password is asked for (twice) unless --password-stdin."""
    password = _password(name, password_stdin)
    with state.context() as ctx:
        created = accounts.add_user(ctx.store, name, role=role, password=password, now=ctx.clock.now())
    out.print(f"Created user {created.name} ({created.role.value}).", highlight=False)


@user.command("list")
@click.option("--json", "as_json", is_flag=True)
@pass_state
def user_list(state: State, as_json: bool) -> None:
    """List web users with their roles and last login."""
    with state.context() as ctx:
        found = ctx.store.list_users()
    if as_json:
        print_json(
            [
                {
                    "name": u.name,
                    "role": u.role.value,
                    "created_at": u.created_at.isoformat(),
                    "last_login_at": u.last_login_at.isoformat() if u.last_login_at else None,
                }
                for u in found
            ]
        )
        return
    if not found:
        out.print("No users yet. Add one with `dialer user add NAME --role Manager`.")
        return
    table = Table("user", "role", "created (UTC)", "last login (UTC)")
    for u in found:
        table.add_row(
            u.name,
            u.role.value,
            f"{u.created_at:%Y-%m-%d %H:%M}",
            f"{u.last_login_at:%Y-%m-%d %H:%M}" if u.last_login_at else "never",
        )
    out.print(table)


@user.command("passwd")
@click.argument("name")
@PASSWORD_STDIN
@pass_state
def user_passwd(state: State, name: str, password_stdin: bool) -> None:
    """Set a new password for NAME; the user's open web sessions end."""
    with state.context() as ctx:
        ctx.store.get_user(name)
        password = _password(name, password_stdin)
        accounts.change_password(ctx.store, name, password=password, now=ctx.clock.now())
    out.print(f"Password of {name} changed; their open sessions have ended.", highlight=False)


@user.command("role")
@click.argument("name")
@click.argument("role", callback=_role)
@pass_state
def user_role(state: State, name: str, role: Role) -> None:
    """Give NAME another ROLE (Manager, Agent or SystemAdministrator); their open sessions end."""
    with state.context() as ctx:
        changed = accounts.change_role(ctx.store, name, role=role, now=ctx.clock.now())
    out.print(f"{changed.name} is now {changed.role.value}.", highlight=False)


@user.command("remove")
@click.argument("name")
@pass_state
def user_remove(state: State, name: str) -> None:
    """Remove web user NAME; their open sessions end at their next request."""
    with state.context() as ctx:
        accounts.remove_user(ctx.store, name)
    out.print(f"Removed user {name}.", highlight=False)
