"""Commands that audit runs: verify, diff.

They read the store (verify replays a run into a scratch store of its own) and write
nothing to it.
"""

from __future__ import annotations

import json

import click

from detector.store import Store
from pipelines.options import AppContext, exit_with, json_option, pass_app, run_argument, with_store


@click.command("verify")
@run_argument()
@click.option("--show", type=click.IntRange(min=1), default=50, show_default=True, metavar="N", help="Differences listed at most.")
@click.option(
    "--inputs",
    "archive",
    multiple=True,
    metavar="DIR|GLOB",
    help="Where the run's input files (and roster) are now, if they moved: each is found by its recorded SHA-256, whatever its name; repeatable.",
)
@with_store
@pass_app
def verify_command(app: AppContext, store: Store, run_id: int, show: int, archive: tuple[str, ...]) -> None:
    """Recompute a run from its recorded inputs and compare it, row by row.

    \b
    Example, after the logs moved to cold storage:
      insiderwatch verify 42 --inputs /archive/logs/2026-01
    Checks every input file and the roster against the SHA-256 the run recorded, checks
    that the stored history days the run read still hold the same runs' results, replays
    the run in a scratch store with the recorded settings, and compares every score, rank,
    flag and alert with what the store holds for the run.
    A file no longer at its recorded path is looked for under --inputs by its digest.
    Exit 0: identical. Exit 4: different (each difference listed). Exit 2: an input file
    is missing or has changed (named), and not under --inputs either.
    """
    from pipelines.audit import EXIT_DIFFERENT, format_verification, verify_run

    result = verify_run(store, run_id, show_progress=not app.quiet, archive=list(archive) or None)
    click.echo(format_verification(result, limit=show))
    if not result.identical:
        exit_with(EXIT_DIFFERENT)


@click.command("diff")
@run_argument("run_a", metavar="RUN_A")
@run_argument("run_b", metavar="RUN_B")
@json_option
@with_store
def diff_command(store: Store, run_a: int, run_b: int, as_json: bool) -> None:
    """What changed between two runs: settings, inputs and alerts.

    \b
    Example, after raising the threshold and replaying the same month:
      insiderwatch diff 41 42
    Lists the settings that differ (alerts.threshold: 2.0 -> 2.5), the input files whose
    digests differ, and, on the days both runs scored, each alert that is new in B, gone
    from B, or moved (rank or score). Reads the store. Exit 0; 2 no such run.
    """
    from pipelines.audit import diff_runs, format_diff

    result = diff_runs(store, run_a, run_b)
    click.echo(json.dumps(result, indent=2, default=str) if as_json else format_diff(result))


COMMANDS = [verify_command, diff_command]
