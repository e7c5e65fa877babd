"""Every engine counts a day's events into the same agent-days and touched sets as the
reference (issue 15): the Ibis expression run by DuckDB against the hand-written
aggregator, on generated batches (hostile strings, missing values, shared tickets and
ties, runs of consecutive ids, time zones, the day's first and last instants) and on a
simulated desk; and a run records the engine it used."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import uuid

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from detector import schema as s
from detector.aggregate import Deduplicator
from detector.config import EngineSettings
from detector.engines import ENGINES, day_aggregator, event_table
from detector.errors import UsageError

from .conftest import INSIDERWATCH, PG_URL

DAY = "2026-03-02"
START = pd.Timestamp(DAY, tz="UTC")
ZONES = {"a1": "America/New_York", "a2": "Asia/Kolkata", "a3": "Australia/Adelaide", "a4": "Europe/London"}


def _count(engine: str, events: pd.DataFrame, cuts: list[int], timezones: dict[str, str] | None, day: str) -> tuple[pd.DataFrame, object]:
    agg = day_aggregator(EngineSettings(name=engine, threads=1), day, timezones)
    bounds = [0, *sorted(c for c in cuts if 0 < c < len(events)), len(events)]
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        agg.add(events.iloc[lo:hi])
    return agg.finish()


def assert_same_counts(events: pd.DataFrame, cuts=(), timezones: dict[str, str] | None = None, day: str = DAY) -> pd.DataFrame:
    reference, ref_touched = _count("python", events, list(cuts), timezones, day)
    for engine in sorted(set(ENGINES) - {"python"}):
        counted, touched = _count(engine, events, list(cuts), timezones, day)
        pd.testing.assert_frame_equal(counted, reference, obj=f"agent-days by {engine}")
        if ref_touched is None:
            assert touched is None
            continue
        assert list(touched.agents) == list(ref_touched.agents)
        assert np.array_equal(touched.counts, ref_touched.counts)
        assert np.array_equal(touched.hashes, ref_touched.hashes)
    return reference


def _frame(rows: list[dict]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=list(s.EVENT_COLUMNS))
    frame[s.TIMESTAMP] = pd.to_datetime(frame[s.TIMESTAMP], utc=True)
    for c in s.EVENT_COLUMNS:
        if c != s.TIMESTAMP:
            frame[c] = frame[c].astype(s.STRING_DTYPE)
    return frame


HOSTILE = ["<b>x</b>", "=1+2", "a,b", 'q"q', "é", "\u200b", "x" * 300, "C\u00a0007", "日本"]
agents = st.sampled_from(["a1", "a2", "a3", "a4", "a5", "a6", *HOSTILE[:3]])
customers = st.one_of(st.builds(lambda p, n: f"{p}{n:04d}", st.sampled_from(["C", "C-", "", "K"]), st.integers(0, 12)), st.sampled_from(HOSTILE))
tickets = st.one_of(st.none(), st.sampled_from(["T1", "T2", "T3", "<T4>", "T-5"]))
instants = st.one_of(
    st.integers(0, 86_400 * 10**9 - 1),
    st.sampled_from([0, 1, 899_999_999_999, 900_000_000_000, 86_399_999_999_999, 86_399_000_000_000, 59_999_999_999]),
)
event = st.fixed_dictionaries(
    {
        s.TIMESTAMP: instants.map(lambda ns: START + pd.Timedelta(ns, "ns")),
        s.AGENT_ID: agents,
        s.CUSTOMER_ID: customers,
        s.ACTION: st.sampled_from(["view", "view", "view", "search", "note", "update", "export", "print", "login", "VIEW"]),
        s.TICKET_ID: tickets,
        s.RESOURCE: st.one_of(st.none(), st.sampled_from(["profile", "id_document", "address", "balance", "transactions"])),
        s.CUSTOMER_TIER: st.one_of(st.none(), st.sampled_from(["standard", "high_value"])),
        s.SESSION_ID: st.none(),
        s.SOURCE_IP: st.none(),
        s.EVENT_ID: st.none(),
    }
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=st.lists(event, min_size=0, max_size=80), cuts=st.lists(st.integers(0, 80), max_size=3), zoned=st.booleans())
def test_engines_count_generated_batches_alike(rows, cuts, zoned):
    events = _frame(rows)
    assert_same_counts(events, cuts, ZONES if zoned else None)


def test_engines_count_runs_of_ids_and_a_tickets_main_customer_alike():
    """Consecutive ids with a repeated number inside a run; a ticket shared by two agents
    where two customers tie for the most accesses (the one accessed first is the main
    customer), and one with fewer."""
    t = [START + pd.Timedelta(minutes=m) for m in range(40)]
    rows = [
        *({s.TIMESTAMP: t[i], s.AGENT_ID: "a1", s.CUSTOMER_ID: c, s.ACTION: "view"} for i, c in enumerate(["C0001", "C1", "C0002", "C0003", "C0005", "C0006", "C0007", "C0008", "X9"])),
        {s.TIMESTAMP: t[10], s.AGENT_ID: "a2", s.CUSTOMER_ID: "K7", s.ACTION: "view", s.TICKET_ID: "T1"},
        {s.TIMESTAMP: t[11], s.AGENT_ID: "a3", s.CUSTOMER_ID: "K8", s.ACTION: "view", s.TICKET_ID: "T1"},
        {s.TIMESTAMP: t[12], s.AGENT_ID: "a3", s.CUSTOMER_ID: "K8", s.ACTION: "note", s.TICKET_ID: "T1"},
        {s.TIMESTAMP: t[13], s.AGENT_ID: "a2", s.CUSTOMER_ID: "K7", s.ACTION: "view", s.TICKET_ID: "T1"},
        {s.TIMESTAMP: t[14], s.AGENT_ID: "a2", s.CUSTOMER_ID: "K9", s.ACTION: "view", s.TICKET_ID: "T1"},
    ]
    counted = assert_same_counts(_frame(rows)).set_index(s.AGENT_ID)
    assert counted.loc["a1", "sequential_customers"] == 7  # C1/C0001 C0002 C0003 and C0005-C0008
    # K7 and K8 both have 2 accesses under T1; K7 was accessed first, so it is T1's main customer
    assert counted.loc["a3", "off_primary_views"] == 1 and counted.loc["a2", "off_primary_views"] == 1


def test_engines_count_a_simulated_desk_alike(sim_events, sim_roster):
    zones = dict(zip(sim_roster[s.AGENT_ID], sim_roster[s.TIMEZONE]))
    days = sim_events[s.TIMESTAMP].dt.strftime("%Y-%m-%d")
    for day in days.value_counts().index[:3]:  # the three busiest days
        rows = sim_events[days == day].reset_index(drop=True)
        rows = rows[Deduplicator().keep(rows)].reset_index(drop=True)
        counted = assert_same_counts(rows, [len(rows) // 3, len(rows) // 2], zones, day=day)
        assert len(counted) > 50 and counted["off_primary_views"].sum() > 0


def test_touched_lists_hashed_in_small_chunks_and_batches_are_the_references(sim_events, sim_roster, monkeypatch):
    """The engine's per-agent customer lists are read batch by batch and hashed a chunk at a
    time (a chunk ending inside an agent's list, a batch ending between agents): the same
    touched sets as the reference's."""
    import detector.engines as engines

    monkeypatch.setattr(engines, "HASH_CHUNK", 7)
    zones = dict(zip(sim_roster[s.AGENT_ID], sim_roster[s.TIMEZONE]))
    days = sim_events[s.TIMESTAMP].dt.strftime("%Y-%m-%d")
    day = days.value_counts().index[0]
    rows = sim_events[days == day].reset_index(drop=True)
    rows = rows[Deduplicator().keep(rows)].reset_index(drop=True)
    counted = assert_same_counts(rows, [], zones, day=day)
    assert len(counted) > 50


def test_the_same_expression_on_postgresql_counts_as_the_reference(sim_events, sim_roster):
    """The one expression, compiled for PostgreSQL and run in the database over a table of
    the day's events (a warehouse stand-in): the same agent-days and touched sets as the
    reference, on the simulated desk's busiest day and on hostile generated rows."""
    if not PG_URL:
        pytest.skip("set INSIDERWATCH_TEST_PG=postgresql+psycopg://... to run the expression on PostgreSQL")
    import ibis

    from detector.engines import count_table

    zones = dict(zip(sim_roster[s.AGENT_ID], sim_roster[s.TIMEZONE]))
    days = sim_events[s.TIMESTAMP].dt.strftime("%Y-%m-%d")
    busiest = days.value_counts().index[0]
    desk = sim_events[days == busiest].reset_index(drop=True)
    desk = desk[Deduplicator().keep(desk)].reset_index(drop=True)
    hostile = _hostile_rows()
    con = ibis.connect(PG_URL.replace("postgresql+psycopg://", "postgres://"))
    try:
        for day, events, timezones in ((busiest, desk, zones), (DAY, hostile, ZONES)):
            reference, ref_touched = _count("python", events, [], timezones, day)
            name = f"iw_events_{uuid.uuid4().hex[:10]}"
            counted, touched = count_table(con.create_table(name, _event_table(events), temp=True), day, timezones)
            pd.testing.assert_frame_equal(counted, reference, obj=f"agent-days of {day} by PostgreSQL")
            assert list(touched.agents) == list(ref_touched.agents) and np.array_equal(touched.hashes, ref_touched.hashes)
    finally:
        con.disconnect()


def _spark_or_skip():
    """A local Spark session (2 threads, UTC), or a skip naming what is missing; under
    CI=true nothing may be missing (.ci/run installs it)."""
    import shutil

    missing = []
    try:
        import pyspark  # noqa: F401
    except ImportError:
        missing.append("pyspark (pip install '.[spark]')")
    if shutil.which("java") is None:
        missing.append("java (Java 17)")
    if missing:
        if os.environ.get("CI") == "true":
            pytest.fail(f"the Spark tests must run under CI=true: missing {', '.join(missing)}")
        pytest.skip(f"Spark is not here: missing {', '.join(missing)}")
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    from pyspark.sql import SparkSession

    return (
        SparkSession.builder.master("local[2]")
        .appName("insiderwatch-tests")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "4")
        .getOrCreate()
    )


@pytest.mark.slow
def test_the_same_expression_on_spark_counts_as_the_reference(sim_events, sim_roster, tmp_path):
    """The one expression, run by Spark in local mode over the day's events as Parquet (what
    a data lake holds): the reference's agent-days and touched sets, on the simulated desk's
    busiest day and on hostile rows."""
    import ibis
    import pyarrow.parquet as pq

    from detector.engines import count_table

    spark = _spark_or_skip()
    con = ibis.pyspark.connect(spark)
    zones = dict(zip(sim_roster[s.AGENT_ID], sim_roster[s.TIMEZONE]))
    days = sim_events[s.TIMESTAMP].dt.strftime("%Y-%m-%d")
    busiest = days.value_counts().index[0]
    desk = sim_events[days == busiest].reset_index(drop=True)
    desk = desk[Deduplicator().keep(desk)].reset_index(drop=True)
    try:
        for k, (day, events, timezones) in enumerate(((busiest, desk, zones), (DAY, _hostile_rows(), ZONES))):
            reference, ref_touched = _count("python", events, [], timezones, day)
            path = tmp_path / f"day{k}.parquet"
            pq.write_table(_event_table(events), path)
            spark.read.parquet(str(path)).createOrReplaceTempView(f"iw_events_{k}")
            counted, touched = count_table(con.table(f"iw_events_{k}"), day, timezones)
            pd.testing.assert_frame_equal(counted, reference, obj=f"agent-days of {day} by Spark")
            assert list(touched.agents) == list(ref_touched.agents) and np.array_equal(touched.hashes, ref_touched.hashes)
    finally:
        spark.stop()


def _event_table(events: pd.DataFrame) -> pa.Table:
    """The day's events as an engine's table holds them (text columns and ``us``)."""
    return event_table(events)


def _hostile_rows() -> pd.DataFrame:
    return _frame(
        [
            {s.TIMESTAMP: START + pd.Timedelta(ns, "ns"), s.AGENT_ID: agent, s.CUSTOMER_ID: customer, s.ACTION: "view", s.TICKET_ID: ticket}
            for ns, agent, customer, ticket in [
                (0, "a1", "<b>x</b>", None),
                (86_399_999_999_999, "a1", "C0001", "T1"),
                (59_999_999_999, "a2", "C0002", "T1"),
                (900_000_000_000, "a2", "C0003", "T1"),
                (1, "=1+2", "日本", "T1"),
                (2, "a1", "C0004", None),
                (3, "a1", "C\u200b0005", None),
            ]
        ]
    )


def test_an_empty_day_and_events_of_another_day():
    assert_same_counts(_frame([]))
    for engine in ENGINES:
        agg = day_aggregator(EngineSettings(name=engine), DAY)
        with pytest.raises(ValueError, match="outside"):
            agg.add(_frame([{s.TIMESTAMP: START - pd.Timedelta(seconds=1), s.AGENT_ID: "a", s.CUSTOMER_ID: "c", s.ACTION: "view"}]))


def test_an_unknown_engine_is_a_usage_error(tmp_path):
    with pytest.raises(UsageError, match="unknown engine 'spark2'; choose one of duckdb, python"):
        day_aggregator(EngineSettings(name="spark2"), DAY)
    config = tmp_path / "insiderwatch.toml"
    config.write_text('[engine]\nname = "nope"\n')
    proc = subprocess.run([*INSIDERWATCH, "--config", str(config), "runs"], capture_output=True, text=True)
    assert proc.returncode == 2 and "unknown engine.name 'nope'" in proc.stderr


def test_a_nightly_run_by_duckdb_scores_as_the_reference_and_records_its_engine(sim_dir, tmp_path):
    """Files to stored scores through the real entry point, once per engine: the same
    scores; the manifest names the engine and its version; verify recomputes with it."""
    day = "2026-01-10"
    exported = {}
    for engine in ("python", "duckdb"):
        db = tmp_path / f"{engine}.db"
        run = [
            *INSIDERWATCH,
            "--db",
            f"sqlite:///{db}",
            "nightly",
            "--first-night",
            "--engine",
            engine,
            "--events",
            str(sim_dir / "events.csv.gz"),
            "--roster",
            str(sim_dir / "roster.csv"),
            "--date",
            day,
        ]
        proc = subprocess.run(run, capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr
        manifest = json.loads(sqlite3.connect(db).execute("SELECT manifest FROM runs").fetchone()[0])
        assert manifest["engine"]["name"] == engine and manifest["engine"]["version"]
        exported[engine] = subprocess.run([*INSIDERWATCH, "--db", f"sqlite:///{db}", "export", "scores"], capture_output=True, text=True, check=True).stdout
        verified = subprocess.run([*INSIDERWATCH, "--db", f"sqlite:///{db}", "verify", "1"], capture_output=True, text=True)
        assert verified.returncode == 0 and "IDENTICAL" in verified.stdout + verified.stderr, verified.stderr
    assert "duckdb" in json.dumps(manifest)
    assert exported["duckdb"].count("\n") > 30 and exported["duckdb"] == exported["python"]
