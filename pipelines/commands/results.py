"""Commands that read stored results: alerts, explain, export, rejects, report, runs.

None of them writes to the store; each calls one function of :mod:`pipelines.results` (or
the report, or explain) and prints.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path

import click

from detector.days import DayRange
from detector.errors import UsageError
from detector.store import Store
from pipelines.options import AppContext, current_app, day_option, day_range_options, json_option, pass_app, run_argument, table_options, with_store
from pipelines.output import explanation_document, format_alerts, format_ongoing, terminal_safe, write_json_lines, write_table
from pipelines.results import REJECT_COLUMNS, RUN_COLUMNS, alert_documents, explain_subject, export_table, list_alerts, reject_rows, run_rows

log = logging.getLogger("insiderwatch")


@click.command("alerts")
@day_range_options(date_help="Alerts of one day (not with --from/--to).  [default, without --from, --to and --run: the latest scored day]")
@click.option("--run", "run_id", type=int, metavar="RUN", help="Alerts written by one run, also those a later run of their day has since replaced (marked).")
@click.option("--reasons", type=click.IntRange(min=1), default=2, show_default=True, metavar="N", help="Reasons shown per alert.")
@click.option("--untriaged", is_flag=True, help="Only alerts whose case nobody has decided on yet.")
@with_store
@pass_app
def alerts_command(app: AppContext, store: Store, days: DayRange, run_id: int | None, reasons: int, untriaged: bool) -> None:
    """List stored alerts with their reasons (default: the latest scored day).

    \b
    Examples:
      insiderwatch alerts --date 2026-11-21
      insiderwatch alerts --run 42
    Reads the store; group alerts (a team or site) list their members. Each alert shows the
    triage status of its case (the latest decision on any of the case's alerts, or
    untriaged; `insiderwatch cases` follows them). Agents whose case is open and who stood
    out again are listed apart: kept on their case, not raised. Alerts covered by a
    suppression are counted on stderr, not shown (`export alerts` lists them).
    Exit 0; 2 no such run, bad days, or an empty store.
    """
    from pipelines.cases import with_case_status

    listing = list_alerts(store, days, run_id)
    shown = with_case_status(store, app.config, listing.shown)
    if untriaged and len(shown):
        shown = shown[shown["status"] == "untriaged"]
    listing = dataclasses.replace(listing, shown=shown)
    if listing.suppressed:
        click.echo(f"{listing.suppressed} suppressed alert(s) stored, not shown (export alerts lists them with suppressed_by)", err=True)
    ongoing = with_case_status(store, app.config, listing.ongoing) if len(listing.ongoing) else listing.ongoing
    if untriaged and len(ongoing):
        ongoing = ongoing[ongoing["status"] == "untriaged"]
    if listing.shown.empty:
        click.echo(f"no alerts for {listing.scope}")
    else:
        note = f" ({listing.replaced} since replaced by later runs of their days, shown from the archive)" if listing.replaced else ""
        click.echo(f"alerts for {listing.scope}{note}:")
        click.echo(format_alerts(listing.shown, reasons=reasons))
    if len(ongoing):
        click.echo("\n" + format_ongoing(ongoing, reasons=reasons))


@click.command("explain")
@click.argument("agent")
@day_option("--date", "day", "The day.  [default: the latest scored day]")
@json_option
@with_store
@pass_app
def explain_command(app: AppContext, store: Store, agent: str, day: str | None, as_json: bool) -> None:
    """Why an agent scored as they did on a day, feature by feature.

    \b
    Example:
      insiderwatch explain A00073 --date 2026-01-26
    Every feature with its value, the agent's own baseline, the team and role bands that
    day, its z-scores and contribution to the score, and the reasons. Reads the store. A
    team, site or group alert subject is not an agent: `insiderwatch alerts --date D` lists
    group alerts with their members; explain the members. Exit 0; 2 unknown agent or day.

    \b
    Columns: today = the count that day; own med / own p90 = the agent's own median and
    90th percentile over the baseline window (28 days ending 7 days before); team / role
    med and p95 = the same day's peers; own z / peer z = robust z-scores against the
    agent's past and against the role today, as the model sees them: after what the whole
    team shows that day is taken out and, for the kinds of views (id documents, no
    ticket...), against what the day's own volume predicts, so they can disagree with the
    raw count beside them (a heavy but ordinary day moves only views); contrib = how much the
    model's raw anomaly score falls when that feature is set back to normal (the raw score
    is on the model's own scale; the calibrated score, e.g. 2.0, means rarer than 1 in 100
    of the agent-days the model learned from).
    """
    from pipelines.explain import format_explanation

    e = explain_subject(store, app.config, agent, day)
    click.echo(json.dumps(explanation_document(e), default=str) if as_json else format_explanation(e))


@click.command("export")
@click.argument("what", type=click.Choice(["scores", "alerts", "case"]))
@click.argument("case_key", metavar="[CASE]", required=False)
@click.option("--format", "fmt", type=click.Choice(["csv", "jsonl", "ocsf", "ecs"]), default="csv", show_default=True, help="csv, jsonl: scores or alerts; ocsf, ecs: alerts only.")
@day_range_options(date_help="Only this day, e.g. a nightly hand-off to the SIEM (not with --from/--to).")
@click.option("--out", metavar="FILE|DIR", help="Write here (under a temporary name, then renamed) instead of stdout ('-' = stdout); for a case, a new or empty directory.")
@click.option("--reveal-customers", is_flag=True, help="export case: customer ids in clear (the bundle then contains personal data and says so).")
@with_store
@pass_app
def export_command(app: AppContext, store: Store, what: str, case_key: str | None, fmt: str, days: DayRange, out: str | None, reveal_customers: bool) -> None:
    """Export scores or alerts for other tools, or a case as a bundle to hand over.

    \b
    Examples:
      insiderwatch export alerts --format ocsf --date 2026-11-20 --out /var/spool/siem/iw-2026-11-20.jsonl
      insiderwatch export case 4267964827a5 --out handover/4267964827a5
    Reads the store; writes stdout or FILE, the count on stderr. Exit 0; 2 bad usage or
    FILE cannot be written.

    \b
    A case bundle (DIR, new or empty) holds: accesses.csv, every stored access of the
    case's days with the agent's local time (customer ids pseudonymised unless
    --reveal-customers); case.html, the case's report page; finding.ocsf.jsonl, the case
    as one OCSF finding (Create, then an Update per later day); manifest.json and
    SHA256SUMS, the SHA-256 of each file (check: cd DIR && sha256sum -c SHA256SUMS). The
    manifest's own SHA-256 is printed: record it with the hand-over.

    \b
    Formats:
      csv    flat rows for spreadsheets and scripts (scores or alerts)
      jsonl  the same flat rows, one JSON object per line (scores or alerts)
      ocsf   alerts as OCSF 1.5.0 Detection Findings (class 2004), one per line, for
             a SIEM or security data lake that reads OCSF (JSON Schema shipped in
             pipelines/schemas/ocsf_detection_finding.schema.json)
      ecs    alerts as Elastic Common Schema documents (event.kind alert), one per
             line, to index into Elasticsearch / OpenSearch
    \b
    scores: day, agent_id, score, rank, flagged, run_id, raw_score, history_days,
            peer_mode, team, role, site, vendor
            (higher score = more anomalous; rank 1 = most anomalous of the day;
             flagged = alerted that night)
    alerts: alert_key, day, subject_type, subject_id, score, rank, reasons, members,
            run_id, detector_version, created_at, suppressed_by, case (its key),
            case_status (open, closed), status (the case's latest decision, or
            untriaged)
    CSV cells that a spreadsheet would evaluate (= + - @) are neutralised.
    """
    if what == "case":
        _export_case(app, store, case_key, out, reveal_customers, fmt=fmt, days=days)
        return
    if case_key is not None:
        raise UsageError(f"export {what} takes no CASE argument (did you mean: insiderwatch export case {case_key} --out DIR?)")
    if reveal_customers:
        raise UsageError("--reveal-customers is for export case")
    if fmt in ("ocsf", "ecs") and what != "alerts":
        raise UsageError(f"--format {fmt} is for alerts: export scores as csv or jsonl")
    if fmt in ("ocsf", "ecs"):
        n = write_json_lines(alert_documents(store, app.config, fmt, days), out, mode=app.config.report.file_mode_bits)
    else:
        n = write_table(*export_table(store, what, fmt, days, app.config), fmt, out, mode=app.config.report.file_mode_bits)
    click.echo(f"exported {n:,} {what}" + (f" to {terminal_safe(out)}" if out not in (None, "-") else ""), err=True)


def _export_case(app: AppContext, store: Store, case_key: str | None, out: str | None, reveal: bool, *, fmt: str, days: DayRange) -> None:
    import hashlib

    from detector.cases import find_case
    from pipelines.case_bundle import write_case_bundle
    from pipelines.cases import load_cases

    if not case_key:
        raise UsageError("give the case: insiderwatch export case CASE --out DIR (see: insiderwatch cases)")
    if not out or out == "-":
        raise UsageError("export case writes a directory: give --out DIR (new or empty)")
    if fmt != "csv" or not days.empty:
        raise UsageError("export case takes no --format, --date, --from or --to: the bundle holds every day of the case")
    case = find_case(load_cases(store, app.config), case_key)
    bundle = write_case_bundle(store, app.config, case, Path(out), reveal=reveal)
    manifest = hashlib.sha256((bundle.out / "manifest.json").read_bytes()).hexdigest()
    click.echo(
        f"case {case.key[:12]} ({terminal_safe(case.subject_type)} {terminal_safe(case.subject_id)}): {bundle.accesses:,} accesses of {len(case.days)} day(s) to {terminal_safe(out)}; customer ids "
        + ("IN CLEAR (personal data)" if reveal else "pseudonymised"),
        err=True,
    )
    if not bundle.complete:
        click.echo("the stored evidence of some days is capped (evidence_limit): manifest.json says which days hold fewer accesses than the agent-days count", err=True)
    click.echo(f"{manifest}  manifest.json")


@click.command("rejects")
@run_argument(required=False)
@click.option("--run", "run_flag", type=int, metavar="RUN", hidden=True, help="Deprecated spelling of RUN, kept for old scripts.")
@table_options
@with_store
def rejects_command(store: Store, run_id: int | None, run_flag: int | None, fmt: str, out: str | None) -> None:
    """Rows a run could not use: file, line, reason and the raw row (truncated).

    \b
    Example, after a run that said "rejected rows: ... (see: insiderwatch rejects 42)":
      insiderwatch rejects 42 --format jsonl
    Reads the store; writes stdout or FILE, the count on stderr. Exit 0; 2 no such run.
    """
    if run_flag is not None:
        log.warning("`rejects --run %d` is deprecated: give the run as an argument, `insiderwatch rejects %d`", run_flag, run_flag)
        if run_id is not None and run_id != run_flag:
            raise UsageError(f"two runs given, RUN {run_id} and --run {run_flag}: give one")
        run_id = run_flag
    if run_id is None:
        raise UsageError("give the run: insiderwatch rejects RUN (see: insiderwatch runs)")
    n = write_table(reject_rows(store, run_id), REJECT_COLUMNS, fmt, out, mode=current_app().config.report.file_mode_bits)
    click.echo(f"{n:,} rejected rows in run {run_id}", err=True)


@click.command("report")
@click.option("--out", "out", type=click.Path(file_okay=False, path_type=Path), required=True, metavar="DIR", help="Directory of the site (created; an earlier report in it is replaced whole).")
@click.option("--run", "run_id", type=int, metavar="RUN", help="The alerts written by one run (not with --date, --from, --to).")
@day_range_options(
    date_help="The alerts of one day (not with --from/--to).  [default, with no day and no run: the open cases and the last 7 nights]",
    from_help="First day.  [default: --to, else the latest scored day]",
    to_help="Last day.  [default: the latest scored day]",
)
@click.option("--reveal-customers", is_flag=True, help="Show customer ids in clear (the report then contains personal data and says so).")
@with_store
@pass_app
def report_command(app: AppContext, store: Store, out: Path, run_id: int | None, days: DayRange, reveal_customers: bool) -> None:
    """Write the investigator report: a static site that opens offline.

    \b
    Examples:
      insiderwatch report --date 2026-11-21 --out reports/2026-11-21
      insiderwatch report --from 2026-11-01 --to 2026-11-30 --out reports/november
      insiderwatch report --run 42 --out reports/run-42
      insiderwatch report --out reports/today     # the open cases and the last 7 nights
    Reads the store; writes DIR. DIR/index.html lists the cases (status, triage, days,
    exposure; a filter for the untriaged ones) and ranks the alerts (sortable, filterable by
    vendor, team and day); one page per case shows its timeline, exposure, members, the
    customers they share, its triage history and its evidence day by day in the agents'
    local time; one page per flagged agent (or member of a group alert) shows their record views against
    their own baseline and their team, their hours, what they opened, every feature with
    its baseline, peer value and contribution, the reasons, and the records accessed on each
    alerted day; run.html shows the manifest of the runs behind it (inputs with digests,
    rows, settings, versions). Customer ids are pseudonymised with a keyed hash (key:
    [report] pseudonym_key or $INSIDERWATCH_PSEUDONYM_KEY, never written to the report)
    unless --reveal-customers. No network is needed to open it: it can be archived or
    attached to a case. Exit 0; 2 bad usage, no such run or days, or DIR cannot be written.
    """
    from pipelines.report import build_report

    if run_id is not None and not days.empty:
        raise UsageError("--run cannot be combined with --date, --from or --to")
    report = build_report(store, app.config, out, run_id=run_id, days=days, reveal_customers=reveal_customers)
    click.echo(f"{report.out / 'index.html'}")
    click.echo(
        f"report of {report.first} to {report.last}: {report.agents} flagged agent(s), {report.alerts} alert(s); customer ids " + ("IN CLEAR (personal data)" if report.revealed else "pseudonymised"),
        err=True,
    )


@click.command("runs")
@table_options
@click.option("--json", "as_json", is_flag=True, help="The same as --format jsonl.")
@with_store
def runs_command(store: Store, fmt: str, out: str | None, as_json: bool) -> None:
    """Every run recorded in the store, oldest first.

    \b
    Example:
      insiderwatch runs --json
    One row per run: kind (nightly, rescore, replay), status (running, complete, failed,
    refused, abandoned), when, which days, the detector, rows read, accepted and rejected,
    seconds, the later runs that scored some of its days again (superseded_by), and the
    message of a run that did not complete. Reads the store; writes stdout or FILE.
    """
    fmt = "jsonl" if as_json else fmt
    n = write_table(run_rows(store, fmt), RUN_COLUMNS, fmt, out, mode=current_app().config.report.file_mode_bits)
    click.echo(f"{n:,} run(s)", err=True)


COMMANDS = [alerts_command, explain_command, export_command, rejects_command, report_command, runs_command]
