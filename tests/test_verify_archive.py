"""verify proves a run after its logs moved: the recorded files are found by their SHA-256
under --inputs, whatever their names now; a file of the same name with other bytes is not
taken for it."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from detector.simulator import SimulationSpec
from pipelines.simulate import run_simulation
from tests.conftest import INSIDERWATCH

#: a replay through the real command
pytestmark = pytest.mark.slow


def iw(db: str, *args):
    return subprocess.run([*INSIDERWATCH, "-q", "--db", db, *map(str, args)], capture_output=True, text=True)


def test_verify_finds_moved_inputs_by_their_digest(tmp_path):
    logs = tmp_path / "logs"
    run_simulation(SimulationSpec(agents=40, days=12, seed=3, insiders={"bulk": 1}), logs, show_progress=False)
    db = f"sqlite:///{tmp_path / 'iw.db'}"
    replayed = iw(db, "replay", "--events", logs / "events.csv.gz", "--roster", logs / "roster.csv", "--show", "0")
    assert replayed.returncode == 0, replayed.stderr
    # the logs go to cold storage under other names; a decoy keeps the old name with other bytes
    archive = tmp_path / "archive" / "2026-01"
    archive.mkdir(parents=True)
    shutil.move(logs / "events.csv.gz", archive / "desk-events-0001.csv.gz")
    shutil.move(logs / "roster.csv", archive / "roster-2026-01.csv")
    (logs / "roster.csv").write_text("agent_id,team\nA00001,T\n")
    missing = iw(db, "verify", "1")
    assert missing.returncode == 2 and "missing" in missing.stderr and "--inputs" in missing.stderr
    found = iw(db, "verify", "1", "--inputs", tmp_path / "archive")
    assert found.returncode == 0 and "IDENTICAL" in found.stdout, found.stdout + found.stderr
    # an archive without the bytes: exit 2, saying it looked
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "desk-events-0001.csv.gz").write_bytes(b"not the same bytes")
    not_there = iw(db, "verify", "1", "--inputs", elsewhere)
    assert not_there.returncode == 2 and "none of the 1 file(s) under --inputs" in not_there.stderr


def test_verify_names_rows_changed_in_the_store_since_the_run(tmp_path):
    """A digest of every row the run wrote is kept with it: a changed raw score, a changed
    suppression mark and deleted evidence rows are named by table and key."""
    import sqlite3

    logs = tmp_path / "logs"
    run_simulation(SimulationSpec(agents=40, days=12, seed=3, insiders={"bulk": 1}), logs, show_progress=False)
    config = tmp_path / "roomy.toml"
    config.write_text("[alerts]\nbudget_fraction = 0.1\n")
    db = f"sqlite:///{tmp_path / 'iw.db'}"
    replayed = iw(db, "--config", config, "replay", "--events", logs / "events.csv.gz", "--roster", logs / "roster.csv", "--show", "0")
    assert replayed.returncode == 0, replayed.stderr
    assert iw(db, "--config", config, "verify", "1").returncode == 0
    with sqlite3.connect(tmp_path / "iw.db") as conn:
        day, agent = conn.execute("SELECT day, agent_id FROM scores ORDER BY day DESC, rank LIMIT 1").fetchone()
        conn.execute("UPDATE scores SET raw_score = raw_score + 1e-6 WHERE day = ? AND agent_id = ?", (day, agent))
        marked, evidenced = conn.execute(
            "SELECT a.alert_key, b.alert_key FROM alerts a, alerts b WHERE a.subject_type = 'agent' AND b.alert_key IN (SELECT alert_key FROM evidence) AND a.alert_key <> b.alert_key LIMIT 1"
        ).fetchone()
        conn.execute("UPDATE alerts SET suppressed_by = 99 WHERE alert_key = ?", (marked,))
        conn.execute("DELETE FROM evidence WHERE alert_key = ?", (evidenced,))
    told = iw(db, "--config", config, "verify", "1")
    assert told.returncode == 4, told.stdout + told.stderr
    assert f"stored scores of {day}: changed since the run wrote them" in told.stdout
    assert f"stored alerts of {marked}: changed" in told.stdout and f"stored evidence of {evidenced}: changed" in told.stdout
    assert f"{agent!r}: raw score" in told.stdout and "suppressed_by differ" in told.stdout
