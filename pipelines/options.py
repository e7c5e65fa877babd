"""What every command shares: the application context and the click options that hand a
command ready, validated objects instead of raw strings.

- :class:`AppContext` is the root group's ``ctx.obj``: config, store URL, quiet, debug, and
  the store, opened once and only when a command asks for it.
- :func:`day_option` and :func:`day_range_options` parse days where the options are read
  (:mod:`detector.days` says what a day and a range are; the messages are written there);
- :func:`inputs_options` resolves ``--events``/``--roster``/``--mapping``/``--lookup`` with
  their config defaults and refuses inputs that are not there, before any store is opened;
- :func:`with_store` hands the store, connected on first use.

This module never reads a file or the environment at import time.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import click
import pandas as pd

from detector.config import Config
from detector.days import DayRange, parse_day
from detector.engines import ENGINE_NAMES
from detector.errors import UsageError
from detector.store import Store
from pipelines.settings import database_url

log = logging.getLogger("insiderwatch")

DAY = "YYYY-MM-DD"
EXIT_ALERTS = 3


@dataclass
class AppContext:
    """The root group's settings, handed to every command (``ctx.obj``).

    ``db`` is the --db flag as given; :attr:`db_url` resolves it (flag, $INSIDERWATCH_DB,
    the config, the SQLite default). :meth:`store` opens the store on first call only.
    """

    config: Config = field(default_factory=Config)
    db: str | None = None
    quiet: bool = False
    debug: bool = False
    _store: Store | None = field(default=None, init=False, repr=False)

    @property
    def db_url(self) -> str:
        return database_url(self.db, self.config)

    def store(self, *, create: bool = False) -> Store:
        """The store of --db (or the config), made once and connected (``create``: created
        if new; upgraded if old) on first use: a command refused for its options or inputs
        leaves no store behind, and only the commands that score (``create``) make one."""
        if self._store is None:
            cfg = self.config
            self._store = Store(self.db_url, connect_attempts=cfg.connect_attempts, connect_wait=cfg.connect_wait, lazy=True, existing=not create)
        return self._store

    def use_mapping(self, mapping: str | None, lookup: str | None) -> None:
        """Put --mapping / --lookup (resolved, with digests) into the config."""
        cfg = self.config
        if mapping or lookup or cfg.sources.mapping:
            self.config = dataclasses.replace(cfg, sources=cfg.sources.resolved(mapping, lookup))


pass_app = click.make_pass_decorator(AppContext)


def current_app() -> AppContext:
    app = click.get_current_context().find_object(AppContext)
    if app is None:  # a command invoked outside the root group
        raise RuntimeError("insiderwatch commands run under the root group (pipelines.cli.cli)")
    return app


def exit_with(code: int) -> None:
    """End the command with ``code`` (3: alerts with --fail-on-alert, 4: verify differs)."""
    click.get_current_context().exit(code)


def _options(*decorators: Callable) -> Callable:
    """Apply click option decorators in the order written (first = listed first in --help)."""

    def apply(f: Callable) -> Callable:
        for decorate in reversed(decorators):
            f = decorate(f)
        return f

    return apply


# --- days ------------------------------------------------------------------------------------
def day_option(name: str, dest: str, help: str, *, required: bool = False, fallback: Callable[[], str] | None = None) -> Callable:
    """One day (``--date``, ``--until``...), handed to the command as ``YYYY-MM-DD`` or None
    (or ``fallback()`` when not given)."""

    def as_day(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
        if value is None:
            return fallback() if fallback else None
        return parse_day(value, name)

    return click.option(name, dest, metavar=DAY, required=required, help=help, callback=as_day)


def day_range_options(
    *,
    date_help: str | None = "Only this day (not with --from/--to).",
    from_help: str = "First day.  [default: the first stored day]",
    to_help: str = "Last day.  [default: the last stored day]",
) -> Callable:
    """``--date D`` or ``--from D --to D``, handed to the command as ``days``, a
    :class:`~detector.days.DayRange`: bounds parsed, in order, --date alone (else exit 2).
    ``date_help=None``: --from/--to only."""

    def decorate(f: Callable) -> Callable:
        @functools.wraps(f)
        def command(*args, day: str | None = None, first: str | None = None, last: str | None = None, **kwargs):
            return f(*args, days=DayRange.parse(day=day, first=first, last=last), **kwargs)

        date = [click.option("--date", "day", metavar=DAY, help=date_help)] if date_help else []
        return _options(
            *date,
            click.option("--from", "first", metavar=DAY, help=from_help),
            click.option("--to", "last", metavar=DAY, help=to_help),
        )(command)

    return decorate


# --- inputs ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Inputs:
    """What a scoring command reads: the events spec (every file checked to exist and be of
    a readable format) and the roster frame (None: peers are the whole desk)."""

    events: list[str]
    roster: pd.DataFrame | None


mapping_option = click.option(
    "--mapping",
    metavar="NAME|FILE",
    help=(
        "How to read a non-canonical export: a built-in mapping's name or a mapping TOML file (see `insiderwatch validate-logs --help`)."
        "  [default: [sources] mapping in the config; none: canonical columns]"
    ),
)
lookup_option = click.option(
    "--lookup",
    type=click.Path(dir_okay=False),
    metavar="FILE",
    help="Lookup table CSV the mapping joins (e.g. case id -> customer id).  [default: the mapping's [lookup] path]",
)


def load_inputs(app: AppContext, events: tuple[str, ...], roster: Path | None) -> Inputs:
    """--events and --roster, else the config's [sources] events and roster; refused (exit
    2) before any store is opened when an input is missing or of no readable format."""
    from detector.sources import check_inputs, read_roster

    spec = list(events) or ([app.config.sources.events] if app.config.sources.events else [])
    if not spec:
        raise UsageError("no events given: use --events FILE|DIR|GLOB (or [sources] events in the config)")
    roster = roster or (Path(app.config.sources.roster) if app.config.sources.roster else None)
    if roster is None:
        log.info("no roster: peers are the whole desk, hours are UTC")
    frame = read_roster(roster) if roster is not None else None
    if app.config.engine.name == "sql":
        from detector.engines.query import split_table_url

        for item in spec:
            split_table_url(item)
    elif app.config.engine.name != "spark":  # Spark reads its paths itself (remote ones too)
        check_inputs(spec)
    return Inputs(spec, frame)


def inputs_options(f: Callable) -> Callable:
    """--events, --roster, --mapping, --lookup, --engine, handed to the command as ``inputs``
    (:class:`Inputs`); the mapping, lookup and engine go into the config the command runs with."""

    @functools.wraps(f)
    def command(*args, events: tuple[str, ...], roster: Path | None, mapping: str | None, lookup: str | None, engine: str | None, **kwargs):
        app = current_app()
        app.use_mapping(mapping, lookup)
        if engine:
            app.config = dataclasses.replace(app.config, engine=dataclasses.replace(app.config.engine, name=engine))
        return f(*args, inputs=load_inputs(app, events, roster), **kwargs)

    return _options(
        click.option(
            "--events",
            multiple=True,
            metavar="FILE|DIR|GLOB",
            help="Access logs to read: a file, a directory or a quoted glob; repeatable. CSV (.csv, .csv.gz), JSON Lines (.jsonl, .jsonl.gz) or Parquet.  [default: [sources] events in the config]",
        ),
        click.option(
            "--roster",
            type=click.Path(dir_okay=False, path_type=Path),
            metavar="FILE",
            help="Roster CSV (agent_id, vendor, team, site, role, start_date, end_date, timezone).  [default: [sources] roster in the config; none: peers are the whole desk]",
        ),
        mapping_option,
        lookup_option,
        click.option(
            "--engine",
            type=click.Choice(ENGINE_NAMES),
            help=(
                "What reads and counts the events into agent-days: python (in this process, the reference), duckdb "
                "(DuckDB reads CSV and Parquet files, checks and counts them in this process; other files go through the "
                "reference reader), spark (Spark reads Parquet or CSV paths, local or "
                "s3a://, hdfs://..., and counts there: [engine] spark_master) or sql (a warehouse table counts itself: "
                "--events 'URL#[schema.]table'). All give the same agent-days; the run records which.  "
                "[default: [engine] name in the config, else duckdb]"
            ),
        ),
    )(command)


# --- store and output ------------------------------------------------------------------------
def with_store(f: Callable) -> Callable:
    """Hand the command the store as ``store`` (connected on first use: see
    :meth:`AppContext.store`); it must exist (a path that does not is exit 2)."""

    @functools.wraps(f)
    def command(*args, **kwargs):
        return f(*args, store=current_app().store(), **kwargs)

    return command


def with_new_store(f: Callable) -> Callable:
    """:func:`with_store` for the commands that score: the store is created if new."""

    @functools.wraps(f)
    def command(*args, **kwargs):
        return f(*args, store=current_app().store(create=True), **kwargs)

    return command


def run_argument(name: str = "run_id", metavar: str = "RUN", required: bool = True) -> Callable:
    """A run id as an argument (``insiderwatch runs`` lists them)."""
    return click.argument(name, type=int, metavar=metavar, required=required)


def table_options(f: Callable) -> Callable:
    """--format csv|jsonl and --out FILE, for commands that write a table."""
    return _options(
        click.option("--format", "fmt", type=click.Choice(["csv", "jsonl"]), default="csv", show_default=True, help="csv: a header, then one row per line; jsonl: one JSON object per line."),
        click.option("--out", metavar="FILE", help="Write here (under a temporary name, then renamed) instead of stdout ('-' = stdout)."),
    )(f)


json_option = click.option("--json", "as_json", is_flag=True, help="Machine-readable output (JSON) instead of text.")
