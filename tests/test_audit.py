"""Auditing runs through the real command: verify recomputes a run and names what differs,
an altered input stops it, a changed history is reported; the same replay twice gives the
same scores (SQLite and PostgreSQL); diff reports a threshold change."""

from __future__ import annotations

import io
import json
import sqlite3
import subprocess

import pandas as pd
import pytest

from detector.simulator import SimulationSpec
from pipelines.simulate import run_simulation
from tests.conftest import INSIDERWATCH, pg_schema

#: every test replays a desk through the real command (slow: CI runs it; `pytest -m "not slow"` skips it)
pytestmark = pytest.mark.slow


def iw(db: str, *args, config=None):
    cmd = [*INSIDERWATCH, "-q", "--db", db] + (["--config", str(config)] if config else [])
    return subprocess.run(cmd + [str(a) for a in args], capture_output=True, text=True)


@pytest.fixture(scope="module")
def desk(tmp_path_factory):
    out = tmp_path_factory.mktemp("audit-desk")
    run_simulation(SimulationSpec(agents=60, days=16, seed=21, insiders={"bulk": 1, "enumeration": 1}), out, show_progress=False)
    return out


def replay(db: str, desk, *extra, config=None):
    proc = iw(db, "replay", "--events", desk / "events.csv.gz", "--roster", desk / "roster.csv", "--show", "0", *extra, config=config)
    assert proc.returncode == 0, proc.stderr
    return proc


def roomy_config(tmp_path):
    """Settings with room for the harvester on every harvesting night (10% of the desk)."""
    path = tmp_path / "roomy.toml"
    path.write_text("[alerts]\nbudget_fraction = 0.1\n")
    return path


@pytest.fixture(scope="module")
def roomy_replay(desk, tmp_path_factory):
    """One replay of the desk with the roomy settings, for tests to start from a copy of."""
    work = tmp_path_factory.mktemp("roomy")
    replay(f"sqlite:///{work / 'iw.db'}", desk, config=roomy_config(work))
    return work / "iw.db"


def roomy_copy(roomy_replay, tmp_path) -> tuple[str, object]:
    """A private copy of the roomy replay's store (run 1 is that replay) and the settings."""
    import sqlite3 as sq

    with sq.connect(roomy_replay) as src, sq.connect(tmp_path / "iw.db") as dst:
        src.backup(dst)
    return f"sqlite:///{tmp_path / 'iw.db'}", roomy_config(tmp_path)


def scores(db: str) -> pd.DataFrame:
    out = iw(db, "export", "scores").stdout
    return pd.read_csv(io.StringIO(out)).sort_values(["day", "agent_id"]).reset_index(drop=True)


def test_verify_passes_then_names_a_tampered_score(desk, tmp_path):
    path = tmp_path / "iw.db"
    db = f"sqlite:///{path}"
    replay(db, desk)
    ok = iw(db, "verify", "1")
    assert ok.returncode == 0, ok.stderr
    assert "IDENTICAL when recomputed" in ok.stdout
    with sqlite3.connect(path) as conn:
        day, agent = conn.execute("SELECT day, agent_id FROM scores WHERE rank = 1 ORDER BY day DESC LIMIT 1").fetchone()
        conn.execute("UPDATE scores SET score = score + 0.5 WHERE day = ? AND agent_id = ?", (day, agent))
    bad = iw(db, "verify", "1")
    assert bad.returncode == 4
    # named twice: by the digest the run kept of its rows, and by recomputing the run
    assert "2 DIFFERENCE(S)" in bad.stdout and f"stored scores of {day}: changed since the run wrote them" in bad.stdout
    assert f"score {day} '{agent}'" in bad.stdout and "stored" in bad.stdout


def test_verify_stops_on_a_changed_input_naming_it(desk, tmp_path):
    data = tmp_path / "events.csv.gz"
    data.write_bytes((desk / "events.csv.gz").read_bytes())
    db = f"sqlite:///{tmp_path / 'iw.db'}"
    proc = iw(db, "replay", "--events", data, "--roster", desk / "roster.csv", "--show", "0")
    assert proc.returncode == 0, proc.stderr
    with open(data, "ab") as fh:
        fh.write(b"\x00")
    bad = iw(db, "verify", "1")
    assert bad.returncode == 2 and "has changed since the run" in bad.stderr and str(data) in bad.stderr
    data.unlink()
    gone = iw(db, "verify", "1")
    assert gone.returncode == 2 and "missing" in gone.stderr


def test_verify_a_nightly_run_against_its_history(desk, tmp_path):
    db = f"sqlite:///{tmp_path / 'iw.db'}"
    days = sorted(pd.read_csv(desk / "label_days.csv").day)  # any days of the desk
    calendar = sorted(set(pd.read_csv(desk / "events.csv.gz", usecols=["timestamp"]).timestamp.str[:10]))
    last, before = calendar[-2], calendar[-3]
    assert days
    replay(db, desk, "--to", before)
    night = iw(db, "nightly", "--first-night", "--events", desk / "events.csv.gz", "--roster", desk / "roster.csv", "--date", last)
    assert night.returncode == 0, night.stderr
    ok = iw(db, "verify", "2")
    assert ok.returncode == 0 and "IDENTICAL" in ok.stdout, ok.stdout + ok.stderr
    # rescoring a day the nightly run read as history changes what verify can prove
    again = iw(db, "nightly", "--first-night", "--events", desk / "events.csv.gz", "--roster", desk / "roster.csv", "--date", before)
    assert again.returncode == 0, again.stderr
    changed = iw(db, "verify", "2")
    assert changed.returncode == 4 and f"history {before}: the run read the results of run 1; the store now holds run 3's" in changed.stdout


def test_the_same_replay_twice_gives_identical_scores(desk, tmp_path):
    first = scores(replay(f"sqlite:///{tmp_path / 'a.db'}", desk) and f"sqlite:///{tmp_path / 'a.db'}")
    second = scores(replay(f"sqlite:///{tmp_path / 'b.db'}", desk) and f"sqlite:///{tmp_path / 'b.db'}")
    cols = ["day", "agent_id", "score", "rank", "flagged"]
    pd.testing.assert_frame_equal(first[cols], second[cols])
    with pg_schema("set INSIDERWATCH_TEST_PG to compare with PostgreSQL too") as pg:
        on_pg = scores(replay(pg, desk) and pg)
        pg_export = iw(pg, "export", "scores", "--format", "csv").stdout
    pd.testing.assert_frame_equal(first[cols], on_pg[cols])
    # the same bytes from both stores: no score prints as -0.0 on one and 0.0 on the other
    sqlite_export = iw(f"sqlite:///{tmp_path / 'a.db'}", "export", "scores", "--format", "csv").stdout
    assert sqlite_export == pg_export and ",-0.0," not in pg_export


def test_diff_reports_a_threshold_change(desk, tmp_path):
    db = f"sqlite:///{tmp_path / 'iw.db'}"
    replay(db, desk)
    stricter = tmp_path / "strict.toml"
    stricter.write_text("[alerts]\nthreshold = 2.6\n")
    replay(db, desk, config=stricter)
    proc = iw(db, "diff", "1", "2")
    assert proc.returncode == 0, proc.stderr
    assert "alerts.threshold: 2.0 -> 2.6" in proc.stdout
    assert "inputs: the same files, the same digests" in proc.stdout
    as_json = iw(db, "diff", "1", "2", "--json")
    import json

    def strict(constant):
        raise ValueError(f"not JSON: {constant}")

    d = json.loads(as_json.stdout, parse_constant=strict)
    assert all(a["rank_a"] is None or isinstance(a["rank_a"], int) for a in d["alerts"])
    itself = json.loads(iw(db, "diff", "1", "1", "--json").stdout, parse_constant=strict)
    assert itself["alerts"] == [] and itself["settings"] == []  # group alerts (no rank) included
    gone = [a for a in d["alerts"] if a["change"] == "gone"]
    assert gone and all(a["a"] < 2.6 for a in gone)
    # an agent run 2 did not alert is shown with its score and rank in run 2, not "-"
    agents_gone = [a for a in gone if a["subject"].startswith("agent ")]
    assert agents_gone and all(a["b"] == a["a"] and isinstance(a["rank_b"], int) and not a["alerted_b"] for a in agents_gone)
    assert f"-> {agents_gone[0]['b']:.2f} (not alerted), rank {agents_gone[0]['rank_a']} -> {agents_gone[0]['rank_b']}" in proc.stdout
    assert all(a["b"] >= 2.6 for a in d["alerts"] if a["change"] == "new")
    # and the first run's alerts are still there to compare: results are append-only
    runs = iw(db, "runs").stdout
    assert runs.count("replay") == 2


def test_triage_history_and_a_benign_decision_that_suppresses(desk, roomy_replay, tmp_path):
    db, roomy = roomy_copy(roomy_replay, tmp_path)
    alerts = pd.read_csv(io.StringIO(iw(db, "export", "alerts").stdout), dtype=str, keep_default_na=False)
    agent_alerts = alerts[alerts.subject_type == "agent"].sort_values("day")
    counts = agent_alerts.subject_id.value_counts()
    agent = counts.index[0]
    assert counts.iloc[0] >= 2, "the bulk harvester is alerted on more than one day"
    first_key = agent_alerts[agent_alerts.subject_id == agent].alert_key.iloc[0]
    later_days = set(agent_alerts[agent_alerts.subject_id == agent].day.iloc[1:])

    one = iw(db, "triage", first_key[:8], "--status", "escalated", "--note", "looks like bulk", "--by", "ana")
    assert one.returncode == 0 and "escalated by ana" in one.stdout
    two = iw(db, "triage", first_key[:8], "--status", "benign", "--note", "approved export test", "--by", "bo", "--suppress-until", "2030-01-01", "--ticket", "SEC-1")
    assert two.returncode == 0, two.stderr
    assert "superseding decision 1" in two.stdout and "suppression 1: agent" in two.stdout
    history_text = iw(db, "triage", first_key, "--history").stdout
    assert history_text.splitlines()[2].endswith(",1")  # the decision it supersedes, an id (not 1.0)
    history = pd.read_csv(io.StringIO(history_text))
    assert history.status.tolist() == ["escalated", "benign"] and history.author.tolist() == ["ana", "bo"]
    assert history.supersedes.isna().tolist() == [True, False]  # the first decision is kept, superseded

    # an honest replay (suppressions as they were on each day) raises the same alerts
    replay(db, desk, config=roomy)
    again = pd.read_csv(io.StringIO(iw(db, "export", "alerts").stdout), dtype=str, keep_default_na=False)
    assert set(again[again.subject_id == agent].day) >= later_days and (again.suppressed_by == "").all()
    # applying today's suppressions: the agent is still scored, the alerts stored, marked, not raised
    proc = replay(db, desk, "--suppressions", "current", config=roomy)
    assert "stored but not raised: covered by suppression(s) 1" in proc.stderr
    now = pd.read_csv(io.StringIO(iw(db, "export", "alerts").stdout), dtype=str, keep_default_na=False)
    mine = now[now.subject_id == agent]
    assert len(mine) and (mine.suppressed_by == "1").all()
    flagged = scores(db)
    assert not flagged[(flagged.agent_id == agent)].flagged.any() and len(flagged[flagged.agent_id == agent]) > 5
    listing = iw(db, "alerts", "--from", "2026-01-01", "--to", "2026-12-31")
    assert agent not in listing.stdout and "suppressed alert(s) stored, not shown" in listing.stderr


def test_expired_suppressions_stop_applying(desk, roomy_replay, tmp_path):
    db, roomy = roomy_copy(roomy_replay, tmp_path)
    alerts = pd.read_csv(io.StringIO(iw(db, "export", "alerts").stdout), dtype=str, keep_default_na=False)
    agent_alerts = alerts[alerts.subject_type == "agent"]
    agent = agent_alerts.subject_id.value_counts().index[0]
    days = sorted(agent_alerts[agent_alerts.subject_id == agent].day)
    made = iw(db, "suppress", agent, "--until", days[0], "--reason", "training week", "--ticket", "SEC-2")
    assert made.returncode == 0 and "suppression 1" in made.stdout
    assert "never been scored" not in made.stderr
    assert f"--until {days[0]} is already past" in made.stderr  # a replay's day, not a coming night
    one_day = pd.read_csv(io.StringIO(iw(db, "export", "alerts", "--date", days[0]).stdout), dtype=str, keep_default_na=False)
    assert len(one_day) and set(one_day.day) == {days[0]} and len(one_day) == (alerts.day == days[0]).sum()
    replay(db, desk, "--suppressions", "current", config=roomy)
    now = pd.read_csv(io.StringIO(iw(db, "export", "alerts").stdout), dtype=str, keep_default_na=False)
    mine = now[(now.subject_id == agent) & (now.day > days[0])]
    assert len(mine) and (mine.suppressed_by == "").all()  # expired after days[0]
    assert (now[(now.subject_id == agent) & (now.day == days[0])].suppressed_by == "1").all()
    told = iw(db, "explain", agent, "--date", days[0], config=roomy).stdout
    assert "alert stored but not raised: covered by suppression 1" in told.splitlines()[0]
    assert json.loads(iw(db, "explain", agent, "--date", days[0], "--json", config=roomy).stdout)["suppressed_by"] == 1
    # diff between the run before the suppression and the one after names the change
    changed = [x for x in json.loads(iw(db, "diff", "1", "2", "--json").stdout)["alerts"] if x["subject"] == f"agent {agent}" and x["day"] == days[0]]
    assert changed and changed[0]["change"] == "moved" and changed[0]["suppressed_a"] is None and changed[0]["suppressed_b"] == 1
    assert "(suppressed by 1)" in iw(db, "diff", "1", "2").stdout
    listed = iw(db, "suppress", "--list").stdout
    assert "training week" in listed and "SEC-2" in listed


def test_a_suppression_scoped_to_a_pattern_covers_only_alerts_it_drives(desk, roomy_replay, tmp_path):
    db, roomy = roomy_copy(roomy_replay, tmp_path)
    alerts = pd.read_csv(io.StringIO(iw(db, "export", "alerts").stdout), dtype=str, keep_default_na=False)
    agent_alerts = alerts[alerts.subject_type == "agent"]
    agent = agent_alerts.subject_id.value_counts().index[0]
    before = set(agent_alerts[agent_alerts.subject_id == agent].day)
    # the harvester never exports: a suppression of export-driven alerts leaves theirs alone
    assert iw(db, "suppress", agent, "--until", "2030-01-01", "--reason", "export project", "--ticket", "T-1", "--pattern", "exports").returncode == 0
    replay(db, desk, "--suppressions", "current", config=roomy)
    now = pd.read_csv(io.StringIO(iw(db, "export", "alerts").stdout), dtype=str, keep_default_na=False)
    mine = now[now.subject_id == agent]
    assert set(mine.day) >= before and (mine.suppressed_by == "").all()
    # what drives them (views without a ticket, identity documents) is covered by these
    for family in ("tickets", "record_kinds"):
        assert iw(db, "suppress", agent, "--until", "2030-01-01", "--reason", "approved", "--ticket", "T-2", "--pattern", family).returncode == 0
    replay(db, desk, "--suppressions", "current", config=roomy)
    now = pd.read_csv(io.StringIO(iw(db, "export", "alerts").stdout), dtype=str, keep_default_na=False)
    mine = now[now.subject_id == agent]
    # covered where those families drive the score; any alert driven by something else stays raised
    assert len(mine) and (mine.suppressed_by != "").any() and set(mine.suppressed_by) - {""} <= {"2", "3"}
    assert "exports" in iw(db, "suppress", "--list").stdout


def test_a_suppression_of_an_agent_never_scored_is_kept_with_a_warning(roomy_replay, tmp_path):
    """A typo in the agent id would otherwise suppress nobody in silence; an agent who
    starts tomorrow may be suppressed ahead, so it is a warning, not a refusal."""
    db, _ = roomy_copy(roomy_replay, tmp_path)
    made = iw(db, "suppress", "A0O045", "--until", "2030-01-01", "--reason", "secondment", "--ticket", "SEC-9")
    assert made.returncode == 0 and "suppression 1" in made.stdout
    assert "A0O045 has never been scored in this store" in made.stderr
    assert "A0O045" in iw(db, "suppress", "--list").stdout
    unknown = iw(db, "explain", "A0O045")
    assert unknown.returncode == 2 and "has never been scored in this store" in unknown.stderr
    both = iw(db, "export", "alerts", "--date", "2026-01-05", "--from", "2026-01-01")
    assert both.returncode == 2 and "--date gives one day" in both.stderr


def test_with_baseline_skip_explain_sees_the_baselines_the_model_saw(desk, tmp_path):
    """baseline_skip_above leaves an agent's high-scoring days out of their baseline, in
    the nightly scoring and in `explain` alike: explain's own z of every metric is the
    stored model input, and the run verifies as IDENTICAL."""
    config = tmp_path / "skip.toml"
    config.write_text("[features]\nwindow = 7\nlag = 1\nmin_history = 3\nbaseline_skip_above = 1.5\n[model]\ntrain_days = 7\n")
    path = tmp_path / "iw.db"
    db = f"sqlite:///{path}"
    replay(db, desk, config=config)
    with sqlite3.connect(path) as conn:
        high = conn.execute("SELECT agent_id, count(*) FROM scores WHERE score >= 1.5 GROUP BY agent_id ORDER BY 2 DESC LIMIT 1").fetchone()
        assert high and high[1] >= 3, high
        agent = high[0]
        day, vector, names = conn.execute("SELECT day, vector, names FROM model_inputs WHERE agent_id = ? ORDER BY day DESC LIMIT 1", (agent,)).fetchone()
    stored = dict(zip(json.loads(names), json.loads(vector)))
    e = json.loads(iw(db, "explain", agent, "--date", day, "--json", config=config).stdout)
    compared = 0
    for f in e["features"]:
        if f"{f['metric']}__z" in stored and f.get("own_z") is not None:
            # the model sees excesses only (model_inputs clips at 0)
            assert max(f["own_z"], 0.0) == pytest.approx(stored[f"{f['metric']}__z"], abs=1e-6), f["metric"]
            compared += f["own_z"] > 0.5
    assert compared >= 2
    assert "IDENTICAL when recomputed" in iw(db, "verify", "1", config=config).stdout


def test_a_runs_alerts_include_those_a_later_run_replaced(desk, roomy_replay, tmp_path):
    """`alerts --run N` lists everything run N wrote, marking what a later rescore of the
    day replaced; `report --run N` says which of its days it no longer holds."""
    db, config = roomy_copy(roomy_replay, tmp_path)
    first = pd.read_csv(io.StringIO(iw(db, "export", "alerts").stdout), dtype=str, keep_default_na=False)
    day = sorted(first.day)[-1]
    again = iw(db, "rescore", "--date", day, "--events", desk / "events.csv.gz", "--roster", desk / "roster.csv", config=config)
    assert again.returncode == 0, again.stderr
    listed = iw(db, "alerts", "--run", "1", "--reasons", "1", config=config).stdout
    n_day = int((first.day == day).sum())
    assert f"alerts for run 1 ({n_day} since replaced by later runs of their days, shown from the archive):" in listed
    assert listed.count("[replaced since by run 2, which scored the day again]") == n_day
    assert sum(line.startswith(d) for line in listed.splitlines() for d in set(first.day)) == len(first)
    report = iw(db, "report", "--run", "1", "--out", tmp_path / "site", config=config)
    assert report.returncode == 0 and f"1 of run 1's days were scored again by later runs ({day})" in report.stderr
