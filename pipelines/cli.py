"""The ``insiderwatch`` command line: one root group, thin commands.

The root group reads the global options into an :class:`~pipelines.options.AppContext`
(``ctx.obj``); each area of :mod:`pipelines.commands` adds its commands to it. A command
parses options, calls one pipeline function and prints a summary. Data goes to
stdout, progress and logs to stderr. Exit codes: 0 done, 1 internal error, 2 usage or
unusable input (nothing written), 3 alerts found with --fail-on-alert.
"""

from __future__ import annotations

import logging
import sys

import click

from detector import __version__
from detector.errors import InsiderwatchError
from pipelines.allocator import return_large_blocks
from pipelines.options import AppContext
from pipelines.output import terminal_safe

log = logging.getLogger("insiderwatch")


class Root(click.Group):
    """Root group that turns library errors into one-line messages and exit codes. Every
    message that reaches the user goes through :func:`~pipelines.output.terminal_safe`, as
    data does: a header name, roster id or file name in it is shown, never acted on."""

    def make_context(self, *args, **kwargs) -> click.Context:
        try:
            return super().make_context(*args, **kwargs)
        except click.ClickException as exc:
            raise _safe_click_error(exc) from None

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except InsiderwatchError as exc:
            if getattr(ctx.obj, "debug", False):
                raise
            click.echo(f"insiderwatch: error: {terminal_safe(exc)}", err=True)
            ctx.exit(exc.exit_code)
        except click.ClickException as exc:  # a subcommand's usage error (its value quoted)
            raise _safe_click_error(exc) from None


def _safe_click_error(exc: click.ClickException) -> click.ClickException:
    exc.__dict__["message"] = terminal_safe(exc.message)  # click declares it Final; its text is ours to escape
    return exc


class _SafeFormatter(logging.Formatter):
    """Log lines on stderr with their message escaped like data (file names, ids...)."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        return terminal_safe(super().formatMessage(record))


@click.group(cls=Root, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="insiderwatch")
@click.option("--db", metavar="URL", help="Results store, a SQLAlchemy URL.  [default: $INSIDERWATCH_DB, else [store] db in the config, else sqlite:///insiderwatch.db]")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), metavar="FILE", help="Settings file (TOML).  [default: ./insiderwatch.toml when present]")
@click.option("--debug", is_flag=True, help="Show full tracebacks and debug logs on stderr.")
@click.option("-q", "--quiet", is_flag=True, help="Only warnings and errors on stderr; no progress bars.")
@click.pass_context
def cli(ctx: click.Context, db: str | None, config_path: str | None, debug: bool, quiet: bool) -> None:
    """insiderwatch: find support agents who harvest customer records, from access logs.

    \b
    Every night, from cron:
      insiderwatch nightly --events 'logs/2026-11-21*.csv.gz' --roster roster.csv
    Build history from past logs first (or audit what would have been flagged):
      insiderwatch replay --events 'logs/*.csv.gz' --roster roster.csv
    Then:
      insiderwatch alerts                      the latest night's alerts and reasons
      insiderwatch explain A00073 --date D     every feature behind one agent's score
      insiderwatch export scores --format csv  one row per scored agent-day
    Try it on simulated logs:
      insiderwatch simulate --agents 200 --days 35 --seed 7 --out demo

    \b
    Exit codes: 0 done; 1 internal error (also: the store cannot be reached, or another
    run is scoring the same day); 2 bad usage or unusable input (nothing written); 3 alerts
    found with --fail-on-alert; 4 verify found differences.
    Every command has its own --help. Data goes to stdout, progress and logs to stderr.
    """
    from pipelines.settings import load_config

    ctx.obj = AppContext(db=db, quiet=quiet, debug=debug)  # debug known before the config can fail
    level = logging.DEBUG if debug else (logging.WARNING if quiet else logging.INFO)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_SafeFormatter("%(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=level, handlers=[handler], force=True)
    ctx.obj.config = load_config(config_path)


def _register() -> None:
    from pipelines import benchmark, commands, simulate, validate_logs

    commands.register(cli)
    cli.add_command(validate_logs.validate_logs_command)
    cli.add_command(simulate.simulate_command)
    cli.add_command(benchmark.benchmark_group)


_register()


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    return_large_blocks()
    try:
        cli.main(args=argv, prog_name="insiderwatch", standalone_mode=True)
    except SystemExit:
        raise
    except Exception as exc:  # internal error: one line unless --debug
        if "--debug" in (argv if argv is not None else sys.argv):
            raise
        click.echo(f"insiderwatch: internal error: {type(exc).__name__}: {terminal_safe(exc)} (rerun with --debug)", err=True)
        sys.exit(1)


if __name__ == "__main__":  # pragma: no cover
    main()
