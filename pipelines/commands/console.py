"""Commands of the investigators' console: serve, users, access-log."""

from __future__ import annotations

import sys

import click

from detector.days import DayRange
from detector.errors import UsageError
from detector.store import Store
from detector.store.errors import safe_url
from pipelines.options import AppContext, day_range_options, pass_app, table_options, with_store
from pipelines.output import terminal_safe, write_table


def _console_deps() -> None:
    try:
        import argon2  # noqa: F401
        import itsdangerous  # noqa: F401
        import multipart  # noqa: F401
        import starlette  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as exc:
        raise UsageError(f"the console needs its extra: pip install 'insiderwatch[console]' ({exc.name} is missing)") from None


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, metavar="ADDRESS", help="Address to listen on: keep the default and put a TLS reverse proxy in front (README).")
@click.option("--port", type=click.IntRange(1, 65535), default=8080, show_default=True, help="Port to listen on.")
@click.option("--session-minutes", type=click.IntRange(5, 24 * 60), default=480, show_default=True, help="How long a sign-in lasts.")
@click.option("--insecure-cookies", is_flag=True, help="Send the session cookie over plain HTTP too (only for a console on loopback without a proxy, e.g. tests).")
@with_store
@pass_app
def serve_command(app: AppContext, store: Store, host: str, port: int, session_minutes: int, insecure_cookies: bool) -> None:
    """Serve the cases to investigators behind sign-in and roles.

    \b
    Example, behind a TLS reverse proxy on the same machine:
      INSIDERWATCH_DB=postgresql+psycopg://iw@db/iw insiderwatch serve --port 8080
    Pages: cases (filters: status, untriaged, vendor, team, day), a case (timeline,
    evidence day by day, members, triage history, a triage form, a reveal form), runs and
    the access record. Users: `insiderwatch users add NAME --role ROLE`. Roles: viewer
    (cases, customers pseudonymised), investigator (+ triage, reveal one customer with a
    reason), auditor (+ runs, the access record), admin (+ users). Every sign-in, reveal,
    triage and forbidden request is in the access record (`insiderwatch access-log`).
    The session cookie is Secure (HTTPS only) unless --insecure-cookies. Sessions are
    signed with $INSIDERWATCH_CONSOLE_SECRET (a random secret without it: sign-ins end when
    the server restarts). Runs until stopped. Exit 0; 2 bad usage or no store.
    """
    _console_deps()
    import uvicorn

    from pipelines.console.app import create_app

    if host not in ("127.0.0.1", "localhost", "::1"):
        click.echo(f"serving on {terminal_safe(host)}: other machines can reach the console; put it behind a TLS reverse proxy", err=True)
    asgi = create_app(store, app.config, secure_cookies=not insecure_cookies, session_minutes=session_minutes)
    click.echo(f"insiderwatch console on http://{terminal_safe(host)}:{port}/ (store {terminal_safe(safe_url(app.db_url))})", err=True)
    uvicorn.run(asgi, host=host, port=port, log_level="warning" if app.quiet else "info", access_log=not app.quiet, server_header=False)


@click.group("users")
def users_group() -> None:
    """Manage the console's users: add, list, disable.

    \b
    Example:
      insiderwatch users add ana --role investigator      # asks for the password
      insiderwatch users list
    Roles: viewer, investigator, auditor, admin (see `insiderwatch serve --help`).
    """


@users_group.command("add")
@click.argument("name")
@click.option("--role", required=True, type=click.Choice(["viewer", "investigator", "auditor", "admin"]), help="What the user may do.")
@click.option("--password-stdin", is_flag=True, help="Read the password from the first line of stdin (for scripts) instead of asking.")
@click.option("--by", "by", metavar="NAME", help="Who adds the user, for the record.  [default: the login name]")
@with_store
def users_add(store: Store, name: str, role: str, password_stdin: bool, by: str | None) -> None:
    """Add a user with a role and a password (stored as an argon2 hash).

    \b
    Example:
      insiderwatch users add ana --role investigator
    Exit 0; 2 bad usage (a user of that name, a password under 12 characters).
    """
    _console_deps()
    from pipelines.commands.triage import _author
    from pipelines.console import auth

    auth.check_name(name)
    if store.user(name) is not None:
        raise UsageError(f"there is a user {name!r} already (users disable, then add another name)")
    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = click.prompt("password", hide_input=True, confirmation_prompt=True, err=True)
    store.add_user(name, role=role, password_hash=auth.hash_password(password), created_by=_author(by))
    store.record_access(user=_author(by), action="user-add", subject=name, reason=f"role {role}")
    click.echo(f"user {name} added, role {role}", err=True)


@users_group.command("list")
@table_options
@with_store
def users_list(store: Store, fmt: str, out: str | None) -> None:
    """The console's users: name, role, disabled, created_at, created_by.

    \b
    Example:
      insiderwatch users list
    Exit 0; 2 no store.
    """
    frame = store.users()
    write_table(frame.to_dict("records"), ["name", "role", "disabled", "created_at", "created_by"], fmt, out)


@users_group.command("disable")
@click.argument("name")
@click.option("--by", "by", metavar="NAME", help="Who disables the user, for the record.  [default: the login name]")
@with_store
def users_disable(store: Store, name: str, by: str | None) -> None:
    """Disable a user: their sessions end and they can no longer sign in.

    The user is kept, as the access record names them.

    \b
    Example:
      insiderwatch users disable ana
    Exit 0; 2 no such user.
    """
    from pipelines.commands.triage import _author

    if not store.set_user(name, disabled=True):
        raise UsageError(f"no user {name!r} (see: insiderwatch users list)")
    store.end_sessions_of(name)
    store.record_access(user=_author(by), action="user-disable", subject=name)
    click.echo(f"user {name} disabled; their sessions are ended", err=True)


ACCESS_COLUMNS = ["id", "at", "user_name", "role", "action", "outcome", "address", "case_key", "subject", "reason"]


@click.command("access-log")
@day_range_options(date_help="One day of the record (UTC).")
@table_options
@with_store
def access_log_command(store: Store, days: DayRange, fmt: str, out: str | None) -> None:
    """The console's access record: sign-ins, reveals, triage, forbidden requests.

    \b
    Example, last month's reveals for the audit:
      insiderwatch access-log --from 2026-11-01 --to 2026-11-30 --format csv --out reveals.csv
    Append-only. A reveal names the customer by pseudonym, never in clear, with the reason
    given. Exit 0; 2 no store.
    """
    frame = store.access_record(days.first, days.last)
    n = write_table(frame.to_dict("records"), ACCESS_COLUMNS, fmt, out)
    click.echo(f"{n:,} line(s) of the access record", err=True)


COMMANDS = [serve_command, users_group, access_log_command]
