"""A genuinely full disk: a tiny tmpfs mounted for the test. Exports and rejects exit 2 and
leave no file, a report leaves no index.html, a SQLite store on the full disk makes the run
exit 1 with one line, keeps every stored day whole, and a rerun with room completes it.

Mounting needs root. Elsewhere these tests are skipped, except on CI (``CI=true``), which
runs as root on a machine where mounting works: there a failed mount is a failure."""

from __future__ import annotations

import errno
import os
import re
import shutil
import sqlite3
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from detector.simulator import SimulationSpec
from pipelines.simulate import run_simulation
from tests.conftest import INSIDERWATCH
from tests.test_faults import consistent

#: replays and exports onto a full tmpfs disk (slow)
pytestmark = pytest.mark.slow

FULL = re.compile(r"No space left on device|disk is full|bytes are free")


def _cannot_mount(reason: str):
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI runs as root and must test a full disk, but {reason}")
    pytest.skip(reason)


@pytest.fixture
def tiny_disk(tmp_path):
    """mount(size, name) -> a fresh tmpfs of ``size`` at tmp_path/name; all unmounted after."""
    mounted: list[Path] = []

    def mount(size: str, name: str = "full") -> Path:
        if os.geteuid() != 0:
            _cannot_mount("mounting a tmpfs needs root")
        if shutil.which("mount") is None:
            _cannot_mount("no mount command")
        path = tmp_path / name
        path.mkdir()
        proc = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(path)], capture_output=True, text=True)
        if proc.returncode != 0:
            _cannot_mount(f"mount -t tmpfs failed: {proc.stderr.strip()}")
        mounted.append(path)
        return path

    try:
        yield mount
    finally:
        for path in reversed(mounted):
            if subprocess.run(["umount", str(path)], capture_output=True).returncode != 0:
                subprocess.run(["umount", "-l", str(path)], capture_output=True)


def fill(disk: Path, leave: int = 0) -> None:
    """Fill ``disk`` until at most ``leave`` bytes are free."""
    with open(disk / "filler", "ab") as handle:
        block = b"\0" * 4096
        while shutil.disk_usage(disk).free > leave:
            want = min(len(block), shutil.disk_usage(disk).free - leave)
            try:
                handle.write(block[:want])
                handle.flush()
            except OSError as exc:
                assert exc.errno == errno.ENOSPC
                break
    assert shutil.disk_usage(disk).free <= max(leave, 4096)


def run(*args) -> subprocess.CompletedProcess:
    return subprocess.run([*INSIDERWATCH, "-q", *map(str, args)], capture_output=True, text=True)


def one_line_error(proc, pattern=FULL) -> str:
    """The one error line; besides it only warnings (e.g. that the failed run's end could not
    be recorded either, on the same full disk)."""
    lines = proc.stderr.strip().splitlines()
    errors = [line for line in lines if not line.startswith("WARNING ")]
    assert "Traceback" not in proc.stderr and len(errors) == 1, proc.stderr
    assert errors[0].startswith("insiderwatch: error: ") and pattern.search(errors[0]), errors[0]
    return errors[0]


@pytest.fixture(scope="module")
def desk(tmp_path_factory):
    """A desk of 30 agents over 6 days, two bad rows (so the run has rejects), the last
    day's events alone (a night's file) and settings that alert every night (a threshold of
    0, so that the report has agents' pages even with so little history): (dir, last day)."""
    out = tmp_path_factory.mktemp("full-disk-desk")
    run_simulation(SimulationSpec(agents=30, days=6, seed=13, insiders={"bulk": 1}), out, show_progress=False)
    (out / "alert-nightly.toml").write_text("[alerts]\nthreshold = 0.0\n")
    (out / "bad.csv").write_text("timestamp,agent_id,customer_id,action\nnot-a-time,A1,C1,view\n2026-01-05T09:00:00Z,,C1,view\n")
    events = pd.read_csv(out / "events.csv.gz", dtype=str, keep_default_na=False)
    last = sorted(events.timestamp.str[:10].unique())[-1]
    events[events.timestamp.str[:10] == last].to_csv(out / "night.csv", index=False)
    return out, last


def replay_args(db: str, desk_dir: Path):
    return [
        "--config",
        desk_dir / "alert-nightly.toml",
        "--db",
        db,
        "replay",
        "--events",
        desk_dir / "events.csv.gz",
        "--events",
        desk_dir / "bad.csv",
        "--roster",
        desk_dir / "roster.csv",
        "--show",
        "0",
    ]


@pytest.fixture(scope="module")
def roomy(desk, tmp_path_factory):
    """The desk replayed into a store on a disk with room: (path, URL)."""
    path = tmp_path_factory.mktemp("roomy") / "iw.db"
    proc = run(*replay_args(f"sqlite:///{path}", desk[0]))
    assert proc.returncode == 0, proc.stderr
    return path, f"sqlite:///{path}"


def scores_of(path) -> pd.DataFrame:
    with sqlite3.connect(path) as conn:
        return pd.read_sql("SELECT day, agent_id, score, rank, flagged FROM scores ORDER BY day, agent_id", conn)


# --- exports ---------------------------------------------------------------------------------
def test_exports_to_a_full_disk_exit_2_and_leave_no_file(roomy, tiny_disk):
    _, db = roomy
    disk = tiny_disk("128k")
    (disk / "old.csv").write_text("an earlier export\n")

    def refused(target, *args):
        proc = run("--db", db, *args, "--out", target)
        assert proc.returncode == 2, (args, proc.returncode, proc.stderr)
        line = one_line_error(proc)
        assert f"cannot write {target}" in line and "No space left on device" in line

    # nearly full: the write starts, runs out of room half way, and must not leave the half
    # behind, nor touch the earlier file it was to replace
    fill(disk, 8 << 10)
    refused(disk / "x.csv", "export", "scores")
    refused(disk / "old.csv", "export", "scores", "--format", "jsonl")
    # full: even the two rejected rows do not fit
    fill(disk)
    refused(disk / "r.csv", "rejects", "--run", "1")
    assert sorted(os.listdir(disk)) == ["filler", "old.csv"]  # no x.csv, r.csv or .partial
    assert (disk / "old.csv").read_text() == "an earlier export\n"  # the earlier file is intact


# --- report ----------------------------------------------------------------------------------
def test_a_report_on_a_full_disk_is_a_one_line_error_and_leaves_no_index(desk, roomy, tiny_disk):
    _, db = roomy
    disk = tiny_disk("256k")
    # nearly full: index.html is staged first, then the alerted agent's page (plots inline)
    # runs out of room
    fill(disk, 64 << 10)
    proc = run("--db", db, "report", "--date", desk[1], "--out", disk / "site")
    assert proc.returncode == 2, proc.stderr
    assert "cannot write the report" in one_line_error(proc)
    site = disk / "site"
    left = sorted(p.name for p in site.iterdir()) if site.exists() else []
    assert left == [], left  # no index.html, no page, no staging directory


# --- the store -------------------------------------------------------------------------------
def test_a_replay_into_a_store_on_a_full_disk_fails_in_one_line_and_a_rerun_with_room_completes(desk, roomy, tiny_disk):
    roomy_path, _ = roomy
    # the first four days: each day sees only the days before it, so they must come out
    # exactly as in the whole replay
    expected = consistent(roomy_path)
    days = sorted(expected)[:4]
    disk = tiny_disk("768k")  # room for the schema and a day or two, not four
    db = disk / "iw.db"
    replay = [*replay_args(f"sqlite:///{db}", desk[0]), "--to", days[-1]]
    proc = run(*replay)
    assert proc.returncode == 1, proc.stderr
    one_line_error(proc)
    stored = consistent(db) if db.exists() else {}
    assert len(stored) < len(days)  # the disk really was too small
    subprocess.run(["mount", "-o", "remount,size=16m", str(disk)], check=True)
    rerun = run(*replay)
    assert rerun.returncode == 0, rerun.stderr
    assert consistent(db) == {d: expected[d] for d in days}
    roomy_scores = scores_of(roomy_path)
    pd.testing.assert_frame_equal(scores_of(db), roomy_scores[roomy_scores.day.isin(days)].reset_index(drop=True))


def test_a_nightly_run_on_a_full_disk_fails_in_one_line_and_a_rerun_with_room_completes(desk, roomy, tiny_disk):
    desk_dir, last = desk
    roomy_path, _ = roomy
    disk = tiny_disk(f"{roomy_path.stat().st_size // 1024 + 1024}k")
    db = disk / "iw.db"
    shutil.copy(roomy_path, db)
    fill(disk, 64 << 10)  # the store opens, the night's results do not fit
    night = [
        "--config",
        desk_dir / "alert-nightly.toml",
        "--db",
        f"sqlite:///{db}",
        "nightly",
        "--first-night",
        "--events",
        desk_dir / "night.csv",
        "--roster",
        desk_dir / "roster.csv",
        "--date",
        last,
    ]
    proc = run(*night)
    assert proc.returncode == 1, proc.stderr
    one_line_error(proc)
    assert consistent(db) == consistent(roomy_path)  # the day is left as it was
    (disk / "filler").unlink()
    rerun = run(*night)
    assert rerun.returncode == 0, rerun.stderr
    assert consistent(db) == consistent(roomy_path)
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT status FROM runs ORDER BY run_id DESC LIMIT 1").fetchone()[0] == "complete"


def test_recording_a_run_on_a_full_disk_is_a_store_error_not_an_internal_error(tiny_disk):
    # regression: start_run, lock_days and add_rejects let SQLAlchemy errors through (exit 1
    # as "internal error" with a two-line message), and a failed finish_run hid the error
    # that had stopped the run
    from detector.store import Store, StoreError

    disk = tiny_disk("1m")
    store = Store(f"sqlite:///{disk / 'iw.db'}")
    try:
        run_id = store.start_run("nightly", config={}, detector_version="test", day_from="2026-01-05", day_to="2026-01-05")
        fill(disk)
        with pytest.raises(StoreError) as caught:
            store.start_run("nightly", config={"pad": "x" * 1_500_000}, detector_version="test", day_from="2026-01-05", day_to="2026-01-05")
        assert "cannot record a new run" in str(caught.value) and FULL.search(str(caught.value))
        assert len(str(caught.value).splitlines()) == 1
        with pytest.raises(StoreError, match="cannot record the rejected rows"):
            big = pd.DataFrame({"source": ["f.csv"] * 5000, "line": range(5000), "reason": ["r"] * 5000, "raw": ["x" * 400] * 5000})
            store.add_rejects(run_id, big)
        # recording a failure is best effort: no exception of its own
        store.finish_run(run_id, status="failed", manifest={"pad": "x" * 1_500_000}, message="disk full")
        with pytest.raises(StoreError, match="cannot record the end of run"):
            store.finish_run(run_id, status="complete", manifest={"pad": "x" * 1_500_000})
    finally:
        store.close()
