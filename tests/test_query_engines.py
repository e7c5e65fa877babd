"""The query engines (issue 15): Spark over a lake's files and a SQL warehouse's table read,
validate, de-duplicate and count where the logs are, and give the same rows, reasons,
agent-days and scores as the reference reading in this process.

- The validation expression against :func:`detector.schema.validate` on generated raw rows
  (whitespace of every kind, case, NUL, overlong values, timestamps in every accepted form,
  impossible dates, epoch numbers, garbage), run by DuckDB in this process; then the same
  rows on PostgreSQL and Spark.
- De-duplication and counting against the reference on generated days with duplicates and
  conflicting event ids.
- The real entry point: nightly, replay and rescore with ``--engine sql`` over a table in
  the machine's PostgreSQL and ``--engine spark`` over Parquet and CSV, scores identical to
  the python engine's, the manifest naming the engine, verify recomputing with it, rejected
  rows counted with their reasons, and mapping features an engine cannot run refused.
"""

from __future__ import annotations

import io
import json
import os
import random
import shutil
import sqlite3
import subprocess
import uuid

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from detector import schema as s
from detector.aggregate import DayAggregator, Deduplicator
from detector.engines import relational as rel
from detector.errors import UsageError

from .conftest import INSIDERWATCH, PG_URL

DAY = "2026-03-02"
START = pd.Timestamp(DAY, tz="UTC")

# --- validation: generated raw rows -------------------------------------------------------------
_SPACE = st.sampled_from(["", " ", "\t", "\n", "\x0b", "\x0c", "\r", "\x1f", "\x85", "\xa0", "\u2003", "\u3000", "\u200b"])
_WORD = st.sampled_from(["a1", "A1", "view", "VIEW", "View", "note", "C0001", "c0002", "T1", "=1+2", "<b>x</b>", "日本", "v\x00w", "x" * 1030, ""])
_TEXT = st.one_of(st.none(), st.builds(lambda a, w, b: a + w + b, _SPACE, _WORD, _SPACE))
_TIMESTAMP = st.one_of(
    st.none(),
    st.sampled_from(
        [
            "2026-03-02T10:11:12Z",
            "2026-03-02 10:11:12.1234567+05:30",
            "2026-03-02T23:59:59.999999-0230",
            "2026-03-03T00:00:00+05",
            "2026-03-02",
            "2026-03-02T10:11",
            "2026-02-30T00:00:00Z",
            "2026-13-01T00:00:00Z",
            "2026-03-02T24:00:00Z",
            "2026-03-02T10:11:12+24:00",
            "1772582400",
            "1772582400123",
            "1772582400.0005",
            "-5",
            "1989-12-31T23:59:59Z",
            "2100-01-01T00:00:00Z",
            "1600-01-01T00:00:00Z",
            "yesterday",
            "",
            "  2026-03-02T01:02:03Z\t",
        ]
    ),
)
_ROW = st.fixed_dictionaries({s.TIMESTAMP: _TIMESTAMP, **{c: _TEXT for c in s.STRING_COLUMNS}})


def _reference(raw: pd.DataFrame) -> tuple[pd.DataFrame, list]:
    """The reference's reading of raw text rows: accepted rows (with ``us``) and reasons by row."""
    checked = s.validate(raw)
    reasons = [None] * len(raw)
    for line, reason in zip(checked.rejects["line"], checked.rejects["reason"]):
        reasons[int(line) - 1] = reason
    accepted = checked.accepted.copy()
    accepted[rel.US] = accepted[s.TIMESTAMP].to_numpy(dtype="datetime64[ns]").astype(np.int64) // 1000
    return accepted.drop(columns=[s.TIMESTAMP]), reasons


def _text_table(frame: pd.DataFrame):
    """``frame`` as an Arrow table of text columns (missing values as nulls)."""
    import pyarrow as pa

    return pa.table({c: pa.array([None if v is None or (isinstance(v, float) and np.isnan(v)) else str(v) for v in frame[c]], pa.string()) for c in frame.columns})


def _checked_by(con, raw: pd.DataFrame, *, nul: bool = True) -> pd.DataFrame:
    name = f"iw_raw_{uuid.uuid4().hex[:8]}"
    table = con.create_table(name, _text_table(raw), temp=True) if con.name == "postgres" else con.create_table(name, _text_table(raw))
    return rel.checked(rel.canonical(table, None, engine=con.name, source=name), nul=nul, fence=con.name == "postgres").to_pandas()


def assert_same_reading(con, rows: list[dict], *, nul: bool = True) -> None:
    """The engine's reasons and accepted rows (normalised values, microseconds) are the
    reference's, compared as multisets (an engine keeps no row order)."""
    raw = pd.DataFrame(rows, columns=list(s.EVENT_COLUMNS)).astype(object)
    accepted, reasons = _reference(raw)
    got = _checked_by(con, raw, nul=nul)
    if not nul:  # the engine cannot hold a NUL: such rows are not given to it
        assert not any("\x00" in str(v) for r in rows for v in r.values() if v is not None)
    want_reasons = sorted(map(str, reasons))
    got_reasons = sorted(str(r) if r is not None and not pd.isna(r) else "None" for r in got[rel.REASON])
    assert got_reasons == want_reasons
    good = got[got[rel.REASON].isna()]
    cols = [*s.STRING_COLUMNS, rel.US]

    def canon(frame: pd.DataFrame) -> list[tuple]:
        return sorted(tuple(None if pd.isna(v) else (int(v) if c == rel.US else str(v)) for c, v in zip(cols, r)) for r in frame[cols].itertuples(index=False))

    assert canon(good) == canon(accepted)


@pytest.fixture(scope="module")
def duck():
    import ibis

    con = ibis.duckdb.connect(threads=1)
    yield con
    con.disconnect()


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(rows=st.lists(_ROW, min_size=1, max_size=40))
def test_the_validation_expression_reads_generated_rows_as_the_reference(duck, rows):
    assert_same_reading(duck, rows)


def test_every_whitespace_character_is_stripped_alike(duck):
    """Arrow's trimmed characters, and no other, on DuckDB (PostgreSQL and Spark below)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    values = [f"{chr(c)}x{chr(c)}" for c in range(1, 0x3001) if not 0xD800 <= c < 0xE000]
    want = pc.utf8_trim_whitespace(pa.array(values)).to_pylist()
    t = duck.create_table(f"ws_{uuid.uuid4().hex[:6]}", _text_table(pd.DataFrame({"v": values})))
    got = dict(zip(values, t.mutate(r=t.v.re_replace(rel._TRIM, "")).to_pandas().set_index("v")["r"].reindex(values)))
    assert [got[v] for v in values] == want


# --- de-duplication and counting ---------------------------------------------------------------
_EVENT = st.fixed_dictionaries(
    {
        "second": st.integers(0, 86_399),
        s.AGENT_ID: st.sampled_from(["a1", "a2", "a3"]),
        s.CUSTOMER_ID: st.sampled_from(["C0001", "C0002", "C0003", "C0004", "K9", "=x"]),
        s.ACTION: st.sampled_from(["view", "search", "note", "export"]),
        s.TICKET_ID: st.sampled_from([None, "T1", "T2"]),
        s.RESOURCE: st.sampled_from([None, "id_document", "address", "balance"]),
        s.EVENT_ID: st.sampled_from([None, "e1", "e2", "e3", "e4"]),
    }
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(events=st.lists(_EVENT, min_size=1, max_size=50), repeat=st.lists(st.integers(0, 49), max_size=10))
def test_de_duplication_and_counts_in_the_engine_match_the_reference(duck, events, repeat):
    rows = [dict(e) for e in events] + [dict(events[i]) for i in repeat if i < len(events)]
    raw = pd.DataFrame([{**{k: v for k, v in r.items() if k != "second"}, s.TIMESTAMP: (START + pd.Timedelta(seconds=r["second"])).strftime("%Y-%m-%dT%H:%M:%SZ")} for r in rows])
    accepted = s.validate(raw.astype(object)).accepted
    dedup = Deduplicator()
    keep = dedup.keep(accepted)
    agg = DayAggregator(DAY)
    agg.add(accepted[keep])
    want, want_touched = agg.finish()
    table = duck.create_table(f"ev_{uuid.uuid4().hex[:8]}", _text_table(raw.astype(object).reindex(columns=list(s.EVENT_COLUMNS))))
    got = rel.count_day(rel.checked(rel.canonical(table, None, engine="duckdb", source="t")), DAY)
    pd.testing.assert_frame_equal(got.agent_days, want)
    assert np.array_equal(got.touched.hashes, want_touched.hashes) and list(got.touched.agents) == list(want_touched.agents)
    assert (got.events, got.duplicates) == (agg.events, dedup.dropped)
    assert (got.conflicting_ids, got.conflicting_rows) == (dedup.conflicting_ids, dedup.conflicting_rows)


# --- PostgreSQL ----------------------------------------------------------------------------------
def _pg_load(frame: pd.DataFrame, table: str, *, typed: bool = True) -> None:
    """``frame`` into a new table of the test server by COPY (the timestamp typed or text)."""
    import psycopg

    url = PG_URL.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(url, autocommit=True) as con:
        con.execute(f"DROP TABLE IF EXISTS {table}")
        cols = ", ".join(f'"{c}" {"timestamptz" if c == s.TIMESTAMP and typed else "text"}' for c in frame.columns)
        con.execute(f"CREATE TABLE {table} ({cols})")
        buf = io.StringIO()
        frame.to_csv(buf, index=False, header=False)
        buf.seek(0)
        with con.cursor().copy(f"COPY {table} FROM STDIN WITH (FORMAT csv)") as copy:
            copy.write(buf.getvalue())
        if typed:
            con.execute(f'CREATE INDEX ON {table} ("{s.TIMESTAMP}")')


def _pg_drop(table: str) -> None:
    import psycopg

    with psycopg.connect(PG_URL.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as con:
        con.execute(f"DROP TABLE IF EXISTS {table}")


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*INSIDERWATCH, *args], capture_output=True, text=True)


def _scores(db) -> str:
    return subprocess.run([*INSIDERWATCH, "--db", f"sqlite:///{db}", "export", "scores"], capture_output=True, text=True, check=True).stdout


def test_postgresql_reads_generated_rows_as_the_reference():
    """The same validation, compiled for PostgreSQL and run there (its text holds no NUL,
    so the generated rows here hold none)."""
    if not PG_URL:
        pytest.skip("set INSIDERWATCH_TEST_PG=postgresql+psycopg://... to run this on PostgreSQL")
    import ibis
    from sqlalchemy.engine import make_url

    url = make_url(PG_URL)
    con = ibis.postgres.connect(host=url.host, port=url.port or 5432, user=url.username, password=url.password, database=url.database)
    try:
        rng = random.Random(7)
        words = ["a1", "A1", "view", "VIEW", " note ", "\tC0001\u3000", "\xa0T1", "=1+2", "<b>x</b>", "日本", "x" * 1030, "", "  "]
        stamps = ["2026-03-02T10:11:12Z", "2026-03-02 10:11:12.1234567+05:30", "2026-02-30T00:00:00Z", "1772582400123", "1772582400", "yesterday", "2026-03-02", "1600-01-01T00:00:00Z", ""]
        for _ in range(4):
            sample = [{s.TIMESTAMP: rng.choice([*stamps, None]), **{c: rng.choice([*words, None]) for c in s.STRING_COLUMNS}} for _ in range(60)]
            assert_same_reading(con, sample, nul=False)
    finally:
        con.disconnect()


@pytest.fixture(scope="module")
def pg_events(sim_dir):
    """The simulated desk's events in a table of the test server, its timestamp typed and indexed."""
    if not PG_URL:
        pytest.skip("set INSIDERWATCH_TEST_PG=postgresql+psycopg://... to run the sql engine")
    table = f"iw_events_{uuid.uuid4().hex[:8]}"
    _pg_load(pd.read_csv(sim_dir / "events.csv.gz", dtype=str, keep_default_na=False), table)
    yield f"{PG_URL}#public.{table}"
    _pg_drop(table)


def test_the_sql_engine_runs_nightly_replay_and_rescore_as_the_reference(sim_dir, pg_events, tmp_path):
    """A replay of four days, a nightly run and a rescore of the next day, by the python
    engine over the files and by PostgreSQL over the table: identical scores; the manifest
    names the engine and records the table without a password; verify recomputes with it."""
    roster = str(sim_dir / "roster.csv")
    files = str(sim_dir / "events.csv.gz")
    exported = {}
    for engine, events in (("python", files), ("sql", pg_events)):
        db = tmp_path / f"{engine}.db"
        base = ["--db", f"sqlite:///{db}"]
        for args in (["replay", "--from", "2026-01-06", "--to", "2026-01-09"], ["nightly", "--first-night", "--date", "2026-01-10"], ["rescore", "--date", "2026-01-10"]):
            proc = _run("-q", *base, *args, "--engine", engine, "--events", events, "--roster", roster)
            assert proc.returncode in (0, 3), proc.stderr
            assert "Traceback" not in proc.stderr  # the held rows released before the connection closes
        exported[engine] = _scores(db)
        manifest = json.loads(sqlite3.connect(db).execute("SELECT manifest FROM runs WHERE run_id = 3").fetchone()[0])
        assert manifest["engine"]["name"] == engine
    assert exported["sql"].count("\n") > 100 and exported["sql"] == exported["python"]
    assert manifest["source"] == [pg_events]  # the test server's URL holds no password
    assert manifest["rows"]["read"] == manifest["rows"]["accepted"] > 1000 and manifest["rows"]["set_aside"] == 0
    verified = _run("--db", f"sqlite:///{tmp_path / 'sql.db'}", "verify", "3")
    assert verified.returncode == 0 and "IDENTICAL" in verified.stdout, verified.stdout + verified.stderr


def test_the_sql_engine_counts_a_tables_invalid_rows_by_reason(tmp_path):
    """A table whose timestamps are text, with invalid rows: counted per reason, a sample
    kept in rejects, the rest scored."""
    if not PG_URL:
        pytest.skip("set INSIDERWATCH_TEST_PG=postgresql+psycopg://... to run the sql engine")
    rows = [{s.TIMESTAMP: f"2026-03-02T{h:02d}:00:00Z", s.AGENT_ID: f"a{h % 5}", s.CUSTOMER_ID: f"C{h:04d}", s.ACTION: "VIEW "} for h in range(24)]
    rows += [
        {s.TIMESTAMP: "2026-02-30T00:00:00Z", s.AGENT_ID: "a1", s.CUSTOMER_ID: "C1", s.ACTION: "view"},
        {s.TIMESTAMP: "2026-03-02T01:00:00Z", s.AGENT_ID: "  ", s.CUSTOMER_ID: "C1", s.ACTION: "view"},
        {s.TIMESTAMP: "2026-03-02T01:00:00Z", s.AGENT_ID: "a1", s.CUSTOMER_ID: "x" * 1100, s.ACTION: "view"},
        {s.TIMESTAMP: "2026-03-03T01:00:00Z", s.AGENT_ID: "a1", s.CUSTOMER_ID: "C1", s.ACTION: "view"},
    ]
    table = f"iw_bad_{uuid.uuid4().hex[:8]}"
    _pg_load(pd.DataFrame(rows), table, typed=False)
    try:
        db = tmp_path / "t.db"
        proc = _run("--db", f"sqlite:///{db}", "nightly", "--first-night", "--engine", "sql", "--events", f"{PG_URL}#{table}", "--date", DAY)
        assert proc.returncode in (0, 3), proc.stderr
        assert "28 rows read = 25 accepted + 3 rejected; 1 outside the scored days set aside" in proc.stderr
        rejects = _run("--db", f"sqlite:///{db}", "rejects", "1").stdout
        for reason in ("unparseable timestamp", "empty agent_id", "customer_id longer than 1024 characters"):
            assert reason in rejects
    finally:
        _pg_drop(table)


def test_a_mapping_feature_an_engine_cannot_run_is_refused_before_anything_runs(tmp_path):
    mapping = tmp_path / "m.toml"
    mapping.write_text('[columns]\ntimestamp = "ts"\nagent_id = "who"\ncustomer_id = { from = "cust", lookup = "customer" }\naction = "act"\n[lookup]\npath = "l.csv"\nkey = "k"\n')
    (tmp_path / "l.csv").write_text("k,customer\nx,C1\n")
    proc = _run(
        "--db", f"sqlite:///{tmp_path / 'x.db'}", "nightly", "--first-night", "--engine", "sql", "--mapping", str(mapping), "--events", "postgresql+psycopg://nobody@127.0.0.1:1/none#t", "--date", DAY
    )
    assert proc.returncode == 2
    assert not (tmp_path / "x.db").exists() or "runs" not in _run("--db", f"sqlite:///{tmp_path / 'x.db'}", "runs").stdout
    with pytest.raises(UsageError, match="a lookup table .* is not run by the spark engine"):
        import ibis

        from detector.mapping import load_mapping

        rel.canonical(ibis.table({"ts": "string", "who": "string", "cust": "string", "act": "string"}, name="t"), load_mapping(str(mapping)), engine="spark", source="t")


def test_a_table_is_given_as_url_and_table():
    proc = _run("nightly", "--first-night", "--engine", "sql", "--events", "postgresql+psycopg://x@127.0.0.1/db", "--date", DAY)
    assert proc.returncode == 2 and "URL#[schema.]table" in proc.stderr


# --- Spark ---------------------------------------------------------------------------------------
def _need_spark() -> None:
    ok = shutil.which("java") is not None
    try:
        import pyspark  # noqa: F401
    except ImportError:
        ok = False
    if not ok:
        if os.environ.get("CI") == "true":
            pytest.fail("CI=true: Spark (pyspark and Java 17) must be installed to run the spark engine tests")
        pytest.skip("the spark engine needs pyspark and Java 17")


@pytest.mark.slow
def test_the_spark_engine_runs_nightly_and_replay_as_the_reference(sim_dir, sim_events, tmp_path):
    """Three days as Parquet (timestamps typed) and as CSV with malformed records: Spark in
    local mode reads them; the scores are the python engine's over the same files, and the
    malformed records are counted and kept with their reason and text."""
    _need_spark()
    days = sim_events[s.TIMESTAMP].dt.strftime("%Y-%m-%d")
    chosen = sim_events[days.isin(["2026-01-08", "2026-01-09", "2026-01-10"])].reset_index(drop=True)
    parquet = tmp_path / "events.parquet"
    # microseconds, as lakes write them (Spark reads no nanosecond Parquet timestamps: exit 2, naming the type)
    chosen.to_parquet(parquet, index=False, coerce_timestamps="us", allow_truncated_timestamps=True)
    text = chosen.assign(**{s.TIMESTAMP: chosen[s.TIMESTAMP].dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")})
    csv = tmp_path / "events.csv"
    text.to_csv(csv, index=False)
    with csv.open("a") as fh:
        fh.write("2026-01-09T10:00:00Z,a1,C1\n")  # too few fields
        fh.write("2026-01-09T10:00:00Z,a1,C1,view,,,,,,e9,extra\n")  # too many
    roster = str(sim_dir / "roster.csv")
    exported = {}
    for name, engine, events in (("python", "python", parquet), ("spark", "spark", parquet), ("python-csv", "python", csv), ("spark-csv", "spark", csv)):
        db = tmp_path / f"{name}.db"
        base = ["-q", "--db", f"sqlite:///{db}"]
        for args in (["replay", "--from", "2026-01-08", "--to", "2026-01-09"], ["nightly", "--first-night", "--date", "2026-01-10"]):
            proc = _run(*base, *args, "--engine", engine, "--events", str(events), "--roster", roster)
            assert proc.returncode in (0, 3), proc.stderr[-3000:]
        exported[name] = _scores(db)
        if name == "spark-csv":
            manifest = json.loads(sqlite3.connect(db).execute("SELECT manifest FROM runs WHERE run_id = 1").fetchone()[0])
            assert manifest["engine"]["name"] == "spark" and manifest["rows"]["rejected"] == 2
            assert manifest["rows"]["read"] == len(chosen) + 2
            rejects = _run("--db", f"sqlite:///{db}", "rejects", "1").stdout
            assert "malformed CSV record" in rejects
    assert exported["spark"].count("\n") > 100 and exported["spark"] == exported["python"]
    assert exported["spark-csv"] == exported["python-csv"]
