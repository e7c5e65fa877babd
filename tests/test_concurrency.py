"""Two runs for the same day against one store: with two real processes, the second is
refused with a clear message and writes nothing; a lock left by a killed run is taken over."""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest

from detector.simulator import SimulationSpec
from detector.store import Store
from pipelines.simulate import run_simulation
from tests.conftest import INSIDERWATCH

#: concurrent real runs on one store (slow)
pytestmark = pytest.mark.slow

DAY = "2026-01-06"
HOLDER = """
import sys
from detector.store import Store
store = Store(sys.argv[1])
run = store.start_run("nightly", config={}, detector_version="test", day_from=sys.argv[2], day_to=sys.argv[2])
store.lock_days(run, [sys.argv[2]])
print(run, flush=True)
sys.stdin.read()  # hold the day until told to stop
store.finish_run(run, status="complete", manifest={})
"""


@pytest.fixture(scope="module")
def desk(tmp_path_factory):
    out = tmp_path_factory.mktemp("desk")
    run_simulation(SimulationSpec(agents=30, days=3, seed=3, insiders={}), out, show_progress=False)
    return out


def holder(url: str):
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, url, DAY], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    run_id = int(proc.stdout.readline())
    return proc, run_id


def nightly(url: str, desk):
    return subprocess.run(
        [*INSIDERWATCH, "-q", "--db", url, "nightly", "--first-night", "--events", desk / "events.csv.gz", "--roster", desk / "roster.csv", "--date", DAY],
        capture_output=True,
        text=True,
    )


def test_second_run_for_a_day_being_scored_is_refused(desk, tmp_path):
    url = f"sqlite:///{tmp_path / 'iw.db'}"
    proc, holding = holder(url)
    try:
        refused = nightly(url, desk)
        assert refused.returncode == 1
        assert f"{DAY} is being scored by run {holding}" in refused.stderr and "wait for it to finish" in refused.stderr
        store = Store(url)
        runs = store.runs().set_index("run_id")
        assert len(store.scores(DAY, DAY)) == 0  # the loser wrote nothing
        assert (runs.status == "refused").sum() == 1 and runs.loc[holding, "status"] == "running"
        store.close()
    finally:
        proc.communicate("")  # the holder finishes and releases the day
    assert proc.returncode == 0
    done = nightly(url, desk)
    assert done.returncode == 0, done.stderr
    store = Store(url)
    assert len(store.scores(DAY, DAY)) > 20
    store.close()


def test_lock_of_a_killed_run_is_taken_over(desk, tmp_path):
    url = f"sqlite:///{tmp_path / 'iw.db'}"
    proc, holding = holder(url)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = nightly(url, desk)
    assert done.returncode == 0, done.stderr
    assert f"taking over day locks left by run(s) {holding}" in done.stderr
    store = Store(url)
    runs = store.runs().set_index("run_id")
    assert runs.loc[holding, "status"] == "abandoned" and len(store.scores(DAY, DAY)) > 20
    store.close()


def test_runs_lists_every_run_with_its_outcome(desk, tmp_path):
    url = f"sqlite:///{tmp_path / 'iw.db'}"
    assert nightly(url, desk).returncode == 0
    proc, holding = holder(url)
    try:
        assert nightly(url, desk).returncode == 1
    finally:
        proc.communicate("")
    listed = subprocess.run([*INSIDERWATCH, "-q", "--db", url, "runs"], capture_output=True, text=True)
    assert listed.returncode == 0, listed.stderr
    import csv
    import io

    rows = list(csv.DictReader(io.StringIO(listed.stdout)))
    assert [r["status"] for r in rows] == ["complete", "complete", "refused"]
    assert int(rows[0]["rows_read"]) == int(rows[0]["rows_accepted"]) + int(rows[0]["rows_rejected"]) > 0
    assert "being scored by run" in rows[2]["message"]
