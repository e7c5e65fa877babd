"""``insiderwatch validate-logs``: how a log file maps, without writing anything."""

from __future__ import annotations

from collections import Counter

import click

from detector import schema as s
from detector.errors import InputError, UsageError
from pipelines.options import AppContext, lookup_option, mapping_option, pass_app


@click.command("validate-logs")
@click.argument("files", nargs=-1, type=click.Path(), metavar="FILE...")
@mapping_option
@lookup_option
@click.option("--sample", type=click.IntRange(min=0), default=5, show_default=True, help="Mapped rows and rejected rows shown.")
@click.option("--list-mappings", is_flag=True, help="List the built-in mappings and exit.")
@pass_app
def validate_logs_command(app: AppContext, files: tuple[str, ...], mapping: str | None, lookup: str | None, sample: int, list_mappings: bool) -> None:
    """Show how log files map to insiderwatch's events, writing nothing.

    \b
    For each file: which raw column or rule supplies each canonical column (and which are
    missing), a sample of mapped rows, the rows that would be rejected and why (counts per
    reason and examples), and the accounting: read = accepted + rejected. No store is
    opened. Exit 2 when a required column (timestamp, agent_id, customer_id, action)
    cannot be supplied.

    \b
    Built-in mappings (--mapping NAME):
      salesforce-lightning-page-view  EventLogFile Lightning Page View CSV
      salesforce-uri-event            LightningUriEvent / UriEvent, CSV or JSON Lines
      salesforce-report-export        EventLogFile Report Export CSV (action export)
      zendesk-access-log              Zendesk Access Logs API records, JSON Lines
      ocsf-web-resources              OCSF Web Resources Activity (6001), JSON Lines
      ecs                             Elastic Common Schema, JSON Lines
    or a mapping TOML file of your own (see README, "Log formats in").

    \b
    Example:
      insiderwatch validate-logs LightningPageView-2026-01-12.csv \\
          --mapping salesforce-lightning-page-view --lookup case_customers.csv
    """
    from detector.mapping import builtin_descriptions
    from detector.sources import IngestReport, raw_columns, read_events, resolve_inputs
    from pipelines.output import terminal_safe

    if list_mappings:
        for name, text in builtin_descriptions().items():
            click.echo(f"{name:<34} {text}")
        return
    if not files:
        raise UsageError("give one or more log files (or --list-mappings)")
    app.use_mapping(mapping, lookup)
    cfg = app.config
    reader = cfg.sources.reader_mapping()
    from detector.sources import as_mapping

    reader = as_mapping(reader)
    fmt = reader.fmt
    paths = resolve_inputs(list(files), any_name=fmt is not None)
    name = cfg.sources.mapping or ("[sources.rename]" if cfg.sources.rename else "none (canonical columns)")
    click.echo(f"mapping: {terminal_safe(name)}" + (f" (lookup {terminal_safe(cfg.sources.lookup)})" if cfg.sources.lookup else ""))
    unusable: list[str] = []  # one line per file that cannot be ingested, for stderr
    for path in paths:
        click.echo(f"\n{terminal_safe(str(path))}")
        raw = raw_columns(path, fmt=fmt)
        cover = reader.coverage(raw)
        click.echo("  columns:")
        missing = []
        for column in s.EVENT_COLUMNS:
            need = "required" if column in s.REQUIRED_COLUMNS else "optional"
            what = cover.get(column)
            click.echo(f"    {column:<14} {need:<8} " + (terminal_safe(str(what)) if what else "MISSING"))
            if what is None and column in s.REQUIRED_COLUMNS:
                missing.append(column)
        if missing:
            click.echo(f"  raw columns found: {terminal_safe(', '.join(raw)) or 'none'}")
            unusable.append(f"{path}: no source for the required column(s) {', '.join(missing)}")
            continue
        report = IngestReport()
        samples: list[dict] = []
        examples: list[dict] = []
        reasons: Counter[str] = Counter()
        try:
            for batch in read_events([path], mapping=reader, fmt=fmt, report=report):
                if len(samples) < sample and len(batch.accepted):
                    samples.extend(batch.accepted.head(sample - len(samples)).to_dict("records"))
                if len(batch.rejects):
                    reasons.update(batch.rejects["reason"].astype(str))
                    if len(examples) < sample:
                        examples.extend(batch.rejects.head(sample - len(examples)).to_dict("records"))
        except InputError as exc:
            click.echo(f"  unusable: {terminal_safe(str(exc))}")
            unusable.append(f"{path}: {exc}")
            continue
        stats = report.files[-1]
        click.echo(f"  rows: {stats.rows_read:,} read = {stats.rows_accepted:,} accepted + {stats.rows_rejected:,} rejected")
        if samples:
            click.echo("  mapped rows (sample):")
            for row in samples:
                text = ", ".join(f"{k}={v}" for k, v in row.items() if not _missing(v))
                click.echo(f"    {terminal_safe(text)}")
        if reasons:
            click.echo("  rejected, by reason:")
            for reason, count in reasons.most_common(10):
                click.echo(f"    {count:>8,}  {terminal_safe(reason)}")
            click.echo("  rejected rows (examples):")
            for r in examples:
                click.echo(f"    line {r['line']}: {terminal_safe(str(r['reason']))}: {terminal_safe(str(r['raw']))[:200]}")
    if unusable:
        for line in unusable:
            click.echo(f"insiderwatch: error: {terminal_safe(line)}", err=True)
        hint = "" if cfg.sources.mapping else " (a vendor export needs --mapping: see --list-mappings)"
        click.echo(f"insiderwatch: error: {len(unusable)} of {len(paths)} file(s) could not be ingested with this mapping{hint}", err=True)
        click.get_current_context().exit(2)


def _missing(value) -> bool:
    try:
        return bool(s.pd.isna(value))
    except (TypeError, ValueError):
        return False
