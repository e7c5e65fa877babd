"""runs tells each run's real kind and which later runs superseded it; a rescore is recorded
and verified as a rescore; a run summary says when CSV lines were joined into records."""

from __future__ import annotations

import gzip
import json
import subprocess

import pytest

from detector.simulator import SimulationSpec
from pipelines.simulate import run_simulation
from tests.conftest import INSIDERWATCH

#: nightly runs and a rescore through the real command
pytestmark = pytest.mark.slow


def iw(db: str, *args):
    return subprocess.run([*INSIDERWATCH, "-q", "--db", db, *map(str, args)], capture_output=True, text=True)


def test_a_rescore_is_recorded_as_one_and_runs_names_what_it_superseded(tmp_path):
    logs = tmp_path / "logs"
    run_simulation(SimulationSpec(agents=30, days=8, seed=5, insiders={}), logs, show_progress=False)
    db = f"sqlite:///{tmp_path / 'iw.db'}"
    day = "2026-01-08"
    events = logs / "events.csv.gz"
    assert iw(db, "nightly", "--first-night", "--events", events, "--date", day).returncode == 0
    rescored = iw(db, "rescore", "--events", events, "--date", day)
    assert rescored.returncode == 0 and "run 2 (rescore)" in rescored.stderr, rescored.stderr
    runs = [json.loads(line) for line in iw(db, "runs", "--json").stdout.splitlines()]
    assert [(r["run_id"], r["kind"], r["superseded_by"]) for r in runs] == [(1, "nightly", [2]), (2, "rescore", [])]
    csv = iw(db, "runs").stdout.splitlines()
    assert csv[0].split(",").index("superseded_by") and ",2," in csv[1]
    verified = iw(db, "verify", "2")
    assert verified.returncode == 0 and "run 2 (rescore" in verified.stdout and "IDENTICAL" in verified.stdout


def test_a_run_says_when_csv_lines_were_joined_into_records(tmp_path):
    """A quoted field holding line breaks joins lines into one record: normal for notes, and
    where hidden content would sit, so the summary counts the lines inside quoted fields."""
    logs = tmp_path / "logs"
    run_simulation(SimulationSpec(agents=30, days=8, seed=5, insiders={}), logs, show_progress=False)
    lines = gzip.decompress((logs / "events.csv.gz").read_bytes()).decode().splitlines()
    header = [h.strip('"') for h in lines[0].split(",")]
    row = lines[-1].split(",")
    row[header.index("ticket_id")] = '"T-1\nline two\nline three"'
    path = tmp_path / "notes.csv"
    path.write_text("\n".join([lines[0], *lines[-50:], ",".join(row)]) + "\n")
    day = row[header.index("timestamp")][:10]
    ran = iw(f"sqlite:///{tmp_path / 'iw.db'}", "nightly", "--first-night", "--events", path, "--date", day)
    assert ran.returncode == 0, ran.stderr
    assert "54 CSV lines made 52 records (0 blank): 2 line(s) inside quoted fields" in ran.stderr
