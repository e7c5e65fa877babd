"""The detection commands: nightly, replay, alerts, explain, export.

Each command: options, settings, one pipeline call, a summary. Results (tables, exports) go
to stdout or --out; progress and logs to stderr.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import click

from detector.errors import UsageError
from detector.sources import check_inputs
from detector.store import Store
from pipelines.output import format_alert_summary, format_alerts, terminal_safe, write_table
from pipelines.run import parse_day, run_nightly, run_replay, tell_set_aside, yesterday_utc
from pipelines.settings import database_url
from pipelines.validate_logs import apply_mapping, lookup_option, mapping_option, validate_logs_command

log = logging.getLogger("insiderwatch")

EXIT_ALERTS = 3


def _store(ctx: click.Context, *, lazy: bool = False) -> Store:
    """The store of --db (or the config); ``lazy``: connected, and created if new, on first
    use, so a run refused for its inputs leaves no store behind."""
    cfg = ctx.obj["config"]
    url = database_url(ctx.obj.get("db"), cfg)
    ctx.obj["db_url"] = url
    return Store(url, connect_attempts=cfg.connect_attempts, connect_wait=cfg.connect_wait, lazy=lazy)


def _roster(ctx: click.Context, path: Path | None):
    from detector.sources import read_roster

    path = path or (Path(ctx.obj["config"].sources.roster) if ctx.obj["config"].sources.roster else None)
    if path is None:
        log.info("no roster: peers are the whole desk, hours are UTC")
        return None
    return read_roster(path)


def _events(ctx: click.Context, events: tuple[str, ...]) -> list[str]:
    if events:
        return list(events)
    default = ctx.obj["config"].sources.events
    if default:
        return [default]
    raise UsageError("no events given: use --events FILE|DIR|GLOB (or [sources] events in the config)")


events_option = click.option(
    "--events",
    "events",
    multiple=True,
    metavar="FILE|DIR|GLOB",
    help="Access logs to read: a file, a directory or a quoted glob; repeatable. CSV (.csv, .csv.gz), JSON Lines (.jsonl, .jsonl.gz) or Parquet.",
)
roster_option = click.option(
    "--roster",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Roster CSV (agent_id, vendor, team, site, role, start_date, end_date, timezone). Without it, peers are the whole desk.",
)


def _print_summary(summary, ctx: click.Context) -> None:
    ing = summary.ingest
    click.echo(
        f"run {summary.run_id} ({summary.kind}): {ing.rows_read:,} rows read = {ing.rows_accepted:,} accepted + "
        f"{ing.rows_rejected:,} rejected; {ing.rows_set_aside:,} outside the scored days set aside; "
        f"{ing.duplicates:,} duplicates dropped; {len(summary.nights)} day(s) scored in {summary.seconds:.1f}s",
        err=True,
    )
    if len(summary.suppressed):
        ids = sorted({int(i) for i in summary.suppressed["suppressed_by"]})
        click.echo(f"{len(summary.suppressed)} alert(s) stored but not raised: covered by suppression(s) {', '.join(map(str, ids))} (see: insiderwatch suppress --list)", err=True)
    if ing.rows_rejected:
        ranked = sorted(ing.reasons.items(), key=lambda kv: (-kv[1], kv[0]))
        top = ", ".join(f"{n:,} {terminal_safe(r)}" for r, n in ranked[:3])
        more = f", and {len(ranked) - 3} more reason(s)" if len(ranked) > 3 else ""
        click.echo(f"rejected rows: {top}{more} (see: insiderwatch rejects --run {summary.run_id})", err=True)


report_option = click.option(
    "--report",
    "report_dir",
    type=click.Path(file_okay=False, path_type=Path),
    metavar="DIR",
    help="Also write the investigator report of this run's alerts into DIR (see `insiderwatch report --help`).",
)


def _write_report(ctx: click.Context, store: Store, run_id: int, out: Path) -> None:
    from pipelines.report import build_report

    report = build_report(store, ctx.obj["config"], out, run_id=run_id)
    click.echo(f"report: {report.out / 'index.html'} ({report.agents} flagged agent(s), customer ids pseudonymised)", err=True)


@click.command("nightly")
@events_option
@click.option("--date", "day", metavar="YYYY-MM-DD", help="The UTC day to score.  [default: yesterday, UTC]")
@roster_option
@click.option("--fail-on-alert", is_flag=True, help=f"Exit with code {EXIT_ALERTS} when there are alerts (for schedulers that page on failure).")
@report_option
@mapping_option
@lookup_option
@click.pass_context
def nightly_command(ctx, events, day, roster, fail_on_alert, report_dir, mapping=None, lookup=None):
    """Score one day of access logs and print the night's alerts.

    \b
    Run it from cron after the day's logs are exported, e.g.
      insiderwatch nightly --events 'logs/2026-11-21*.csv.gz' --roster roster.csv
    Reads the files, scores every agent active on --date (UTC) against their own stored
    history and their peers, stores the run, scores and alerts, and prints the alerts with
    their top reasons. Events of other days found in the files are counted and set aside.
    History comes from the store: run `insiderwatch replay` over past logs first, or the
    first nights lean on peer comparisons. Exit 0 (3 with --fail-on-alert and alerts).
    """
    apply_mapping(ctx, mapping, lookup)
    cfg = ctx.obj["config"]
    day = parse_day(day, "--date") if day else yesterday_utc()
    spec = _events(ctx, events)
    roster_frame = _roster(ctx, roster)
    check_inputs(spec)  # an input that is not there is refused before the store is opened
    store = _store(ctx, lazy=True)  # and one whose rows cannot be used, before it is created
    summary = run_nightly(cfg, store, spec, day, roster=roster_frame, show_progress=not ctx.obj["quiet"])
    tell_set_aside(store, summary.ingest, day)
    _print_summary(summary, ctx)
    click.echo(format_alerts(summary.alerts))
    if report_dir:
        _write_report(ctx, store, summary.run_id, report_dir)
    if fail_on_alert and len(summary.alerts):
        ctx.exit(EXIT_ALERTS)


@click.command("rescore")
@events_option
@click.option("--date", "day", metavar="YYYY-MM-DD", required=True, help="The UTC day to score again.")
@roster_option
@report_option
@mapping_option
@lookup_option
@click.pass_context
def rescore_command(ctx, events, day, roster, report_dir, mapping, lookup):
    """Score a day again, from all of its files, after late events arrived.

    \b
    Example, when last night's run said "late events of 2026-11-20 were set aside":
      insiderwatch rescore --date 2026-11-20 --events 'logs/2026-11-2[01]*.csv.gz'
    The nightly logic for that day, as a new run: its results replace the day's (the
    previous ones stay in the archive, for `verify` and `diff`), alerts keep their identity.
    Later days keep the scores they had; rescore them too, or replay the period, if the
    change matters for their baselines.
    """
    ctx.invoke(nightly_command, events=events, day=day, roster=roster, fail_on_alert=False, report_dir=report_dir, mapping=mapping, lookup=lookup)


@click.command("replay")
@events_option
@click.option("--from", "first", metavar="YYYY-MM-DD", help="First day to score.  [default: the first day in the logs]")
@click.option("--to", "last", metavar="YYYY-MM-DD", help="Last day to score.  [default: the last day in the logs]")
@roster_option
@click.option("--fail-on-alert", is_flag=True, help=f"Exit with code {EXIT_ALERTS} when the replay raised alerts.")
@click.option("--show", type=click.IntRange(min=0), default=20, show_default=True, help="Flagged agents and groups to list (most anomalous first); 0 lists none.")
@click.option(
    "--suppressions",
    type=click.Choice(["as-of", "current"]),
    default="as-of",
    show_default=True,
    help="Apply the suppressions that existed on each replayed day (an honest replay), or every suppression not expired by then, including later ones.",
)
@report_option
@mapping_option
@lookup_option
@click.pass_context
def replay_command(ctx, events, first, last, roster, fail_on_alert, show, suppressions, report_dir, mapping, lookup):
    """Replay historical logs day by day, as the nightly run would have seen them.

    \b
    Example, a quarter:
      insiderwatch replay --events 'archive/2026-0[1-3]-*.csv.gz' --from 2026-01-01 --to 2026-03-31
    Each day is scored with only the data before it (the model and personal baselines use
    earlier days; peer comparisons use the day itself), and stored as a nightly run would
    store it: replaying a period also builds the history that later nightly runs use.
    Rerunning a day replaces that day's results.
    """
    apply_mapping(ctx, mapping, lookup)
    cfg = ctx.obj["config"]
    first = parse_day(first, "--from") if first else None
    last = parse_day(last, "--to") if last else None
    if first and last and first > last:
        raise UsageError(f"--from {first} is after --to {last}")
    spec = _events(ctx, events)
    roster_frame = _roster(ctx, roster)
    check_inputs(spec)  # an input that is not there is refused before the store is opened
    store = _store(ctx, lazy=True)  # and one whose rows cannot be used, before it is created
    summary = run_replay(cfg, store, spec, first, last, roster=roster_frame, show_progress=not ctx.obj["quiet"], suppressions=suppressions)
    _print_summary(summary, ctx)
    alerts = summary.alerts
    if show:
        click.echo(f"who was flagged from {summary.nights[0].day} to {summary.nights[-1].day}, most anomalous first:")
        click.echo(format_alert_summary(alerts, limit=show))
    if report_dir:
        _write_report(ctx, store, summary.run_id, report_dir)
    if fail_on_alert and len(alerts):
        ctx.exit(EXIT_ALERTS)


@click.command("alerts")
@click.option("--date", "day", metavar="YYYY-MM-DD", help="Alerts of one day.")
@click.option("--from", "first", metavar="YYYY-MM-DD", help="First day.")
@click.option("--to", "last", metavar="YYYY-MM-DD", help="Last day.")
@click.option("--run", "run_id", type=int, help="Alerts written by one run, also those a later run of their day has since replaced (marked).")
@click.option("--reasons", type=click.IntRange(min=1), default=2, show_default=True, help="Reasons shown per alert.")
@click.pass_context
def alerts_command(ctx, day, first, last, run_id, reasons):
    """List stored alerts with their reasons (default: the latest scored day)."""
    store = _store(ctx)
    if day:
        first = last = parse_day(day, "--date")
    else:
        first = parse_day(first, "--from") if first else None
        last = parse_day(last, "--to") if last else None
    if first and last and first > last:
        raise UsageError(f"--from {first} is after --to {last}")
    if run_id is not None:
        _require_run(store, run_id)
    if not (first or last or run_id):
        latest = store.latest_day()
        if latest is None:
            raise UsageError("the store holds no scored days yet: run `insiderwatch nightly` or `insiderwatch replay` first")
        first = last = latest
    replaced = 0
    if run_id is not None:
        frame = store.run_results(run_id)[1]
        if first:
            frame = frame[frame["day"] >= first]
        if last:
            frame = frame[frame["day"] <= last]
        if len(frame):
            gone = frame["superseded_by"].notna()
            replaced = int(gone.sum())
            frame = frame.assign(reasons=[
                ([f"[replaced since by run {int(b)}, which scored the day again]"] if g else []) + list(r)
                for r, g, b in zip(frame["reasons"], gone, frame["superseded_by"])
            ])
    else:
        frame = store.alerts(first, last, run_id)
    suppressed = frame[frame["suppressed_by"].notna()] if len(frame) else frame
    frame = frame[frame["suppressed_by"].isna()] if len(frame) else frame
    scope = f"run {run_id}" if run_id is not None else (first if first == last else f"{first or 'the start'} to {last or 'the end'}")
    if len(suppressed):
        click.echo(f"{len(suppressed)} suppressed alert(s) stored, not shown (export alerts lists them with suppressed_by)", err=True)
    if frame.empty:
        click.echo(f"no alerts for {scope}")
    else:
        note = f" ({replaced} since replaced by later runs of their days, shown from the archive)" if replaced else ""
        click.echo(f"alerts for {scope}{note}:")
        click.echo(format_alerts(frame, reasons=reasons))


def _require_run(store: Store, run_id: int) -> None:
    if store.run(run_id) is None:
        raise UsageError(f"no run {run_id} in the store")


@click.command("explain")
@click.argument("agent")
@click.option("--date", "day", metavar="YYYY-MM-DD", help="The day.  [default: the latest scored day]")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def explain_command(ctx, agent, day, as_json):
    """Why an agent scored as they did on a day: every feature with its value, the agent's
    own baseline, the team and role bands that day, its z-scores and contribution to the
    score, and the reasons.

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
    from pipelines.explain import explain, format_explanation

    store = _store(ctx)
    day = parse_day(day, "--date") if day else store.latest_day()
    if day is None:
        raise UsageError("the store holds no scored days yet")
    e = explain(store, ctx.obj["config"], agent, day)
    if as_json:
        click.echo(
            json.dumps(
                {
                    "agent_id": e.agent_id,
                    "day": e.day,
                    "score": {k: v for k, v in e.score.items() if k != "contributions"},
                    "alerted": e.alerted,
                    "suppressed_by": e.suppressed_by,
                    "features": e.features.astype(object).where(e.features.notna(), None).to_dict("records"),
                    "reasons": e.reasons,
                },
                default=str,
            )
        )
    else:
        click.echo(format_explanation(e))


SCORE_COLUMNS = ["day", "agent_id", "score", "rank", "flagged", "run_id", "raw_score", "history_days", "peer_mode", "team", "role", "site", "vendor"]
ALERT_COLUMNS = ["alert_key", "day", "subject_type", "subject_id", "score", "rank", "reasons", "members", "run_id", "detector_version", "created_at", "suppressed_by"]


@click.command("export")
@click.argument("what", type=click.Choice(["scores", "alerts"]))
@click.option("--format", "fmt", type=click.Choice(["csv", "jsonl", "ocsf", "ecs"]), default="csv", show_default=True, help="ocsf and ecs: alerts only.")
@click.option("--date", "day", metavar="YYYY-MM-DD", help="Only this day (a nightly hand-off to the SIEM).")
@click.option("--from", "first", metavar="YYYY-MM-DD", help="First day.")
@click.option("--to", "last", metavar="YYYY-MM-DD", help="Last day.")
@click.option("--out", metavar="FILE", help="Write here instead of stdout ('-' = stdout).")
@click.pass_context
def export_command(ctx, what, fmt, day, first, last, out):
    """Export scores (one row per scored agent-day) or alerts for other tools.

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
            run_id, detector_version, created_at, suppressed_by
    CSV cells that a spreadsheet would evaluate (= + - @) are neutralised.

    \b
    Example, after the nightly run, last night's alerts to the SIEM's intake:
      insiderwatch export alerts --format ocsf --date 2026-11-20 --out /var/spool/siem/iw-2026-11-20.jsonl
    """
    if fmt in ("ocsf", "ecs") and what != "alerts":
        raise UsageError(f"--format {fmt} is for alerts: export scores as csv or jsonl")
    if day and (first or last):
        raise UsageError("give --date, or --from/--to, not both")
    first = parse_day(first, "--from") if first else None
    last = parse_day(last, "--to") if last else None
    if day:
        first = last = parse_day(day, "--date")
    store = _store(ctx)
    if first and last and first > last:
        raise UsageError(f"--from {first} is after --to {last}")
    if fmt in ("ocsf", "ecs"):
        from pipelines.alert_formats import alert_facts, ecs_alert, ocsf_finding
        from pipelines.output import write_json_lines

        build = ocsf_finding if fmt == "ocsf" else ecs_alert
        n = write_json_lines((build(f) for f in alert_facts(store, ctx.obj["config"], first, last, features=fmt == "ocsf")), out)
    elif what == "scores":
        frame = store.scores(first, last)
        columns = SCORE_COLUMNS
    else:
        frame = store.alerts(first, last)
        columns = ALERT_COLUMNS
        frame["rank"] = frame["rank"].astype("Int64")
        if fmt == "csv":
            frame["reasons"] = frame["reasons"].map(lambda r: " | ".join(r))
            frame["members"] = frame["members"].map(lambda m: " ".join(m) if m else "")
        elif fmt == "jsonl":
            frame["members"] = frame["members"].map(lambda m: list(m) if m else [])
    if fmt in ("csv", "jsonl"):
        n = write_table(frame.to_dict("records"), columns, fmt, out)
    click.echo(f"exported {n:,} {what}" + (f" to {terminal_safe(out)}" if out not in (None, "-") else ""), err=True)


@click.command("rejects")
@click.option("--run", "run_id", type=int, required=True, help="The run whose rejected rows to list.")
@click.option("--format", "fmt", type=click.Choice(["csv", "jsonl"]), default="csv", show_default=True)
@click.option("--out", metavar="FILE", help="Write here instead of stdout.")
@click.pass_context
def rejects_command(ctx, run_id, fmt, out):
    """Rows a run could not use: file, line, reason and the raw row (truncated)."""
    store = _store(ctx)
    _require_run(store, run_id)
    frame = store.rejects(run_id)
    n = write_table(frame.to_dict("records"), ["source", "line", "reason", "raw"], fmt, out)
    click.echo(f"{n:,} rejected rows in run {run_id}", err=True)


@click.command("report")
@click.option("--out", "out", type=click.Path(file_okay=False, path_type=Path), required=True, metavar="DIR", help="Directory to write the site into (created; its pages are replaced).")
@click.option("--run", "run_id", type=int, help="The alerts written by one run.")
@click.option("--date", "day", metavar="YYYY-MM-DD", help="The alerts of one day.")
@click.option("--from", "first", metavar="YYYY-MM-DD", help="First day.")
@click.option("--to", "last", metavar="YYYY-MM-DD", help="Last day.")
@click.option("--reveal-customers", is_flag=True, help="Show customer ids in clear (the report then contains personal data and says so).")
@click.pass_context
def report_command(ctx, out, run_id, day, first, last, reveal_customers):
    """Write the investigator report: a static site that opens from the file system.

    \b
    Examples:
      insiderwatch report --date 2026-11-21 --out reports/2026-11-21
      insiderwatch report --from 2026-11-01 --to 2026-11-30 --out reports/november
      insiderwatch report --run 42 --out reports/run-42
    Default: the latest scored day. DIR/index.html ranks the alerts (sortable, filterable by
    vendor, team and day); one page per flagged agent shows their record views against
    their own baseline and their team, their hours, what they opened, every feature with
    its baseline, peer value and contribution, the reasons, and the records accessed on each
    alerted day; run.html shows the manifest of the runs behind it (inputs with digests,
    rows, settings, versions). Customer ids are pseudonymised with a keyed hash (key:
    [report] pseudonym_key or $INSIDERWATCH_PSEUDONYM_KEY, never written to the report)
    unless --reveal-customers. No network is needed to open it: it can be archived or
    attached to a case.
    """
    from pipelines.report import build_report

    if run_id is not None and (day or first or last):
        raise UsageError("--run cannot be combined with --date, --from or --to")
    if day and (first or last):
        raise UsageError("--date cannot be combined with --from or --to")
    day = parse_day(day, "--date") if day else None
    first = parse_day(first, "--from") if first else None
    last = parse_day(last, "--to") if last else None
    store = _store(ctx)
    report = build_report(store, ctx.obj["config"], out, run_id=run_id, day=day, first=first, last=last, reveal_customers=reveal_customers)
    click.echo(f"{report.out / 'index.html'}")
    click.echo(
        f"report of {report.first} to {report.last}: {report.agents} flagged agent(s), {report.alerts} alert(s); customer ids "
        + ("IN CLEAR (personal data)" if report.revealed else "pseudonymised"),
        err=True,
    )


RUN_COLUMNS = ["run_id", "kind", "status", "started_at", "finished_at", "day_from", "day_to", "detector_version", "rows_read", "rows_accepted", "rows_rejected", "seconds", "message"]


@click.command("runs")
@click.option("--format", "fmt", type=click.Choice(["csv", "jsonl"]), default="csv", show_default=True)
@click.option("--out", metavar="FILE", help="Write here instead of stdout.")
@click.pass_context
def runs_command(ctx, fmt, out):
    """Every run recorded in the store, oldest first: kind (nightly, replay), status
    (running, complete, failed, refused, abandoned), when, which days, the detector, rows
    read, accepted and rejected, seconds, and the message of a run that did not complete."""
    store = _store(ctx)
    rows = []
    for r in store.runs().to_dict("records"):
        manifest = json.loads(r["manifest"]) if isinstance(r.get("manifest"), str) and r["manifest"] else {}
        counts = manifest.get("rows", {})
        rows.append({**r, "rows_read": counts.get("read"), "rows_accepted": counts.get("accepted"), "rows_rejected": counts.get("rejected"), "seconds": manifest.get("seconds")})
    n = write_table(rows, RUN_COLUMNS, fmt, out)
    click.echo(f"{n:,} run(s)", err=True)


#: feature families a suppression can be scoped to (features.FAMILIES, less persistence)
PATTERNS = ["volume", "tickets", "record_kinds", "enumeration", "hours", "exports", "first_seen"]


def _author(by: str | None) -> str:
    import getpass

    if by:
        return by
    try:
        return getpass.getuser()
    except Exception:  # no user name on this system
        return "unknown"


@click.command("triage")
@click.argument("alert")
@click.option("--status", type=click.Choice(["confirmed", "benign", "escalated"]), help="The decision.")
@click.option("--note", help="Why: what was checked, what was found.")
@click.option("--by", "by", metavar="NAME", help="Who decided.  [default: the login name]")
@click.option("--suppress-until", metavar="YYYY-MM-DD", help="With --status benign: also suppress the alert's agent until this day (needs --ticket).")
@click.option("--ticket", metavar="REF", help="Case or change ticket for the suppression.")
@click.option("--pattern", type=click.Choice(PATTERNS), help="Scope the suppression to alerts driven mostly by this feature family.")
@click.option("--history", is_flag=True, help="Only list the alert's decisions, oldest first.")
@click.pass_context
def triage_command(ctx, alert, status, note, by, suppress_until, ticket, pattern, history):
    """Record an investigator's decision on an alert (ALERT: its key, or its first 6+
    characters, from `insiderwatch alerts` or `export alerts`).

    \b
    Example:
      insiderwatch triage 3fa9c1 --status benign --note "KYC backlog, checked with the lead" \\
          --suppress-until 2026-12-15 --ticket SEC-1042
    Decisions are never overwritten: a new one supersedes the last, and --history shows
    them all with time and author. A benign decision can suppress the agent in the same step
    (the suppression names the alert it came from); a suppression never changes the model:
    the agent is still scored and their alerts are stored, marked, not raised.
    """
    store = _store(ctx)
    found = store.find_alert(alert)
    if history:
        frame = store.decisions(found["alert_key"])
        n = write_table(frame.to_dict("records"), ["id", "alert_key", "status", "note", "author", "decided_at", "supersedes"], "csv", None)
        click.echo(f"{n} decision(s) on alert {found['alert_key']} ({found['subject_type']} {terminal_safe(found['subject_id'])}, {found['day']})", err=True)
        return
    if not status or not note:
        raise UsageError("give --status and --note (or --history)")
    if suppress_until and (status != "benign" or not ticket or found["subject_type"] != "agent"):
        raise UsageError("--suppress-until goes with --status benign, --ticket and an agent alert")
    author = _author(by)
    decision = store.add_decision(found["alert_key"], status=status, note=note, author=author)
    click.echo(
        f"decision {decision['id']}: alert {found['alert_key']} ({found['subject_type']} {terminal_safe(found['subject_id'])}, {found['day']}) "
        f"{status} by {terminal_safe(author)}" + (f", superseding decision {decision['supersedes']}" if decision["supersedes"] else "")
    )
    if suppress_until:
        until = parse_day(suppress_until, "--suppress-until")
        sid = store.add_suppression(found["subject_id"], until=until, reason=note, ticket=ticket, owner=author, from_alert=found["alert_key"], pattern=pattern)
        scope = f", only alerts driven by {pattern}" if pattern else ""
        click.echo(f"suppression {sid}: agent {terminal_safe(found['subject_id'])} until {until}{scope} (ticket {terminal_safe(ticket)}), from this decision")


@click.command("suppress")
@click.argument("agent", required=False)
@click.option("--until", metavar="YYYY-MM-DD", help="Last day the suppression applies.")
@click.option("--reason", help="Why this agent's alerts are expected.")
@click.option("--ticket", metavar="REF", help="Case or change ticket that approves it.")
@click.option("--by", "by", metavar="NAME", help="Owner.  [default: the login name]")
@click.option("--pattern", type=click.Choice(PATTERNS), help="Only alerts driven mostly by this feature family (e.g. record_kinds for a KYC secondment).")
@click.option("--list", "listing", is_flag=True, help="List every suppression (active or expired) instead.")
@click.pass_context
def suppress_command(ctx, agent, until, reason, ticket, by, pattern, listing):
    """Suppress an agent's alerts until a day, with an owner, a reason and a ticket.

    \b
    Example:
      insiderwatch suppress A00123 --until 2026-12-31 --reason "fraud-team secondment" --ticket SEC-1043
    The agent is still scored every night and an alert of theirs is stored, marked with the
    suppression, and never takes the night's budget or reaches the alert list. Expired
    suppressions stop applying. Replays apply the suppressions that existed on each day
    unless told otherwise (replay --suppressions current).
    """
    store = _store(ctx)
    if listing:
        frame = store.suppressions()
        n = write_table(frame.to_dict("records"), ["id", "agent_id", "until", "pattern", "reason", "ticket", "owner", "created_at", "from_alert"], "csv", None)
        click.echo(f"{n} suppression(s)", err=True)
        return
    if not (agent and until and reason and ticket):
        raise UsageError("give AGENT, --until, --reason and --ticket (or --list)")
    until = parse_day(until, "--until")
    if not store.knows_agent(agent):
        log.warning("agent %s has never been scored in this store: check the id (the suppression is kept for when they appear)", terminal_safe(agent))
    if until < yesterday_utc():
        log.warning(
            "--until %s is already past: the suppression covers no coming night, only replays of days up to then with --suppressions current",
            until,
        )
    sid = store.add_suppression(agent, until=until, reason=reason, ticket=ticket, owner=_author(by), pattern=pattern)
    scope = f", only alerts driven by {pattern}" if pattern else ""
    click.echo(f"suppression {sid}: agent {terminal_safe(agent)} until {until}{scope} (ticket {terminal_safe(ticket)})")


@click.command("verify")
@click.argument("run_id", type=int)
@click.option("--show", type=click.IntRange(min=1), default=50, show_default=True, help="Differences listed at most.")
@click.pass_context
def verify_command(ctx, run_id, show):
    """Recompute a run from its recorded inputs and settings and compare, row by row.

    \b
    Example: insiderwatch verify 42
    Checks every input file and the roster against the SHA-256 the run recorded, checks
    that the stored history days the run read still hold the same runs' results, replays
    the run in a scratch store with the recorded settings, and compares every score, rank,
    flag and alert with what the store holds for the run.
    Exit 0: identical. Exit 4: different (each difference listed). Exit 2: an input file
    is missing or has changed (named).
    """
    from pipelines.audit import EXIT_DIFFERENT, format_verification, verify_run

    store = _store(ctx)
    result = verify_run(store, run_id, show_progress=not ctx.obj["quiet"])
    click.echo(format_verification(result, limit=show))
    if not result.identical:
        ctx.exit(EXIT_DIFFERENT)


@click.command("diff")
@click.argument("run_a", type=int)
@click.argument("run_b", type=int)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def diff_command(ctx, run_a, run_b, as_json):
    """What changed between two runs: settings, inputs, and alerts on the days both scored.

    \b
    Example, after raising the threshold and replaying the same month:
      insiderwatch diff 41 42
    lists the settings that differ (alerts.threshold: 2.0 -> 2.5), the input files whose
    digests differ, and each alert that is new in B, gone from B, or moved (rank or score).
    """
    from pipelines.audit import diff_runs, format_diff

    result = diff_runs(_store(ctx), run_a, run_b)
    click.echo(json.dumps(result, indent=2, default=str) if as_json else format_diff(result))


COMMANDS = [
    nightly_command,
    replay_command,
    alerts_command,
    explain_command,
    export_command,
    rejects_command,
    report_command,
    runs_command,
    verify_command,
    diff_command,
    triage_command,
    suppress_command,
    rescore_command,
    validate_logs_command,
]
