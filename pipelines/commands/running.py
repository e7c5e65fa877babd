"""Commands that score and store: nightly, rescore, replay.

Each reads the access logs (``--events``, ``--roster``, ``--mapping``, ``--lookup``), calls
one run of :mod:`pipelines.run` and prints its accounting on stderr and the alerts on stdout.
"""

from __future__ import annotations

from pathlib import Path

import click

from detector.days import DayRange, yesterday_utc
from detector.store import Store
from pipelines.options import EXIT_ALERTS, AppContext, Inputs, day_option, day_range_options, exit_with, inputs_options, pass_app, with_new_store
from pipelines.output import format_alert_summary, format_alerts, format_ongoing, terminal_safe
from pipelines.run import run_nightly, run_replay, tell_set_aside

fail_on_alert_option = click.option("--fail-on-alert", is_flag=True, help=f"Exit with code {EXIT_ALERTS} when there are alerts (for schedulers that page on failure).")
first_night_option = click.option(
    "--first-night",
    is_flag=True,
    help=(
        "This is the first night of a new store: score it without history (peers only). "
        "Without it, a store with no earlier days in reach is refused (exit 2), so a mistyped --db cannot read as a quiet night."
    ),
)
no_roster_option = click.option(
    "--no-roster",
    is_flag=True,
    help='Score without a roster although earlier nights had one (every team, role and site becomes "(none)"). Without it, a forgotten --roster is refused (exit 2).',
)
report_option = click.option(
    "--report",
    "report_dir",
    type=click.Path(file_okay=False, path_type=Path),
    metavar="DIR",
    help="Also write the investigator report of this run's alerts into DIR (see `insiderwatch report --help`).",
)


def print_summary(summary) -> None:
    """The run's accounting, suppressions and rejects, on stderr."""
    ing = summary.ingest
    click.echo(
        f"run {summary.run_id} ({summary.kind}): {ing.rows_read:,} rows read = {ing.rows_accepted:,} accepted + "
        f"{ing.rows_rejected:,} rejected; {ing.rows_set_aside:,} outside the scored days set aside; "
        f"{ing.duplicates:,} duplicates dropped; "
        + (f"{ing.conflicting_ids:,} conflicting event id(s) on {ing.conflicting_rows:,} rows kept; " if ing.conflicting_ids else "")
        + f"{len(summary.nights)} day(s) scored in {summary.seconds:.1f}s",
        err=True,
    )
    lines, blank, records = (sum(getattr(f, k) or 0 for f in ing.files) for k in ("lines", "blank_lines", "records"))
    if lines > blank + records:
        # quoted line breaks join lines into one record: normal for notes, and where hidden rows would sit
        click.echo(f"{lines:,} CSV lines made {records:,} records ({blank:,} blank): {lines - blank - records:,} line(s) inside quoted fields", err=True)
    if summary.replaced:
        days = sorted(d for d, _ in summary.replaced)
        runs = ", ".join(str(r) for r in sorted({r for _, r in summary.replaced}))
        span = days[0] if len(days) == 1 else f"{len(days)} days, {days[0]} to {days[-1]}"
        click.echo(f"replaced the results of run(s) {runs} for {span}: they are kept in the archive (insiderwatch alerts --run RUN lists what a run wrote)", err=True)
    for sid, (agent, created, days) in sorted(summary.not_applied.items()):
        span = days[0] if len(days) == 1 else f"{days[0]} to {days[-1]}"
        click.echo(
            f"suppression {sid} ({terminal_safe(agent)}, created {created[:10]}) not applied to {span}: created after the day "
            "(a run applies what existed on its day; replay --suppressions current applies it)",
            err=True,
        )
    if len(summary.ongoing) and len(summary.nights) > 1:
        n = summary.ongoing[["subject_id"]].drop_duplicates()
        click.echo(f"{len(summary.ongoing)} day(s) of {len(n)} agent(s) whose case was open kept on their case, not raised (see: insiderwatch cases)", err=True)
    if len(summary.suppressed):
        ids = sorted({int(i) for i in summary.suppressed["suppressed_by"]})
        click.echo(f"{len(summary.suppressed)} alert(s) stored but not raised: covered by suppression(s) {', '.join(map(str, ids))} (see: insiderwatch suppress --list)", err=True)
    if ing.rows_rejected:
        ranked = sorted(ing.reasons.items(), key=lambda kv: (-kv[1], kv[0]))
        top = ", ".join(f"{n:,} {terminal_safe(r)}" for r, n in ranked[:3])
        more = f", and {len(ranked) - 3} more reason(s)" if len(ranked) > 3 else ""
        click.echo(f"rejected rows: {top}{more} (see: insiderwatch rejects {summary.run_id})", err=True)


def write_report(app: AppContext, store: Store, run_id: int, out: Path) -> None:
    from pipelines.report import build_report

    report = build_report(store, app.config, out, run_id=run_id)
    click.echo(f"report: {report.out / 'index.html'} ({report.agents} flagged agent(s), customer ids pseudonymised)", err=True)


def score_night(
    app: AppContext, store: Store, inputs: Inputs, day: str, *, fail_on_alert: bool, report_dir: Path | None, kind: str = "nightly", first_night: bool = False, no_roster: bool = False
) -> None:
    """nightly and rescore: one day scored, stored and told (``kind``: how the run is recorded)."""
    summary = run_nightly(app.config, store, inputs.events, day, roster=inputs.roster, show_progress=not app.quiet, kind=kind, first_night=first_night, no_roster=no_roster)
    tell_set_aside(store, summary.ingest, day)
    print_summary(summary)
    click.echo(format_alerts(summary.alerts))
    if len(summary.ongoing):
        from pipelines.cases import with_case_status

        click.echo("\n" + format_ongoing(with_case_status(store, app.config, summary.ongoing)))
    if report_dir:
        write_report(app, store, summary.run_id, report_dir)
    if fail_on_alert and len(summary.alerts):
        exit_with(EXIT_ALERTS)


@click.command("nightly")
@day_option("--date", "day", "The UTC day to score.  [default: yesterday, UTC]", fallback=yesterday_utc)
@inputs_options
@fail_on_alert_option
@first_night_option
@no_roster_option
@report_option
@with_new_store
@pass_app
def nightly_command(app: AppContext, store: Store, inputs: Inputs, day: str, fail_on_alert: bool, first_night: bool, no_roster: bool, report_dir: Path | None) -> None:
    """Score one day of access logs and print the night's alerts.

    \b
    Example, from cron after the day's logs are exported:
      insiderwatch nightly --events 'logs/2026-11-21*.csv.gz' --roster roster.csv
    Reads the files, scores every agent active on --date (UTC) against their own stored
    history and their peers, stores the run, scores and alerts, and prints the alerts with
    their top reasons. Events of other days found in the files are counted and set aside.
    History comes from the store: run `insiderwatch replay` over past logs first, or pass
    --first-night on a new store's first night (its first nights lean on peer comparisons).
    Refused, so that a night that did not do its work cannot read as "No alerts": a store
    with no earlier days in reach (a mistyped --db) without --first-night, inputs with no
    event of --date, and no --roster where earlier nights had one (without --no-roster).
    Exit 0; 2 unusable input or a refused night (nothing written); 3 alerts with --fail-on-alert.
    """
    score_night(app, store, inputs, day, fail_on_alert=fail_on_alert, report_dir=report_dir, first_night=first_night, no_roster=no_roster)


@click.command("rescore")
@day_option("--date", "day", "The UTC day to score again.", required=True)
@inputs_options
@no_roster_option
@report_option
@with_new_store
@pass_app
def rescore_command(app: AppContext, store: Store, inputs: Inputs, day: str, no_roster: bool, report_dir: Path | None) -> None:
    """Score a day again, from all of its files, after late events arrived.

    \b
    Example, when last night's run said "late events of 2026-11-20 were set aside":
      insiderwatch rescore --date 2026-11-20 --events 'logs/2026-11-2[01]*.csv.gz'
    The nightly logic for that day, as a new run: its results replace the day's (the
    previous ones stay in the archive, for `verify` and `diff`), alerts keep their identity.
    Later days keep the scores they had; rescore them too, or replay the period, if the
    change matters for their baselines.
    Exit 0; 2 unusable input, no event of --date in the inputs, or a forgotten --roster
    (nothing written).
    """
    score_night(app, store, inputs, day, fail_on_alert=False, report_dir=report_dir, kind="rescore", no_roster=no_roster)


@click.command("replay")
@day_range_options(date_help=None, from_help="First day to score.  [default: the first day in the logs]", to_help="Last day to score.  [default: the last day in the logs]")
@inputs_options
@fail_on_alert_option
@click.option("--show", type=click.IntRange(min=0), default=20, show_default=True, metavar="N", help="Flagged agents and groups to list (most anomalous first); 0 lists none.")
@click.option(
    "--suppressions",
    type=click.Choice(["as-of", "current"]),
    default="as-of",
    show_default=True,
    help="Apply the suppressions that existed on each replayed day (an honest replay), or every suppression not expired by then, including later ones.",
)
@no_roster_option
@report_option
@with_new_store
@pass_app
def replay_command(app: AppContext, store: Store, inputs: Inputs, days: DayRange, fail_on_alert: bool, show: int, suppressions: str, no_roster: bool, report_dir: Path | None) -> None:
    """Replay historical logs day by day, as the nightly run would have seen them.

    \b
    Example, a quarter:
      insiderwatch replay --events 'archive/2026-0[1-3]-*.csv.gz' --from 2026-01-01 --to 2026-03-31
    Each day is scored with only the data before it (the model and personal baselines use
    earlier days; peer comparisons use the day itself), and stored as a nightly run would
    store it: replaying a period also builds the history that later nightly runs use.
    Rerunning a day replaces that day's results.
    Exit 0; 2 unusable input (nothing written); 3 alerts with --fail-on-alert.
    """
    summary = run_replay(app.config, store, inputs.events, days.first, days.last, roster=inputs.roster, show_progress=not app.quiet, suppressions=suppressions, no_roster=no_roster)
    print_summary(summary)
    if show:
        click.echo(f"who was flagged from {summary.nights[0].day} to {summary.nights[-1].day}, most anomalous first:")
        click.echo(format_alert_summary(summary.alerts, limit=show))
    if report_dir:
        write_report(app, store, summary.run_id, report_dir)
    if fail_on_alert and len(summary.alerts):
        exit_with(EXIT_ALERTS)


COMMANDS = [nightly_command, rescore_command, replay_command]
