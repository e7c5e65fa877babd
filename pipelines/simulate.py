"""``insiderwatch simulate``: write a simulated desk's access logs, roster and labels.

The generator (detector.simulator) computes; this module owns the files. Events are written
by a background thread (Arrow's CSV/Parquet encoders and zlib release the GIL), so
generating day d+1 overlaps with compressing day d on the second core.
"""

from __future__ import annotations

import gzip
import inspect
import json
import logging
import queue
import textwrap
import threading
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import click
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from detector.errors import UsageError
from detector.simulator import INJECTORS, Simulation, SimulationSpec, parse_spec
from pipelines.progress import progress_bar

log = logging.getLogger("insiderwatch.simulate")

FORMATS = ("csv.gz", "parquet")
GZIP_LEVEL = 3  # a few % larger than level 6 at twice the speed


@dataclass
class SimulationResult:
    out: Path
    events_file: Path
    events: int
    agents: int
    insiders: int
    notes: dict


def run_simulation(spec: SimulationSpec, out: Path, *, fmt: str = "csv.gz", show_progress: bool = True) -> SimulationResult:
    """Simulate ``spec`` and write DIR/events.<fmt>, roster.csv, labels.csv and
    label_days.csv. Same spec, same bytes."""
    if fmt not in FORMATS:
        raise UsageError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    out.mkdir(parents=True, exist_ok=True)
    sim = Simulation(spec)
    events_file = out / f"events.{fmt}"
    tmp = events_file.with_name(events_file.name + ".partial")
    writer = _CsvGzWriter(tmp) if fmt == "csv.gz" else _ParquetWriter(tmp)
    total = 0
    with progress_bar("simulating", total=spec.days + 2, unit="day", disable=not show_progress) as bar:
        for table in sim.chunks(typed_timestamps=(fmt == "parquet")):
            writer.put(table)
            total += table.num_rows
            bar.update(1)
        writer.close()
    tmp.replace(events_file)
    sim.roster.to_csv(out / "roster.csv", index=False, lineterminator="\n")
    sim.labels().to_csv(out / "labels.csv", index=False, lineterminator="\n")
    sim.label_days().to_csv(out / "label_days.csv", index=False, lineterminator="\n")
    notes = sim.calendar_notes()
    (out / "calendar.json").write_text(json.dumps(notes, indent=2, sort_keys=True) + "\n")
    return SimulationResult(out, events_file, total, sim.desk.n, len(sim.labels()), notes)


class _BackgroundWriter:
    """Encodes and writes tables on a worker thread, in order, with a short queue so memory
    stays bounded. Errors on the worker surface on the next put/close."""

    def __init__(self) -> None:
        self._q: queue.Queue = queue.Queue(maxsize=2)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            while (table := self._q.get()) is not None:
                self.write(table)
            self.finish()
        except BaseException as exc:  # handed to the caller's thread
            self._error = exc
            while self._q.get() is not None:
                pass

    def put(self, table: pa.Table) -> None:
        if self._error:
            raise self._error
        self._q.put(table)

    def close(self) -> None:
        self._q.put(None)
        self._thread.join()
        if self._error:
            raise self._error

    def write(self, table: pa.Table) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def finish(self) -> None:  # pragma: no cover - abstract
        raise NotImplementedError


class _CsvGzWriter(_BackgroundWriter):
    def __init__(self, path: Path) -> None:
        self._raw = open(path, "wb")
        # mtime=0 and a fixed name keep the gzip header byte-identical between runs
        self._gz = gzip.GzipFile(filename="events.csv", mode="wb", fileobj=self._raw, compresslevel=GZIP_LEVEL, mtime=0)
        self._header = True
        super().__init__()

    def write(self, table: pa.Table) -> None:
        sink = pa.BufferOutputStream()
        # the simulator's values never hold a delimiter, quote or newline: no quoting needed
        pacsv.write_csv(table, sink, pacsv.WriteOptions(include_header=self._header, quoting_style="none"))
        self._header = False
        self._gz.write(sink.getvalue())

    def finish(self) -> None:
        self._gz.close()
        self._raw.close()


class _ParquetWriter(_BackgroundWriter):
    def __init__(self, path: Path) -> None:
        self._path = path
        self._writer: pq.ParquetWriter | None = None
        super().__init__()

    def write(self, table: pa.Table) -> None:
        if self._writer is None:
            self._writer = pq.ParquetWriter(self._path, table.schema, compression="zstd")
        self._writer.write_table(table)

    def finish(self) -> None:
        if self._writer is not None:
            self._writer.close()


def _parse_start(ctx, param, value):
    if value is None:
        return date(2026, 1, 5)
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date like 2026-01-05") from None


@click.command("simulate")
@click.option("--agents", type=click.IntRange(min=1), default=200, show_default=True, help="Number of people on the desk (agents, team leads, QA, KYC, escalations).")
@click.option("--days", type=click.IntRange(min=1), default=35, show_default=True, help="Number of calendar days to simulate.")
@click.option("--seed", type=click.IntRange(min=0), default=7, show_default=True, help="Random seed: the same seed and options give byte-identical files.")
@click.option("--out", "out", type=click.Path(file_okay=False, path_type=Path), required=True, help="Directory to write into (created if missing; files in it are replaced).")
@click.option("--start", callback=_parse_start, metavar="DATE", help="First simulated day, YYYY-MM-DD.  [default: 2026-01-05]")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="csv.gz", show_default=True, help="Events file format.")
@click.option(
    "--insiders",
    metavar="SPEC",
    default="default",
    show_default=True,
    help="Which insiders to inject: 'default' (every scenario, more as the desk grows), 'none', or NAME[=COUNT],... e.g. 'bulk=2,ring=1'.",
)
@click.pass_context
def simulate_command(ctx, agents, days, seed, out, start, fmt, insiders):
    """Simulate a support desk's access logs with labelled insiders.

    \b
    Example (how sample_logs/ was made):
      insiderwatch simulate --agents 200 --days 35 --seed 7 --out sample_logs
    Writes into --out:
      events.csv.gz | events.parquet  access events in the canonical schema
      roster.csv        agent_id, vendor, team, site, role, start_date, end_date, timezone
      labels.csv        agent_id, scenario, start_day, end_day   (one row per insider)
      label_days.csv    agent_id, day, exfil_events              (harvesting per UTC day)
      calendar.json     the benign desk-wide events: busy days and the backlog week

    \b
    Benign desk: in-house staff and two outsourced vendors on sites in four time zones,
    teams of 10-14 under a team lead, roles agent, team_lead, qa_reviewer, kyc_specialist
    and escalations; ticket-driven work with lognormal workloads, follow-ups, linked
    customers, phone look-ups without tickets; shifts (some at night), weekends by team,
    leave, sick days, new hires ramping up, leavers, shift changes, whole-desk busy days,
    a backlog week for one queue; a few duplicate and out-of-order rows.

    \b
    Insider scenarios (--insiders):
    """
    counts = parse_spec(insiders, agents, days)
    spec = SimulationSpec(agents=agents, days=days, seed=seed, start=start, insiders=counts)
    result = run_simulation(spec, out, fmt=fmt, show_progress=not (ctx.obj and ctx.obj.quiet))
    click.echo(
        f"wrote {result.events:,} events for {result.agents} people over {days} days with {result.insiders} insiders to {result.out}/",
    )


def _scenario_help() -> str:
    lines = []
    for name, injector in INJECTORS.items():
        if name == "decoyed":
            continue  # the quiet half of "decoy", planned with it
        text = " ".join((type(injector).__doc__ or "").split())
        lines.extend(textwrap.wrap(text, width=92, initial_indent=f"  {name:<12} ", subsequent_indent=" " * 15))
    return "\n".join(lines)


simulate_command.help = inspect.cleandoc(simulate_command.help or "") + "\n" + _scenario_help()
