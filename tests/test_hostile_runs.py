"""Inputs shaped to blind a run (issue 14): rows hidden behind one reused event id, and a
replay stretched over decades by a few far-off timestamps."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import time

import pandas as pd
import pytest

from detector.aggregate import Deduplicator
from tests.conftest import INSIDERWATCH, load_events

HEADER = "timestamp,agent_id,customer_id,action,ticket_id,resource,event_id\n"


def iw(*args, db, config=None):
    cmd = [*INSIDERWATCH, "-q", "--db", f"sqlite:///{db}"]
    if config:
        cmd += ["--config", str(config)]
    return subprocess.run(cmd + [str(a) for a in args], capture_output=True, text=True, timeout=600)


def stored(db, sql: str) -> list:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql).fetchall()


def manifest_rows(db) -> dict:
    ((manifest,),) = stored(db, "SELECT manifest FROM runs ORDER BY run_id DESC LIMIT 1")
    return json.loads(manifest)["rows"]


def normal_rows(day: str = "2026-01-05", agents: int = 4, n: int = 20, prefix: str = "x") -> list[str]:
    return [f"{day}T10:{i // 60:02d}:{i % 60:02d}Z,A{i % agents + 2},C9{i},view,T{i},profile,{prefix}-{day}-{i}" for i in range(n)]


# --- event ids: duplicates need the same content ---------------------------------------------
def test_one_event_id_cannot_hide_500_customers(tmp_path):
    harvest = [f"2026-01-05T09:{i // 60:02d}:{i % 60:02d}Z,A1,C{i:05d},view,,profile,ev-1" for i in range(500)]
    (tmp_path / "e.csv").write_text(HEADER + "\n".join(harvest + normal_rows()) + "\n")
    db = tmp_path / "iw.db"
    proc = iw("replay", "--events", tmp_path / "e.csv", "--show", 0, db=db)
    assert proc.returncode == 0, proc.stderr
    assert stored(db, "SELECT views, customers FROM agent_days WHERE agent_id = 'A1'") == [(500, 500)]
    assert "0 duplicates dropped; 1 conflicting event id(s) on 500 rows kept" in proc.stderr
    assert "1 event id(s) are carried by 500 rows of different content" in proc.stderr and "A1 (500 row(s))" in proc.stderr
    rows = manifest_rows(db)
    assert (rows["duplicates"], rows["conflicting_event_ids"], rows["conflicting_event_rows"]) == (0, 1, 500)


def test_exact_duplicates_still_drop_and_are_no_conflict(tmp_path):
    rows = normal_rows()
    no_id = [r.rsplit(",", 1)[0] + "," for r in rows[:5]]
    (tmp_path / "e.csv").write_text(HEADER + "\n".join(rows + rows[:7] + no_id + no_id) + "\n")
    db = tmp_path / "iw.db"
    proc = iw("replay", "--events", tmp_path / "e.csv", "--show", 0, db=db)
    assert proc.returncode == 0, proc.stderr
    assert "12 duplicates dropped; 1 day(s)" in proc.stderr and "conflicting" not in proc.stderr
    assert stored(db, "SELECT sum(events) FROM agent_days") == [(25,)]
    r = manifest_rows(db)
    assert (r["duplicates"], r["conflicting_event_ids"], r["conflicting_event_rows"]) == (12, 0, 0)


def test_conflicts_are_counted_across_batches(tmp_path):
    """The same id with other content in a later batch is kept and counted; its exact
    repeats still drop; the agents named are those of the rows that carry it."""
    path = tmp_path / "e.csv"
    path.write_text(HEADER + "\n".join(normal_rows(n=10)) + "\n")
    events = load_events(path)
    first = events.head(3)
    other = first.assign(customer_id=["D1", "D2", "D3"], agent_id="A9")  # same ids, other content
    dedup = Deduplicator()
    kept = [dedup.keep(b).sum() for b in (events, other, other, first, other.assign(customer_id="D4").head(1))]
    assert kept == [10, 3, 0, 0, 1]
    assert (dedup.dropped, dedup.conflicting_ids, dedup.conflicting_rows) == (6, 3, 7)
    assert dedup.conflict_agents == {"A9": 4}
    assert dedup.held == 14


def test_timestamp_is_content(tmp_path):
    """A resent event with the same id and another timestamp is kept (counted as a conflict)."""
    path = tmp_path / "e.csv"
    path.write_text(HEADER + "2026-01-05T09:00:00Z,A1,C1,view,T1,profile,ev-1\n2026-01-05T09:00:01Z,A1,C1,view,T1,profile,ev-1\n")
    dedup = Deduplicator()
    assert dedup.keep(load_events(path)).tolist() == [True, True]
    assert (dedup.conflicting_ids, dedup.conflicting_rows) == (1, 2)


def test_conflicting_agents_are_named_safely_and_briefly(tmp_path):
    rows = [f"2026-01-05T09:00:{i:02d}Z,\x1b[31mAG{i}{'x' * 60},C{i},view,,profile,ev-1" for i in range(8)]
    (tmp_path / "e.csv").write_text(HEADER + "\n".join(rows + normal_rows()) + "\n")
    proc = iw("replay", "--events", tmp_path / "e.csv", "--show", 0, db=tmp_path / "iw.db")
    assert proc.returncode == 0, proc.stderr
    (warning,) = [line for line in proc.stderr.splitlines() if "different content" in line]
    assert "\x1b" not in warning and "and 3 more agent(s)" in warning and len(warning) < 600


# --- far-off timestamps: a replay is not stretched over decades -----------------------------
def week(first: int = 5, last: int = 11, skip: tuple[int, ...] = ()) -> list[str]:
    return [f"2026-01-{d:02d}T{9 + i % 8:02d}:00:{i:02d}Z,A{i % 6},C{d}{i},view,T{i},profile,w-{d}-{i}" for d in range(first, last + 1) if d not in skip for i in range(12)]


FAR = ["1990-01-02T03:04:05Z,A1,C1,view,,profile,far-1", "2099-12-30T23:00:00Z,A2,C2,view,,profile,far-2", "2099-12-30T23:30:00Z,A2,C3,view,,profile,far-3"]


def test_far_off_timestamps_refuse_a_replay_quickly_and_a_named_range_completes(tmp_path):
    (tmp_path / "e.csv").write_text(HEADER + "\n".join(FAR[:1] + week() + FAR[1:]) + "\n")
    db = tmp_path / "iw.db"
    started = time.monotonic()
    proc = iw("replay", "--events", tmp_path / "e.csv", "--show", 0, db=db)
    assert proc.returncode == 2, proc.stderr
    assert time.monotonic() - started < 60
    err = " ".join(proc.stderr.split())
    assert "spans 40,175 days (1990-01-02 to 2099-12-30), more than [sources] max_replay_days = 400" in err
    assert "3 event(s) on 2 day(s) lie outside 2026-01-05 to 2026-01-11" in err
    assert "1990-01-02 (1 event, 1990-01-02T03:04:05Z)" in err and "2099-12-30 (2 events, 2099-12-30T23:00:00Z to 23:30:00Z)" in err
    assert "--from 2026-01-05 --to 2026-01-11" in err
    assert not db.exists() or stored(db, "SELECT count(*) FROM runs") == [(0,)]
    # one end named: the other still comes from the files
    assert iw("replay", "--events", tmp_path / "e.csv", "--from", "2026-01-05", "--show", 0, db=db).returncode == 2
    proc = iw("replay", "--events", tmp_path / "e.csv", "--from", "2026-01-05", "--to", "2026-01-11", "--show", 0, db=db)
    assert proc.returncode == 0, proc.stderr
    assert "3 outside the scored days set aside" in proc.stderr and "7 day(s) scored" in proc.stderr
    assert stored(db, "SELECT count(DISTINCT day) FROM agent_days") == [(7,)]


def test_a_replay_scores_the_days_that_hold_events_and_a_named_range_every_day(tmp_path):
    (tmp_path / "e.csv").write_text(HEADER + "\n".join(week(skip=(8,))) + "\n")
    held, named = tmp_path / "held.db", tmp_path / "named.db"
    proc = iw("replay", "--events", tmp_path / "e.csv", "--show", 0, db=held)
    assert proc.returncode == 0 and "6 day(s) scored" in proc.stderr, proc.stderr
    proc = iw("replay", "--events", tmp_path / "e.csv", "--from", "2026-01-05", "--to", "2026-01-11", "--show", 0, db=named)
    assert proc.returncode == 0 and "7 day(s) scored" in proc.stderr, proc.stderr
    assert ("2026-01-08",) in stored(named, "SELECT day FROM days") and ("2026-01-08",) not in stored(held, "SELECT day FROM days")
    columns = "day, agent_id, score, rank, flagged, raw_score, history_days, peer_mode"
    assert stored(held, f"SELECT {columns} FROM scores ORDER BY day, agent_id") == stored(named, f"SELECT {columns} FROM scores ORDER BY day, agent_id")


def test_max_replay_days_is_a_setting(tmp_path):
    (tmp_path / "e.csv").write_text(HEADER + "\n".join(week()) + "\n")
    config = tmp_path / "insiderwatch.toml"
    config.write_text("[sources]\nmax_replay_days = 6\n")
    proc = iw("replay", "--events", tmp_path / "e.csv", "--show", 0, db=tmp_path / "iw.db", config=config)
    assert proc.returncode == 2 and "spans 7 days (2026-01-05 to 2026-01-11), more than [sources] max_replay_days = 6" in proc.stderr
    config.write_text("[sources]\nmax_replay_days = 0\n")
    proc = iw("replay", "--events", tmp_path / "e.csv", "--show", 0, db=tmp_path / "iw.db", config=config)
    assert proc.returncode == 2 and "sources.max_replay_days must be at least 1" in proc.stderr


@pytest.mark.slow
def test_a_desk_with_two_far_off_events_replays_as_a_named_range(tmp_path):
    """A simulated desk plus one event in 1990 and one in 2099: refused without a range; with
    --from/--to over the desk, the same scores as the desk alone."""
    from detector.simulator import SimulationSpec
    from pipelines.simulate import run_simulation

    run_simulation(SimulationSpec(agents=40, days=14, seed=5, insiders={"bulk": 1}), tmp_path, show_progress=False)
    desk = pd.read_csv(tmp_path / "events.csv.gz", dtype=str, keep_default_na=False)
    far = desk.head(2).assign(timestamp=["1990-01-02T00:00:00Z", "2099-12-30T00:00:00Z"], event_id=["far-1", "far-2"])
    pd.concat([far.head(1), desk, far.tail(1)]).to_csv(tmp_path / "hostile.csv", index=False)
    days = sorted(pd.to_datetime(desk.timestamp, utc=True, format="ISO8601").dt.strftime("%Y-%m-%d").unique())
    roster = tmp_path / "roster.csv"
    proc = iw("replay", "--events", tmp_path / "hostile.csv", "--roster", roster, "--show", 0, db=tmp_path / "h.db")
    assert proc.returncode == 2 and "1990-01-02 (1 event" in proc.stderr and "2099-12-30 (1 event" in proc.stderr
    proc = iw("replay", "--events", tmp_path / "hostile.csv", "--roster", roster, "--from", days[0], "--to", days[-1], "--show", 0, db=tmp_path / "h.db")
    assert proc.returncode == 0, proc.stderr
    assert iw("replay", "--events", tmp_path / "events.csv.gz", "--roster", roster, "--show", 0, db=tmp_path / "d.db").returncode == 0
    columns = "day, agent_id, score, rank, flagged, raw_score"
    assert stored(tmp_path / "h.db", f"SELECT {columns} FROM scores ORDER BY day, agent_id") == stored(tmp_path / "d.db", f"SELECT {columns} FROM scores ORDER BY day, agent_id")
