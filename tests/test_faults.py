"""Faults: a run killed at any moment leaves the store consistent and a rerun completes it
with no duplicate or missing rows; an unwritable output is a clear error; arbitrary input
files never crash the pipeline and every row is accounted for."""

from __future__ import annotations

import csv
import io
import signal
import sqlite3
import subprocess
import time

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from detector.errors import UsageError
from detector.simulator import SimulationSpec
from pipelines.simulate import run_simulation
from tests.conftest import INSIDERWATCH, no_day_refusal

#: runs killed mid-replay, fuzzed nightly runs and rescores of a real desk (slow)
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def desk(tmp_path_factory):
    out = tmp_path_factory.mktemp("fault-desk")
    run_simulation(SimulationSpec(agents=80, days=20, seed=13, insiders={"bulk": 1}), out, show_progress=False)
    return out


def replay_cmd(db: str, desk):
    return [*INSIDERWATCH, "-q", "--db", db, "replay", "--events", str(desk / "events.csv.gz"), "--roster", str(desk / "roster.csv"), "--show", "0"]


def consistent(path) -> dict:
    """Every stored day is whole: its scores, agent-days and model inputs are there for
    every active agent, written by the run the day record names. Returns day -> agents.

    A run killed while it was creating the store leaves no schema at all (the creation is
    one transaction), which is consistent too: nothing was stored. Half a schema is not."""
    with sqlite3.connect(path) as conn:
        tables = {name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if not tables:
            return {}
        assert {"runs", "days", "scores", "agent_days", "model_inputs"} <= tables, sorted(tables)
        days = dict(conn.execute("SELECT day, agents FROM days").fetchall())
        runs_of = dict(conn.execute("SELECT day, run_id FROM days").fetchall())
        for table in ("scores", "agent_days", "model_inputs"):
            counts = dict(conn.execute(f"SELECT day, count(*) FROM {table} GROUP BY day").fetchall())
            assert counts == days, (table, counts, days)
            for day, run in conn.execute(f"SELECT DISTINCT day, run_id FROM {table}").fetchall():
                assert runs_of[day] == run, (table, day)
        dupes = conn.execute("SELECT count(*) FROM (SELECT day, agent_id FROM scores GROUP BY day, agent_id HAVING count(*) > 1)").fetchone()[0]
        assert dupes == 0
    return days


@pytest.fixture(scope="module")
def clean_scores(desk, tmp_path_factory) -> pd.DataFrame:
    """The scores of an uninterrupted replay of the desk."""
    clean_db = tmp_path_factory.mktemp("clean") / "clean.db"
    subprocess.run(replay_cmd(f"sqlite:///{clean_db}", desk), check=True, capture_output=True)
    return pd.read_sql("SELECT day, agent_id, score, rank, flagged FROM scores ORDER BY day, agent_id", sqlite3.connect(clean_db))


@pytest.mark.parametrize("after", [1.0, 4.0, 8.0])
def test_a_replay_killed_at_any_moment_leaves_whole_days_and_a_rerun_completes(desk, clean_scores, tmp_path, after):
    clean = clean_scores

    db = tmp_path / "killed.db"
    proc = subprocess.Popen(replay_cmd(f"sqlite:///{db}", desk), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(after)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    if db.exists():
        consistent(db)
    rerun = subprocess.run(replay_cmd(f"sqlite:///{db}", desk), capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr
    assert consistent(db) == dict(clean.groupby("day").size())
    again = pd.read_sql("SELECT day, agent_id, score, rank, flagged FROM scores ORDER BY day, agent_id", sqlite3.connect(db))
    pd.testing.assert_frame_equal(clean, again)


def test_an_unwritable_report_directory_is_a_clear_error(desk, tmp_path):
    db = f"sqlite:///{tmp_path / 'iw.db'}"
    subprocess.run(replay_cmd(db, desk), check=True, capture_output=True)
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    proc = subprocess.run([*INSIDERWATCH, "-q", "--db", db, "report", "--out", str(blocker / "report")], capture_output=True, text=True)
    assert proc.returncode == 2 and "cannot write the report" in proc.stderr and "Traceback" not in proc.stderr


def test_a_store_that_is_not_a_database_is_a_clear_error(tmp_path):
    bad = tmp_path / "not.db"
    bad.write_bytes(b"this is not sqlite" * 100)
    proc = subprocess.run([*INSIDERWATCH, "-q", "--db", f"sqlite:///{bad}", "runs"], capture_output=True, text=True)
    assert proc.returncode == 1 and "cannot open the store" in proc.stderr and "Traceback" not in proc.stderr


COLUMNS = ["timestamp", "agent_id", "customer_id", "action", "ticket_id", "resource", "event_id"]
cell = st.one_of(
    st.text(max_size=30),
    st.sampled_from(["2026-01-05T09:00:00Z", "2026-01-05 10:00:00+02:00", "1767603600", "1767603600123", "2026-02-30T00:00:00Z", "", "view", "A1", "C1"]),
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(rows=st.lists(st.lists(cell, min_size=len(COLUMNS), max_size=len(COLUMNS)), max_size=40), crlf=st.booleans())
def test_arbitrary_rows_never_crash_the_nightly_run_and_every_row_is_accounted_for(tmp_path_factory, rows, crlf):
    from detector.config import Config
    from detector.store import Store
    from pipelines.run import run_nightly

    work = tmp_path_factory.mktemp("hyp")
    buf = io.StringIO()
    # every field quoted, so a stray carriage return stays inside its field and each row is
    # one record (unquoted, a bare CR is a record break to any CSV reader)
    writer = csv.writer(buf, lineterminator="\r\n" if crlf else "\n", quoting=csv.QUOTE_ALL)
    writer.writerow(COLUMNS)
    writer.writerows(rows)
    path = work / "events.csv"
    path.write_bytes(buf.getvalue().encode("utf-8", errors="surrogatepass"))
    store = Store(f"sqlite:///{work / 'iw.db'}")
    try:
        summary = run_nightly(Config(), store, [str(path)], "2026-01-05", roster=None, show_progress=False, first_night=True)
    except UsageError as exc:
        # no row of the day survived: refused, every row accounted for in the reason, nothing written
        assert no_day_refusal(str(exc)) == (len(rows), len(rows)) and store.runs().empty
        return
    finally:
        store.close()
    ing = summary.ingest
    assert ing.rows_read == len(rows) == ing.rows_accepted + ing.rows_rejected
    assert summary.nights[0].events + ing.rows_set_aside + ing.duplicates == ing.rows_accepted


def test_late_events_are_reported_and_a_rescore_takes_them_in(desk, tmp_path):
    events = pd.read_csv(desk / "events.csv.gz", dtype=str, keep_default_na=False)
    days = sorted(events.timestamp.str[:10].unique())
    last, earlier = days[-2], days[-4]
    on_time = events[events.timestamp.str[:10] < last]
    (tmp_path / "history.csv").write_text(on_time.to_csv(index=False))
    late = events[events.timestamp.str[:10] == earlier].head(7).copy()
    late["event_id"] = "late-" + late["event_id"]  # accesses the first export missed
    late["customer_id"] = "LATE" + late["customer_id"]
    future = events[events.timestamp.str[:10] == last].head(2).copy()
    future["timestamp"] = "2031-01-01T00:00:00Z"
    future["event_id"] = "future-" + future["event_id"]
    night = pd.concat([events[events.timestamp.str[:10] == last], late, future])
    (tmp_path / "night.csv").write_text(night.to_csv(index=False))
    db = f"sqlite:///{tmp_path / 'iw.db'}"
    base = [*INSIDERWATCH, "-q", "--db", db]
    subprocess.run([*base, "replay", "--events", str(tmp_path / "history.csv"), "--roster", str(desk / "roster.csv"), "--show", "0"], check=True, capture_output=True)
    proc = subprocess.run([*base, "nightly", "--first-night", "--events", str(tmp_path / "night.csv"), "--roster", str(desk / "roster.csv"), "--date", last], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert f"7 late event(s) of {earlier}, a day already scored, were set aside" in proc.stderr
    assert f"insiderwatch rescore --date {earlier}" in proc.stderr
    assert "2 event(s) dated 2031-01-01, after the night scored" in proc.stderr
    runs = pd.read_csv(io.StringIO(subprocess.run([*base, "runs"], capture_output=True, text=True).stdout))
    nightly = runs[runs.kind == "nightly"].iloc[-1]
    assert int(nightly.rows_read) == len(night) == int(nightly.rows_accepted) + int(nightly.rows_rejected)

    def events_of(day):
        with sqlite3.connect(tmp_path / "iw.db") as conn:
            return conn.execute("SELECT sum(events) FROM agent_days WHERE day = ?", (day,)).fetchone()[0]

    before = events_of(earlier)
    re = subprocess.run(
        [*base, "rescore", "--date", earlier, "--events", str(tmp_path / "history.csv"), "--events", str(tmp_path / "night.csv"), "--roster", str(desk / "roster.csv")],
        capture_output=True,
        text=True,
    )
    assert re.returncode == 0, re.stderr
    assert events_of(earlier) == before + 7
    # the files hold every other day again, all scored: one line says so, none calls them late
    assert "late event(s)" not in re.stderr, re.stderr
    assert re.stderr.count("the inputs hold those days again") == 1


def test_an_unwritable_export_path_is_a_clear_error_and_leaves_nothing(desk, tmp_path):
    db = f"sqlite:///{tmp_path / 'iw.db'}"
    subprocess.run(replay_cmd(db, desk), check=True, capture_output=True)
    target = tmp_path / "missing-dir" / "scores.csv"
    proc = subprocess.run([*INSIDERWATCH, "-q", "--db", db, "export", "scores", "--out", str(target)], capture_output=True, text=True)
    assert proc.returncode == 2 and f"cannot write {target}" in proc.stderr and "Traceback" not in proc.stderr
    readonly = tmp_path / "ro"
    readonly.mkdir()
    readonly.chmod(0o500)
    try:
        proc = subprocess.run([*INSIDERWATCH, "-q", "--db", db, "export", "alerts", "--out", str(readonly / "a.csv")], capture_output=True, text=True)
        import os

        if os.geteuid() != 0:  # root writes anywhere: only then is the directory really read-only
            assert proc.returncode == 2 and "cannot write" in proc.stderr
        assert not (readonly / "a.csv.partial").exists()
    finally:
        readonly.chmod(0o700)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(
    lines=st.lists(
        st.one_of(
            st.fixed_dictionaries({c: cell for c in COLUMNS}).map(lambda d: __import__("json").dumps(d)),
            st.text(max_size=40).filter(lambda s: "\n" not in s and "\r" not in s),
        ),
        max_size=30,
    )
)
def test_arbitrary_json_lines_never_crash_the_nightly_run_and_every_line_is_accounted_for(tmp_path_factory, lines):
    from detector.config import Config
    from detector.store import Store
    from pipelines.run import run_nightly

    work = tmp_path_factory.mktemp("hypjson")
    path = work / "events.jsonl"
    path.write_bytes(("\n".join(lines) + "\n").encode("utf-8", errors="surrogatepass"))
    from detector.errors import InputError

    store = Store(f"sqlite:///{work / 'iw.db'}")
    try:
        summary = run_nightly(Config(), store, [str(path)], "2026-01-05", roster=None, show_progress=False, first_night=True)
    except InputError as exc:
        # no line names the required fields: the file is unusable, said so, nothing written
        assert "missing required column" in str(exc) and store.runs().empty
        return
    except UsageError as exc:
        # no line of the day survived: refused, every line accounted for in the reason, nothing written
        read, total = no_day_refusal(str(exc))
        assert read == total == sum(1 for line in lines if line.encode("utf-8", errors="surrogatepass").strip()) and store.runs().empty
        return
    finally:
        store.close()
    ing = summary.ingest
    assert ing.rows_read == ing.rows_accepted + ing.rows_rejected
    # blank lines (ASCII whitespace only) are not records
    assert ing.rows_read == sum(1 for line in lines if line.encode("utf-8", errors="surrogatepass").strip())
    assert summary.nights[0].events + ing.rows_set_aside + ing.duplicates == ing.rows_accepted
