"""Inputs shaped to blind a run (issue 14): rows hidden behind one reused event id, and a
replay stretched over decades by a few far-off timestamps."""

from __future__ import annotations

import json
import sqlite3
import subprocess

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
