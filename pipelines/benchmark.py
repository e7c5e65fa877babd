"""``insiderwatch benchmark speed``: how fast one night runs at the scale of a large desk, beside
the floor this machine allows for the same file.

Measures, in one process and one run:
- ingest plus aggregation (read, validate, de-duplicate, count per agent-day) in events/s,
  from csv.gz and from Parquet, each beside a bare pyarrow (and DuckDB, when installed)
  read-and-group-by of the same file;
- replay throughput of the agent-day stages (features, model, alerts, store) over a month of
  history;
- the wall time of one complete nightly run (files to stored alerts) for the day;
- peak resident memory.
The numbers go to the terminal and to a JSON file; BENCHMARKS.md records them with the
command that produced them.
"""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import resource
import shutil
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import click
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from detector import __version__
from detector import schema as s
from detector.aggregate import DAY, Deduplicator, Touched
from detector.config import Config, EngineSettings
from detector.engines import day_aggregator
from detector.engines.query import FileSource
from detector.engines.relational import account, count_day
from detector.simulator import SimulationSpec
from detector.sources import read_events
from detector.store import Store
from pipelines.run import NightScorer, run_nightly
from pipelines.simulate import run_simulation

DAY_UNDER_TEST = "2026-03-04"


def make_day(work: Path, *, agents: int, events: int, seed: int) -> tuple[Path, Path, Path]:
    """One UTC day of a simulated desk of ``agents`` people, topped up to ``events`` rows by
    repeating a seeded sample of its accesses a few minutes later (same agents, same kinds
    of work), written as csv.gz and Parquet. Returns (csv, parquet, roster)."""
    sim = work / "sim"
    run_simulation(
        SimulationSpec(agents=agents, days=3, seed=seed, start=date(2026, 3, 3), insiders={"bulk": max(1, agents // 1000)}),
        sim,
        fmt="parquet",
        show_progress=False,
    )
    table = pq.read_table(sim / "events.parquet")
    frame = table.to_pandas()
    start = pd.Timestamp(DAY_UNDER_TEST, tz="UTC")
    frame = frame[(frame[s.TIMESTAMP] >= start) & (frame[s.TIMESTAMP] < start + pd.Timedelta(days=1))]
    rng = np.random.default_rng(seed)
    if len(frame) < events:
        extra = frame.iloc[rng.integers(0, len(frame), size=events - len(frame))].copy()
        shifted = extra[s.TIMESTAMP] + pd.to_timedelta(rng.integers(60, 900, size=len(extra)), unit="s")
        extra[s.TIMESTAMP] = shifted.where(shifted < start + pd.Timedelta(days=1), extra[s.TIMESTAMP])
        extra[s.EVENT_ID] = [f"X{i:010d}" for i in range(len(extra))]
        frame = pd.concat([frame, extra], ignore_index=True).sort_values(s.TIMESTAMP, kind="stable")
    frame = frame.reset_index(drop=True)
    parquet = work / f"{DAY_UNDER_TEST}.parquet"
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), parquet, compression="zstd")
    text = frame.copy()
    text[s.TIMESTAMP] = text[s.TIMESTAMP].dt.strftime("%Y-%m-%dT%H:%M:%S.%f").str[:-3] + "Z"
    csv = work / f"{DAY_UNDER_TEST}.csv.gz"
    import gzip

    with gzip.open(csv, "wb", compresslevel=3) as fh:
        sink = pa.BufferOutputStream()
        pacsv.write_csv(pa.Table.from_pandas(text, preserve_index=False), sink)
        fh.write(sink.getvalue())
    roster = work / "roster.csv"
    shutil.copy(sim / "roster.csv", roster)
    shutil.rmtree(sim)
    return csv, parquet, roster


def _timed(fn):
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def ingest_and_aggregate(path: Path, timezones: dict, engine: str = "python") -> tuple[int, pd.DataFrame, Touched]:
    """Read, validate, de-duplicate, count per agent-day (by ``engine``) and collect the touched sets."""
    if engine == "duckdb":  # DuckDB reads, checks and holds the file, then counts the day
        with tempfile.TemporaryDirectory(prefix="insiderwatch-bench-") as tmp:
            source = FileSource([str(path)], EngineSettings(name="duckdb"), None, Path(tmp))
            try:
                table = source.checked()
                acc = account(table, source=source.name)
                counted = count_day(table, DAY_UNDER_TEST, timezones, engine=source.day_engine())
            finally:
                source.close()
        assert counted.touched is not None
        return acc.rows_read, counted.agent_days, counted.touched
    rows = 0
    dedup, agg = Deduplicator(), day_aggregator(EngineSettings(name=engine), DAY_UNDER_TEST, timezones)
    for batch in read_events(path):
        rows += batch.rows_read
        keep = dedup.keep(batch.accepted)
        agg.add(batch.accepted[keep])
    agent_days, day_touched = agg.finish()
    assert day_touched is not None  # the generated day has events
    return rows, agent_days, day_touched


def pyarrow_floor(path: Path) -> int:
    """Bare pyarrow: read the file, count events and distinct customers per agent."""
    table = pq.read_table(path) if path.suffix == ".parquet" else pacsv.read_csv(path)
    grouped = table.group_by(s.AGENT_ID).aggregate([(s.CUSTOMER_ID, "count_distinct"), (s.EVENT_ID, "count")])
    return grouped.num_rows


def duckdb_floor(path: Path) -> int | None:
    try:
        import duckdb
    except ImportError:
        return None
    reader = "read_parquet" if path.suffix == ".parquet" else "read_csv_auto"
    con = duckdb.connect()
    try:
        con.execute("SET threads TO 2")
        rows = con.execute(f"SELECT agent_id, count(*), count(DISTINCT customer_id) FROM {reader}(?) GROUP BY agent_id", [str(path)]).fetchall()
        return len(rows)
    finally:
        con.close()


#: share of an agent's customers of a synthetic history day that they touched before
SYNTHETIC_REPEAT_SHARE = 0.15


def synthetic_history(today: pd.DataFrame, today_touched: Touched, days: int, seed: int) -> list[tuple[str, pd.DataFrame, Touched]]:
    """``days`` earlier agent-days shaped like today's (each count scaled by a per-day,
    per-agent factor) with touched sets as large as today's (most customers new, some
    seen before): what a month of stored history costs to score, whatever its content."""
    rng = np.random.default_rng(seed)
    counts = [c for c in today.columns if c not in (DAY, s.AGENT_ID)]
    out = []
    first = date.fromisoformat(DAY_UNDER_TEST) - timedelta(days=days)
    for i in range(days):
        d = (first + timedelta(days=i)).isoformat()
        factor = rng.gamma(20.0, 1 / 20.0, size=(len(today), 1))
        frame = today.copy()
        frame[counts] = np.round(today[counts].to_numpy(float) * factor).astype("int64")
        frame[DAY] = d
        fresh = rng.random(len(today_touched.hashes)) >= SYNTHETIC_REPEAT_SHARE
        hashes = today_touched.hashes.copy()
        hashes[fresh] = rng.integers(0, 2**63, size=int(fresh.sum()), dtype=np.int64).astype(np.uint64)
        out.append((d, frame, Touched(d, today_touched.agents, today_touched.counts, hashes)))
    return out


def run_speed(*, agents: int, events: int, history_days: int, seed: int, work: Path | None = None, engine: str = "python") -> dict:
    """Run every speed measure once; return the figures."""
    own_work = work is None
    work = Path(tempfile.mkdtemp(prefix="insiderwatch-bench-")) if work is None else work
    try:
        t_make, (csv, parquet, roster_path) = _timed(lambda: make_day(work, agents=agents, events=events, seed=seed))
        from detector.sources import read_roster

        roster = read_roster(roster_path)
        tz = dict(zip(roster[s.AGENT_ID], roster[s.TIMEZONE]))
        figures: dict = {
            "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
            "insiderwatch": __version__,
            "engine": engine,
            "day": {"agents": agents, "events": events, "csv_gz_bytes": csv.stat().st_size, "parquet_bytes": parquet.stat().st_size, "seconds_to_generate": round(t_make, 2)},
        }
        for name, path in (("csv_gz", csv), ("parquet", parquet)):
            t_iw, (rows, agent_days, day_touched) = _timed(lambda p=path: ingest_and_aggregate(p, tz, engine))
            t_pa, _ = _timed(lambda p=path: pyarrow_floor(p))
            t_db, got = _timed(lambda p=path: duckdb_floor(p))
            figures[f"ingest_aggregate_{name}"] = {
                "rows": rows,
                "seconds": round(t_iw, 3),
                "events_per_s": round(rows / t_iw),
                "pyarrow_floor_seconds": round(t_pa, 3),
                "ratio_to_pyarrow": round(t_iw / t_pa, 2),
                "duckdb_floor_seconds": round(t_db, 3) if got is not None else None,
                "ratio_to_duckdb": round(t_iw / t_db, 2) if got is not None else None,
            }
        # a month of history, scored day by day: the replay cost of the agent-day stages
        cfg = dataclasses.replace(Config(), engine=EngineSettings(name=engine))
        store = Store(f"sqlite:///{work / 'bench.db'}")
        run_id = store.start_run("benchmark", config=cfg.to_dict(), detector_version=cfg.detector_version, day_from=None, day_to=None)
        night = NightScorer(store, cfg, roster, run_id)
        history = synthetic_history(agent_days, day_touched, history_days, seed)
        t_hist, _ = _timed(lambda: [night.score_agent_days(d, frame, t) for d, frame, t in history])
        store.finish_run(
            run_id,
            status="complete",
            manifest={"benchmark": "speed: synthetic history", "days": [d for d, _, _ in history], "seconds": round(t_hist, 3), "model": cfg.model.name, "seed": seed},
        )
        figures["replay_agent_day_stages"] = {
            "days": history_days,
            "agents": len(agent_days),
            "seconds": round(t_hist, 2),
            "seconds_per_day": round(t_hist / history_days, 3),
        }
        store.close()
        store = Store(f"sqlite:///{work / 'bench.db'}")
        t_night, summary = _timed(lambda: run_nightly(cfg, store, [str(csv)], DAY_UNDER_TEST, roster=roster, show_progress=False))
        figures["nightly"] = {
            "seconds": round(t_night, 2),
            "events": summary.ingest.rows_read,
            "agents": summary.nights[0].agents,
            "alerts": len(summary.alerts),
            "history_days_in_store": summary.nights[0].history_days,
        }
        store.close()
        figures["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
        return figures
    finally:
        if own_work:
            shutil.rmtree(work, ignore_errors=True)


def format_speed(f: dict) -> str:
    lines = [f"one day: {f['day']['events']:,} events, {f['day']['agents']:,} agents; engine {f.get('engine', 'python')}"]
    for name in ("csv_gz", "parquet"):
        x = f[f"ingest_aggregate_{name}"]
        floor = f"pyarrow floor {x['pyarrow_floor_seconds']:.2f}s ({x['ratio_to_pyarrow']}x)"
        if x["duckdb_floor_seconds"] is not None:
            floor += f", duckdb floor {x['duckdb_floor_seconds']:.2f}s ({x['ratio_to_duckdb']}x)"
        lines.append(f"ingest+aggregate {name:<8} {x['seconds']:6.2f}s  {x['events_per_s']:>10,} events/s   {floor}")
    r = f["replay_agent_day_stages"]
    lines.append(f"agent-day stages (features, model, alerts, store): {r['seconds_per_day']:.2f}s per day of {r['agents']:,} agents over {r['days']} days")
    n = f["nightly"]
    lines.append(f"nightly run, files to stored alerts: {n['seconds']:.2f}s ({n['events']:,} events, {n['agents']:,} agents, {n['history_days_in_store']} days of history)")
    lines.append(f"peak RSS: {f['peak_rss_mb']:,.0f} MB")
    return "\n".join(lines)


def scaled_day(day_parquet: Path, out: Path, *, scale: int, seed: int) -> int:
    """A day ``scale`` times larger than ``day_parquet``, written as csv.gz one copy at a
    time: copy k repeats the day's accesses a few minutes later (inside the day) under new
    event ids, and for k > 0 under new customer and ticket ids (``K<k>`` prepended), so the
    day's distinct customers, pairs and tickets grow with it, not only its rows (the hard
    case for the aggregation's state). Returns the number of events written."""
    table = pq.read_table(day_parquet)
    rng = np.random.default_rng(seed)
    start = pd.Timestamp(DAY_UNDER_TEST, tz="UTC")
    end = start + pd.Timedelta(days=1) - pd.Timedelta(milliseconds=1)
    written = 0
    with pa.CompressedOutputStream(str(out), "gzip") as sink:
        writer, schema = None, None
        for k in range(scale):
            frame = table.to_pandas()
            shift = pd.to_timedelta(rng.integers(-1800, 1800, size=len(frame)), unit="s")
            ts = (frame[s.TIMESTAMP] + shift).clip(start, end)
            ms = ts.dt.tz_convert(None).to_numpy().astype("datetime64[ms]")
            frame[s.TIMESTAMP] = np.datetime_as_string(ms, unit="ms")
            frame[s.TIMESTAMP] = frame[s.TIMESTAMP] + "Z"
            frame[s.EVENT_ID] = f"K{k}-" + frame[s.EVENT_ID].astype(str)
            if k:
                frame[s.CUSTOMER_ID] = f"K{k}" + frame[s.CUSTOMER_ID].astype(str)
                frame[s.TICKET_ID] = (f"K{k}" + frame[s.TICKET_ID].astype(str)).where(frame[s.TICKET_ID].notna())
            batch = pa.Table.from_pandas(frame, preserve_index=False).replace_schema_metadata(None)
            if writer is None:
                schema = batch.schema
                writer = pacsv.CSVWriter(sink, schema)
            writer.write_table(batch.cast(schema) if batch.schema != schema else batch)
            written += len(frame)
        if writer is not None:
            writer.close()
    return written


def child_peak(args: tuple[str, ...], log_path: Path) -> dict:
    """Run ``python -m pipelines.cli ARGS`` in a child process: its wall time, peak RSS
    and exit status.

    The peak is the child's own high-water mark (``VmHWM`` of /proc/self/status, read as it
    exits): the kernel's rusage of a child also counts the memory of the parent it was
    forked from, which here holds the generated files' data."""
    import subprocess
    import sys

    hwm_path = log_path.with_suffix(".hwm")
    hwm_path.unlink(missing_ok=True)
    code = (
        "import atexit, sys\n"
        "def _hwm():\n"
        "    for line in open('/proc/self/status'):\n"
        "        if line.startswith('VmHWM:'):\n"
        f"            open({str(hwm_path)!r}, 'w').write(line.split()[1])\n"
        "atexit.register(_hwm)\n"
        "from pipelines.cli import main\n"
        "main(sys.argv[1:])\n"
    )
    started = time.perf_counter()
    with open(log_path, "wb") as log_file:
        proc = subprocess.run([sys.executable, "-c", code, *args], stdout=subprocess.DEVNULL, stderr=log_file)
    kb = int(hwm_path.read_text()) if hwm_path.exists() else 0
    return {"seconds": round(time.perf_counter() - started, 1), "peak_rss_mb": round(kb / 1024, 1), "exit": proc.returncode}


def many_agents_day(path: Path, *, agents: int, seed: int) -> int:
    """A canonical CSV of :data:`DAY_UNDER_TEST` in which every one of ``agents`` distinct
    agent ids makes 1 to 3 views (a broken export, or an insider writing agent ids): the
    memory that grows with the number of agents, not events. Returns the events written."""
    rng = np.random.default_rng(seed)
    per_agent = rng.integers(1, 4, agents)
    agent = np.repeat(np.arange(agents), per_agent)
    n = len(agent)
    start = pd.Timestamp(DAY_UNDER_TEST, tz="UTC").value
    ns = start + np.sort(rng.integers(0, 86_400_000, n)) * 1_000_000
    frame = pd.DataFrame(
        {
            "timestamp": pd.to_datetime(ns, utc=True).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "agent_id": np.char.add("A", np.char.zfill(agent.astype(str), 7)),
            "customer_id": np.char.add("C", np.char.zfill(rng.integers(0, 10_000_000, n).astype(str), 7)),
            "action": "view",
        }
    )
    frame.to_csv(path, index=False, compression="gzip")
    return n


def run_memory(
    *,
    agents: int,
    events: int,
    scale: int,
    replay_agents: int,
    replay_days: int,
    seed: int,
    distinct_agents: int = 1_000_000,
    work: Path | None = None,
) -> dict:
    """Peak memory of a nightly run on a usual day and on a day ``scale`` times larger, of a
    day of ``distinct_agents`` distinct agent ids (none when 0), and of a replay over
    ``replay_days`` and over ``scale`` times as many days, each in a child process of its
    own."""
    own_work = work is None
    work = Path(tempfile.mkdtemp(prefix="insiderwatch-bench-")) if work is None else work
    try:
        work.mkdir(parents=True, exist_ok=True)
        made = work / f"made-{agents}-{events}-{scale}-{seed}.json"
        if made.exists():  # the same days generated before in this work directory
            csv, parquet, roster = work / f"{DAY_UNDER_TEST}.csv.gz", work / f"{DAY_UNDER_TEST}.parquet", work / "roster.csv"
            big = work / f"{DAY_UNDER_TEST}-x{scale}.csv.gz"
            big_events = json.loads(made.read_text())["big_events"]
        else:
            csv, parquet, roster = make_day(work, agents=agents, events=events, seed=seed)
            big = work / f"{DAY_UNDER_TEST}-x{scale}.csv.gz"
            big_events = scaled_day(parquet, big, scale=scale, seed=seed)
            made.write_text(json.dumps({"big_events": big_events}))
        figures: dict = {
            "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
            "insiderwatch": __version__,
        }
        usual_events = pq.ParquetFile(parquet).metadata.num_rows
        for name, path, n in (("nightly_usual_day", csv, usual_events), (f"nightly_day_x{scale}", big, big_events)):
            db = work / f"{name}.db"
            result = child_peak(("-q", "--db", f"sqlite:///{db}", "nightly", "--first-night", "--events", str(path), "--date", DAY_UNDER_TEST, "--roster", str(roster)), work / f"{name}.log")
            figures[name] = {"events": n, "agents": agents, "file_bytes": path.stat().st_size, **result}
        if distinct_agents:
            many = work / f"{DAY_UNDER_TEST}-agents-{distinct_agents}-{seed}.csv.gz"
            count = work / f"{many.name}.events"
            if not count.exists():
                count.write_text(str(many_agents_day(many, agents=distinct_agents, seed=seed)))
            name = "nightly_distinct_agents"
            result = child_peak(("-q", "--db", f"sqlite:///{work / name}.db", "nightly", "--first-night", "--events", str(many), "--date", DAY_UNDER_TEST), work / f"{name}.log")
            figures[name] = {"events": int(count.read_text()), "agents": distinct_agents, "file_bytes": many.stat().st_size, **result}
        for name, days in (("replay_usual_days", replay_days), (f"replay_days_x{scale}", replay_days * scale)):
            sim = work / f"sim-{replay_agents}-{days}-{seed}"
            if not (sim / "roster.csv").exists():
                run_simulation(SimulationSpec(agents=replay_agents, days=days, seed=seed), sim, show_progress=False)
            db = work / f"{name}.db"
            result = child_peak(("-q", "--db", f"sqlite:///{db}", "replay", "--events", str(sim / "events.csv.gz"), "--roster", str(sim / "roster.csv")), work / f"{name}.log")
            figures[name] = {"days": days, "agents": replay_agents, "file_bytes": (sim / "events.csv.gz").stat().st_size, **result}
            if own_work:
                shutil.rmtree(sim, ignore_errors=True)
        return figures
    finally:
        if own_work:
            shutil.rmtree(work, ignore_errors=True)


def format_memory(f: dict, budget_mb: int) -> str:
    lines = []
    for name, x in f.items():
        if not isinstance(x, dict) or "peak_rss_mb" not in x:
            continue
        size = f"{x['events']:,} events" if "events" in x else f"{x['days']} days of {x['agents']} agents"
        if name == "nightly_distinct_agents":
            size = f"{x['agents']:,} agents"
        verdict = "within" if x["peak_rss_mb"] <= budget_mb and x["exit"] == 0 else "OVER" if x["exit"] == 0 else f"FAILED (exit {x['exit']})"
        lines.append(f"{name:<23} {size:<28} {x['file_bytes'] / 1e6:8.1f} MB file  {x['seconds']:7.1f}s  peak RSS {x['peak_rss_mb']:8,.0f} MB  {verdict} the {budget_mb:,} MB budget")
    return "\n".join(lines)


@click.group("benchmark")
def benchmark_group():
    """Measure insiderwatch: detection, speed and memory.

    \b
    Example:
      insiderwatch benchmark detection --data demo
    \b
      detection  recall, delay, exposure and false alerts against labelled insiders
      speed      one night at the scale of a large desk, beside the machine's floor
      memory     peak memory of nightly runs and replays as the input grows
      console    the investigators' console under many signed-in sessions
    Each writes its figures to stdout (and --json FILE). Only console touches the store of
    --db: it adds a benchmark user (role viewer), disabled when it ends.
    """


@benchmark_group.command("speed")
@click.option("--agents", type=click.IntRange(min=10), default=5000, show_default=True, help="People on the simulated desk.")
@click.option("--events", type=click.IntRange(min=1000), default=1_500_000, show_default=True, help="Events in the day under test.")
@click.option("--history-days", type=click.IntRange(min=1), default=35, show_default=True, help="Days of stored history the nightly run reads.")
@click.option("--seed", type=int, default=1, show_default=True, help="Random seed of the simulated desk: the same seed and options give the same data.")
@click.option("--json", "json_out", type=click.Path(dir_okay=False, path_type=Path), help="Also write the figures to this JSON file.")
@click.option(
    "--engine",
    type=click.Choice(["duckdb", "python"]),
    default="duckdb",
    show_default=True,
    help="What reads, checks and counts the events into agent-days, in ingest+aggregate and the nightly run: python (this process) or duckdb (DuckDB reads the files itself).",
)
def speed_command(agents, events, history_days, seed, json_out, engine):
    """Time one night of a large desk beside this machine's floor.

    \b
    Example (the figures in BENCHMARKS.md):
      insiderwatch benchmark speed --json speed.json
    Generates a day of AGENTS people topped up to EVENTS accesses, then measures ingest plus
    aggregation from csv.gz and Parquet beside a bare pyarrow (and DuckDB, if installed)
    read-and-group-by of the same file, the agent-day stages over HISTORY_DAYS of history,
    one complete nightly run, and peak memory. Takes a few minutes at the defaults.
    """
    figures = run_speed(agents=agents, events=events, history_days=history_days, seed=seed, engine=engine)
    click.echo(format_speed(figures))
    if json_out:
        json_out.write_text(json.dumps(figures, indent=2) + "\n")


# --- detection ------------------------------------------------------------------------------
BUDGET_CURVE = (0.0025, 0.005, 0.01, 0.02, 0.03, 0.05)


@benchmark_group.command("memory")
@click.option("--agents", type=click.IntRange(min=10), default=5000, show_default=True, help="People on the simulated desk of the nightly runs.")
@click.option("--events", type=click.IntRange(min=1000), default=1_500_000, show_default=True, help="Events in the usual day.")
@click.option("--scale", type=click.IntRange(min=2), default=10, show_default=True, help="How many times larger the large day, and the long replay, are.")
@click.option("--replay-agents", type=click.IntRange(min=10), default=200, show_default=True, help="People on the simulated desk of the replays.")
@click.option("--replay-days", type=click.IntRange(min=2), default=35, show_default=True, help="Days in the usual replay.")
@click.option(
    "--distinct-agents",
    type=click.IntRange(min=0),
    default=1_000_000,
    show_default=True,
    help="Also run a night of this many distinct agent ids, 1 to 3 views each (0: none).",
)
@click.option("--budget-mb", type=click.IntRange(min=1), default=1536, show_default=True, help="The memory budget each run is held to.")
@click.option("--seed", type=int, default=1, show_default=True, help="Random seed of the simulated desk: the same seed and options give the same data.")
@click.option("--json", "json_out", type=click.Path(dir_okay=False, path_type=Path), help="Also write the figures to this JSON file.")
@click.option("--work", type=click.Path(file_okay=False, path_type=Path), help="Keep the generated files here and reuse them in the next run.  [default: a temporary directory, removed]")
def memory_command(agents, events, scale, replay_agents, replay_days, distinct_agents, budget_mb, seed, json_out, work):
    """Peak memory of nightly runs and replays as their input grows.

    \b
    Example (the figures in BENCHMARKS.md):
      insiderwatch benchmark memory --work /tmp/bench --json memory.json
    A usual day and one SCALE times larger, a usual replay and one over SCALE times the days.
    Each run is a real `insiderwatch nightly` or `replay` in a child process of its own,
    into a fresh SQLite store; its peak resident memory (RSS) comes from the kernel's
    accounting of that child. The large day repeats the usual day's work SCALE times under
    new event, customer and ticket ids, so its distinct customers grow with it. The day of
    DISTINCT_AGENTS agent ids (1 to 3 views each) holds what grows with the number of
    agents rather than events (issue 14). Takes
    several minutes and a few GB of disk at the defaults. Exit 1 when a run fails or goes
    over the budget.
    """
    figures = run_memory(agents=agents, events=events, scale=scale, replay_agents=replay_agents, replay_days=replay_days, seed=seed, distinct_agents=distinct_agents, work=work)
    figures["budget_mb"] = budget_mb
    click.echo(format_memory(figures, budget_mb))
    if json_out:
        json_out.write_text(json.dumps(figures, indent=2) + "\n")
    over = [k for k, x in figures.items() if isinstance(x, dict) and "peak_rss_mb" in x and (x["exit"] != 0 or x["peak_rss_mb"] > budget_mb)]
    if over:
        raise SystemExit(1)


def run_detection(data: Path, *, cfg: Config, show_progress: bool = True, work: Path | None = None, ablation: bool = False) -> dict:
    """Replay a labelled dataset (events, roster.csv, labels.csv, label_days.csv) through the
    nightly logic and score insiderwatch and the hand-written baselines against the labels,
    at the configured budget, in the same run. With ``ablation``, replay again once per
    feature family with that family left out of the model, and measure what is lost."""
    from detector.baselines import BASELINES
    from detector.evaluation import evaluate, flag_by_budget, recall_at_budgets, score_histogram
    from detector.features import FAMILIES
    from detector.sources import read_roster
    from pipelines.run import run_replay

    labels = pd.read_csv(data / "labels.csv", dtype=str)
    label_days = pd.read_csv(data / "label_days.csv", dtype={s.AGENT_ID: str, DAY: str})
    roster = read_roster(data / "roster.csv") if (data / "roster.csv").exists() else None
    events = sorted(p for p in data.iterdir() if p.name.startswith("events."))
    if not events:
        raise click.UsageError(f"no events.* file in {data}")
    own_work = work is None
    work = Path(tempfile.mkdtemp(prefix="insiderwatch-detect-")) if work is None else work

    def replay(config: Config, name: str):
        store = Store(f"sqlite:///{work / f'{name}.db'}")
        try:
            seconds, _ = _timed(lambda: run_replay(config, store, [str(p) for p in events], None, None, roster=roster, show_progress=show_progress))
            return seconds, store.scores()[[DAY, s.AGENT_ID, "score", "rank", "flagged"]], store.agent_days("0000-00-00", "9999-99-99")
        finally:
            store.close()

    try:
        t_replay, scores, agent_days = replay(cfg, "detect")
        results = {"data": str(data), "budget_fraction": cfg.alerts.budget_fraction, "replay_seconds": round(t_replay, 1), "detectors": {}}
        results["detectors"]["insiderwatch"] = evaluate(scores, labels, label_days)
        results["score_histogram"] = score_histogram(scores, label_days)
        curves = {"insiderwatch": recall_at_budgets(scores, labels, BUDGET_CURVE)}
        for name, baseline in BASELINES.items():
            b = baseline(agent_days, seed=cfg.model.seed)
            b["flagged"] = flag_by_budget(b, cfg.alerts.budget_fraction)
            results["detectors"][name] = evaluate(b, labels, label_days)
            curves[name] = recall_at_budgets(b, labels, BUDGET_CURVE)
        results["recall_at_budget"] = {"fractions": list(BUDGET_CURVE), **curves}
        if ablation:
            results["ablation"] = {}
            for family in FAMILIES:
                leave = dataclasses.replace(cfg, features=dataclasses.replace(cfg.features, leave_out=(*cfg.features.leave_out, family)))
                _, sc, _ = replay(leave, f"without-{family}")
                m = evaluate(sc, labels, label_days)
                results["ablation"][family] = {k: v for k, v in m.items() if k != "per_insider"}
        return results
    finally:
        if own_work:
            shutil.rmtree(work, ignore_errors=True)


def format_detection(results: dict) -> str:
    head = f"{'detector':<24} {'recall':>6} {'delay med':>9} {'delay max':>9} {'exposure med':>12} {'false/night':>11} {'precision*':>10} {'AP':>6}"
    lines = [head]

    def f(v, fmt):
        return "-" if v is None else format(v, fmt)

    for name, m in results["detectors"].items():
        lines.append(
            f"{name:<24} {f(m['recall'], '.0%'):>6} {f(m['delay_median'], '.1f'):>9} {f(m['delay_max'], 'd'):>9} "
            f"{f(m['exposure_median'], ',.0f'):>12} {f(m['false_alerts_per_night'], '.2f'):>11} "
            f"{f(m['precision_harvest_nights'], '.2f'):>10} {f(m['agent_day_average_precision'], '.3f'):>6}"
        )
    lines.append("* precision of alerts on nights with harvesting under way")
    iw = results["detectors"]["insiderwatch"]["by_scenario"]
    lines.append("")
    lines.append(f"{'insiderwatch by scenario':<24} {'insiders':>8} {'recall':>6} {'delay med':>9} {'delay max':>9} {'exposure med':>12}")
    for scenario, m in sorted(iw.items()):
        lines.append(f"{scenario:<24} {m['insiders']:>8} {f(m['recall'], '.0%'):>6} {f(m['delay_median'], '.1f'):>9} {f(m['delay_max'], 'd'):>9} {f(m['exposure_median'], ',.0f'):>12}")
    if results.get("ablation"):
        lines.append("")
        lines.append(f"{'insiderwatch without':<24} {'recall':>6} {'delay med':>9} {'delay max':>9} {'exposure med':>12} {'false/night':>11} {'precision*':>10} {'AP':>6}")
        for family, m in results["ablation"].items():
            lines.append(
                f"{family:<24} {f(m['recall'], '.0%'):>6} {f(m['delay_median'], '.1f'):>9} {f(m['delay_max'], 'd'):>9} "
                f"{f(m['exposure_median'], ',.0f'):>12} {f(m['false_alerts_per_night'], '.2f'):>11} "
                f"{f(m['precision_harvest_nights'], '.2f'):>10} {f(m['agent_day_average_precision'], '.3f'):>6}"
            )
    return "\n".join(lines)


def plot_recall(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    curve = results["recall_at_budget"]
    fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=120)
    x = [100 * f for f in curve["fractions"]]
    for name, ys in curve.items():
        if name == "fractions":
            continue
        ax.plot(x, [100 * y for y in ys], marker="o", label=name, linewidth=2.5 if name == "insiderwatch" else 1.2)
    ax.set_xlabel("alert budget (% of active agents alerted per night)")
    ax.set_ylabel("insiders alerted at least once (%)")
    ax.set_ylim(0, 105)
    ax.grid(alpha=0.3)
    ax.legend()
    ax.set_title("Recall against alert budget")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


@benchmark_group.command("detection")
@click.option(
    "--data",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    required=True,
    help="A labelled dataset: events.*, roster.csv, labels.csv, label_days.csv (what `insiderwatch simulate` writes).",
)
@click.option("--json", "json_out", type=click.Path(dir_okay=False, path_type=Path), help="Also write the metrics to this JSON file.")
@click.option("--plot", type=click.Path(dir_okay=False, path_type=Path), help="Write a PNG of recall against alert budget.")
@click.option("--ablation", is_flag=True, help="Also replay once per feature family with that family left out of the model (one more replay each).")
@click.pass_context
def detection_command(ctx, data, json_out, plot, ablation):
    """Replay a labelled desk and measure detection against its labels.

    \b
    Example, on a simulated desk:
      insiderwatch simulate --agents 1500 --days 60 --seed 1 --out desk1
      insiderwatch benchmark detection --data desk1 --json detection.json
    For insiderwatch (as configured: budget and threshold) and three hand-written baselines
    run at the same budget without look-ahead (raw views; views over the agent's own
    28-day median; scikit-learn IsolationForest on raw daily counts fit on the previous 28
    days): recall of insiders, delay from first harvest to first alert, records harvested
    by then (exposure), false alerts per night, precision on nights with harvesting under
    way, and agent-day average precision; insiderwatch also per scenario. With --ablation,
    the same measures for insiderwatch with each feature family left out in turn
    (notebooks/tuning.ipynb plots them from the JSON).
    """
    results = run_detection(data, cfg=ctx.obj.config, show_progress=not ctx.obj.quiet, ablation=ablation)
    click.echo(format_detection(results))
    if json_out:
        json_out.write_text(json.dumps(results, indent=2, default=str) + "\n")
    if plot:
        plot_recall(results, plot)


@benchmark_group.command("console")
@click.option("--sessions", type=click.IntRange(min=1, max=500), default=50, show_default=True, help="Signed-in sessions browsing at once.")
@click.option("--seconds", type=click.FloatRange(min=1), default=60.0, show_default=True, help="How long they browse.")
@click.option("--seed", type=int, default=1, show_default=True, help="Random seed of the pages each session picks.")
@click.option("--json", "json_out", type=click.Path(dir_okay=False, path_type=Path), help="Also write the figures to this JSON file.")
@click.pass_obj
def console_command(app, sessions, seconds, seed, json_out):
    """Load the console: many signed-in sessions browsing case pages.

    \b
    Example, against the PostgreSQL store the sample was replayed into:
      INSIDERWATCH_DB=postgresql+psycopg://postgres@127.0.0.1:5432/test insiderwatch benchmark console
    Serves the store of --db on loopback (insiderwatch serve), signs in --sessions users,
    each browsing case pages picked at random for --seconds; prints the pages served, the
    latency p50, p95, p99 and max, and the errors.
    """
    from pipelines.console_bench import format_console_load, run_console_load

    figures = run_console_load(app.db_url, sessions=sessions, seconds=seconds, seed=seed)
    click.echo(format_console_load(figures))
    if json_out:
        json_out.write_text(json.dumps(figures, indent=2))
