"""End to end through the real `insiderwatch` command: replay, nightly, alerts, explain,
export, on the simulator's output, with outcomes checked against the labels."""

from __future__ import annotations

import gzip
import io
import json
import subprocess

import pandas as pd
import pytest

from detector.simulator import SimulationSpec
from pipelines.simulate import run_simulation
from tests.conftest import INSIDERWATCH, SIM_AGENTS


def iw(*args, db=None, config=None, check=True, cwd=None):
    cmd = [*INSIDERWATCH, "-q"]
    if db:
        cmd += ["--db", f"sqlite:///{db}"]
    if config:
        cmd += ["--config", str(config)]
    proc = subprocess.run(cmd + [str(a) for a in args], capture_output=True, text=True, cwd=cwd)
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


def scores_of(db) -> pd.DataFrame:
    return pd.read_csv(io.StringIO(iw("export", "scores", db=db).stdout))


# --- detection on the simulator, through the CLI -------------------------------------------
@pytest.fixture(scope="module")
def replayed(sim_dir, tmp_path_factory):
    """The default insider mix replayed with a budget sized for this small, insider-dense
    desk (11 insiders among 150 people: 4% a night = 6 alerts)."""
    work = tmp_path_factory.mktemp("replay")
    config = work / "insiderwatch.toml"
    config.write_text("[alerts]\nbudget_fraction = 0.04\n")
    db = work / "iw.db"
    proc = iw("replay", "--events", sim_dir / "events.csv.gz", "--roster", sim_dir / "roster.csv", db=db, config=config)
    return db, config, proc


@pytest.fixture(scope="module")
def labelled_scores(replayed, sim_dir):
    db, _, _ = replayed
    scores = scores_of(db)
    days = pd.read_csv(sim_dir / "label_days.csv")
    scores = scores.merge(days, on=["agent_id", "day"], how="left")
    scores["harvesting"] = scores["exfil_events"].fillna(0) > 0
    return scores


def test_every_insider_ranks_within_the_budget_soon_after_starting(labelled_scores, sim_dir):
    labels = pd.read_csv(sim_dir / "labels.csv")
    for row in labels.itertuples():
        mine = labelled_scores[(labelled_scores.agent_id == row.agent_id) & (labelled_scores.day >= row.start_day)]
        within = mine[mine["rank"] <= 6]
        assert len(within), f"{row.scenario} insider {row.agent_id} never ranked within the budget"
        delay = (pd.Timestamp(within.day.min()) - pd.Timestamp(row.start_day)).days
        assert delay <= (7 if row.scenario == "drip" else 3), (row.scenario, delay)
        if row.scenario != "drip":
            # and alerted: above the threshold too. (A drip's 10-20 extra views a day stay
            # below it on a desk where 7% of the staff harvest and contaminate the training
            # window; on the 1,500-agent benchmark desk drips are alerted, see BENCHMARKS.md.)
            flagged = mine[mine.flagged]
            assert len(flagged), f"{row.scenario} insider {row.agent_id} never flagged"
            assert (pd.Timestamp(flagged.day.min()) - pd.Timestamp(row.start_day)).days <= 3


def test_the_bulk_harvester_is_ranked_first_on_day_one(labelled_scores, sim_dir):
    labels = pd.read_csv(sim_dir / "labels.csv")
    bulk = labels[labels.scenario == "bulk"].iloc[0]
    first = labelled_scores[(labelled_scores.agent_id == bulk.agent_id) & (labelled_scores.day == bulk.start_day)].iloc[0]
    assert first["rank"] == 1 and first["flagged"]


def test_alerts_on_harvesting_nights_are_mostly_true(labelled_scores):
    harvest_nights = labelled_scores[labelled_scores.harvesting].day.unique()
    alerts = labelled_scores[labelled_scores.flagged & labelled_scores.day.isin(harvest_nights)]
    assert alerts.harvesting.mean() >= 0.7


def test_scores_export_contract(labelled_scores):
    for column in ("day", "agent_id", "score", "rank", "flagged", "run_id"):
        assert column in labelled_scores.columns
    per_day = labelled_scores.groupby("day")
    assert (per_day["rank"].min() == 1).all()
    assert per_day.apply(lambda d: d.sort_values("rank").score.is_monotonic_decreasing or d["rank"].is_unique).all()
    assert per_day["flagged"].sum().max() <= 6


def test_replay_prints_accounting_and_alerts(replayed):
    _, _, proc = replayed
    assert "rows read =" in proc.stderr and "accepted + 0 rejected" in proc.stderr
    assert "duplicates dropped" in proc.stderr
    assert "views without a ticket" in proc.stdout


def test_group_alert_names_the_ring(replayed, sim_dir):
    db, _, _ = replayed
    alerts = pd.read_json(io.StringIO(iw("export", "alerts", "--format", "jsonl", db=db).stdout), lines=True)
    labels = pd.read_csv(sim_dir / "labels.csv")
    ring = set(labels[labels.scenario == "ring"].agent_id)
    groups = alerts[alerts.subject_type == "team"]
    assert len(groups)
    assert any(len(set(members) & ring) >= 3 for members in groups.members)


def test_report_lists_group_alerts_with_their_key_and_triage(replayed, tmp_path):
    db, config, _ = replayed
    alerts = pd.read_json(io.StringIO(iw("export", "alerts", "--format", "jsonl", db=db).stdout), lines=True, dtype={"day": str})
    group = alerts[alerts.subject_type == "team"].iloc[0]
    key = group.alert_key
    out = tmp_path / "site"
    iw("report", "--date", str(group.day)[:10], "--out", out, db=db, config=config)
    table = (out / "index.html").read_text().split('id="groups"')[1].split("</table>")[0]
    row = next(r for r in table.split("<tr>") if key[:12] in r)
    assert f"insiderwatch triage {key[:12]} --status" in row
    iw("triage", key[:12], "--status", "escalated", "--note", "ring suspected", "--by", "ana", db=db)
    iw("report", "--date", str(group.day)[:10], "--out", out, db=db, config=config)
    table = (out / "index.html").read_text().split('id="groups"')[1].split("</table>")[0]
    row = next(r for r in table.split("<tr>") if key[:12] in r)
    assert "<strong>escalated</strong> by ana" in row


def test_explain_gives_every_feature_and_the_reasons(replayed, sim_dir):
    db, config, _ = replayed
    labels = pd.read_csv(sim_dir / "labels.csv")
    bulk = labels[labels.scenario == "bulk"].iloc[0]
    out = iw("explain", bulk.agent_id, "--date", bulk.start_day, "--json", db=db, config=config).stdout
    e = json.loads(out)
    assert e["alerted"] and e["score"]["rank"] == 1
    metrics = {f["metric"]: f for f in e["features"]}
    assert metrics["ticketless_views"]["value"] >= 150
    assert metrics["ticketless_views"]["baseline_median"] < 20
    assert metrics["ticketless_views"]["contribution"] > 0
    assert any("without a ticket" in r for r in e["reasons"])
    text = iw("explain", bulk.agent_id, "--date", bulk.start_day, db=db, config=config).stdout
    assert "ALERTED" in text and "ticketless_views" in text and "role p95" in text


# --- benign desk -------------------------------------------------------------------------
@pytest.fixture(scope="module")
def clean_scores(sim_clean_dir, tmp_path_factory):
    db = tmp_path_factory.mktemp("clean") / "iw.db"
    iw("replay", "--events", sim_clean_dir / "events.csv.gz", "--roster", sim_clean_dir / "roster.csv", db=db)
    scores = scores_of(db)
    return scores


def test_busy_day_raises_no_more_alerts_than_an_ordinary_day(clean_scores, sim_clean_dir):
    busy = json.loads((sim_clean_dir / "calendar.json").read_text())["busy_days"]
    per_day = clean_scores.groupby("day").agg(alerts=("flagged", "sum"), top=("score", "max"))
    ordinary = per_day.drop(index=[d for d in busy if d in per_day.index])
    for day in busy:
        assert per_day.loc[day, "alerts"] <= ordinary.alerts.max()
        assert per_day.loc[day, "top"] <= ordinary.top.quantile(0.9) + 0.2


def test_a_roles_normal_work_does_not_draw_alerts(clean_scores):
    scored = clean_scores.drop_duplicates("agent_id")
    headcount = scored.role.value_counts(normalize=True)
    alerted = clean_scores[clean_scores.flagged].role.value_counts(normalize=True)
    for role in ("kyc_specialist", "qa_reviewer", "escalations"):
        assert alerted.get(role, 0.0) <= 2.5 * headcount.get(role, 0.0) + 0.05, role


def test_default_budget_is_half_a_percent(clean_scores):
    assert clean_scores.groupby("day").flagged.sum().max() <= max(1, -(-SIM_AGENTS * 5 // 1000))


# --- properties of runs --------------------------------------------------------------------
@pytest.fixture(scope="module")
def small_sim(tmp_path_factory):
    out = tmp_path_factory.mktemp("small")
    run_simulation(SimulationSpec(agents=60, days=20, seed=5, insiders={"bulk": 1}), out, show_progress=False)
    return out


@pytest.mark.slow
def test_no_look_ahead(small_sim, tmp_path):
    """Scores of day d do not change when later days are added."""
    events = small_sim / "events.csv.gz"
    short, full = tmp_path / "short.db", tmp_path / "full.db"
    iw("replay", "--events", events, "--roster", small_sim / "roster.csv", "--to", "2026-01-17", db=short)
    iw("replay", "--events", events, "--roster", small_sim / "roster.csv", db=full)
    a = scores_of(short).drop(columns=["run_id"])
    b = scores_of(full).drop(columns=["run_id"])
    b = b[b.day <= "2026-01-17"]
    pd.testing.assert_frame_equal(a.reset_index(drop=True), b.reset_index(drop=True))


@pytest.mark.slow
def test_replay_is_deterministic_and_nightly_rerun_is_idempotent(small_sim, tmp_path):
    events, roster = small_sim / "events.csv.gz", small_sim / "roster.csv"
    one, two = tmp_path / "one.db", tmp_path / "two.db"
    iw("replay", "--events", events, "--roster", roster, db=one)
    iw("replay", "--events", events, "--roster", roster, db=two)
    a, b = scores_of(one), scores_of(two)
    pd.testing.assert_frame_equal(a, b)
    # the nightly run of the last full day, twice: same scores, no duplicate rows or alerts
    day = "2026-01-23"
    iw("nightly", "--first-night", "--events", events, "--roster", roster, "--date", day, db=one)
    first = scores_of(one)
    alerts_first = iw("export", "alerts", "--format", "jsonl", db=one).stdout
    iw("nightly", "--first-night", "--events", events, "--roster", roster, "--date", day, db=one)
    second = scores_of(one)
    assert len(first) == len(second) == len(a)
    pd.testing.assert_frame_equal(first.drop(columns=["run_id"]), second.drop(columns=["run_id"]))
    keys = [json.loads(x)["alert_key"] for x in iw("export", "alerts", "--format", "jsonl", db=one).stdout.splitlines()]
    assert len(keys) == len(set(keys)) == len(alerts_first.splitlines())
    # and the nightly run scored the day exactly as the replay did
    pd.testing.assert_frame_equal(
        first[first.day == day].drop(columns=["run_id"]).reset_index(drop=True),
        a[a.day == day].drop(columns=["run_id"]).reset_index(drop=True),
    )


def test_nightly_sets_other_days_aside_and_counts_rejects(small_sim, tmp_path):
    raw = pd.read_csv(small_sim / "events.csv.gz", dtype=str, keep_default_na=False)
    raw.loc[5, "timestamp"] = "not a time"
    raw.loc[6, "agent_id"] = ""
    path = tmp_path / "events.csv.gz"
    with gzip.open(path, "wt") as fh:
        raw.to_csv(fh, index=False)
    db = tmp_path / "iw.db"
    proc = iw("nightly", "--first-night", "--events", path, "--date", "2026-01-12", db=db)
    total = len(raw)
    assert f"{total:,} rows read = {total - 2:,} accepted + 2 rejected" in proc.stderr
    day_rows = (raw.timestamp.str.startswith("2026-01-12")).sum()
    aside = int(proc.stderr.split("rejected; ")[1].split(" outside")[0].replace(",", ""))
    assert aside > 0 and aside <= total - day_rows
    rejects = pd.read_csv(io.StringIO(iw("rejects", "1", db=db).stdout))
    assert sorted(rejects.reason) == ["empty agent_id", "unparseable timestamp"]
    assert sorted(rejects.line) == [7, 8]


def test_missing_column_is_exit_2_with_nothing_written(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("timestamp,agent_id,action\n2026-01-05T00:00:00Z,a1,view\n")
    db = tmp_path / "iw.db"
    proc = iw("nightly", "--first-night", "--events", path, "--date", "2026-01-05", db=db, check=False)
    assert proc.returncode == 2
    assert "customer_id" in proc.stderr and "bad.csv" in proc.stderr
    assert not db.exists()  # no store is created for a run refused for its input
    proc = iw("replay", "--events", path, db=db, check=False)
    assert proc.returncode == 2 and not db.exists()
    good = tmp_path / "good.csv"
    good.write_text("timestamp,agent_id,customer_id,action\n2026-01-05T09:00:00Z,a1,c1,view\n")
    proc = iw("replay", "--events", good, "--from", "2027-01-01", db=db, check=False)
    assert proc.returncode == 2 and "no events fall in the requested days" in proc.stderr and not db.exists()


@pytest.mark.parametrize("command", [["nightly", "--first-night", "--date", "2026-01-05"], ["replay"], ["rescore", "--date", "2026-01-05"]])
def test_an_input_that_is_not_there_is_exit_2_and_no_store_is_created(tmp_path, command):
    db = tmp_path / "iw.db"
    proc = iw(*command, "--events", tmp_path / "logs" / "2026-01-05*.csv.gz", db=db, check=False)
    assert proc.returncode == 2 and "2026-01-05*.csv.gz" in proc.stderr and "Traceback" not in proc.stderr
    (tmp_path / "notes.txt").write_text("not a log")
    proc = iw(*command, "--events", tmp_path / "notes.txt", db=db, check=False)
    assert proc.returncode == 2 and "notes.txt" in proc.stderr
    assert not db.exists()


def test_fail_on_alert_exits_3(small_sim, tmp_path):
    db = tmp_path / "iw.db"
    events, roster = small_sim / "events.csv.gz", small_sim / "roster.csv"
    iw("replay", "--events", events, "--roster", roster, "--to", "2026-01-20", db=db)
    labels = pd.read_csv(small_sim / "labels.csv")
    day = labels.start_day[0]
    proc = iw("nightly", "--first-night", "--events", events, "--roster", roster, "--date", day, "--fail-on-alert", db=db, check=False)
    assert proc.returncode == 3, proc.stderr
    assert labels.agent_id[0] in proc.stdout


def test_csv_export_neutralises_formulas(tmp_path):
    path = tmp_path / "hostile.csv"
    rows = ["timestamp,agent_id,customer_id,action,ticket_id"]
    rows += [f'2026-01-05T09:{i // 60:02d}:{i % 60:02d}Z,=HYPERLINK("x"),C{i},view,' for i in range(300)]
    # a desk of 200 ordinary agents: enough for peer comparison on a first night
    rows += [f"2026-01-05T{10 + j % 8:02d}:{i:02d}:00Z,a{i},C{i}{j},view,T{i}{j // 3}" for i in range(200) for j in range(40)]
    path.write_text("\n".join(rows) + "\n")
    db = tmp_path / "iw.db"
    iw("nightly", "--first-night", "--events", path, "--date", "2026-01-05", db=db)
    out = iw("export", "scores", db=db).stdout
    cells = pd.read_csv(io.StringIO(out), dtype=str).agent_id
    assert '\'=HYPERLINK("x")' in set(cells) and not cells.str.startswith("=").any()
    # the harvester with a hostile name still ranks first, on a desk with no history at all
    top = pd.read_csv(io.StringIO(out)).sort_values("rank").iloc[0]
    assert top.agent_id == '\'=HYPERLINK("x")'


def test_a_night_whose_inputs_hold_no_event_of_the_day_is_refused_with_nothing_written(tmp_path):
    """A night scored from files without its day's events would be stored as complete and
    become "the latest night" that alerts and report show, with "no alerts"."""
    db = tmp_path / "iw.db"
    empty = tmp_path / "header_only.csv"
    empty.write_text("timestamp,agent_id,customer_id,action\n")
    proc = iw("nightly", "--first-night", "--events", empty, "--date", "2026-01-05", db=db, check=False)
    assert proc.returncode == 2 and "the inputs hold no events of 2026-01-05: 0 rows read = 0 accepted + 0 rejected; nothing" in proc.stderr
    assert not db.exists()
    other = tmp_path / "other_day.csv"
    other.write_text("timestamp,agent_id,customer_id,action\n2026-01-04T10:00:00Z,a1,c1,view\n2026-01-06T10:00:00Z,a1,c2,view\n")
    proc = iw("nightly", "--first-night", "--events", other, "--date", "2026-01-05", db=db, check=False)
    assert proc.returncode == 2 and "no events of 2026-01-05: 2 rows read = 2 accepted + 0 rejected, 2 of other days (2026-01-04 to 2026-01-06)" in proc.stderr
    assert proc.stdout == "" and not db.exists()


def test_a_nightly_run_without_history_is_refused_unless_it_is_the_first_night(small_sim, tmp_path):
    """A mistyped --db makes an empty store: scored without history, that night would say
    "no alerts" and exit 0 while the real store alerts (exit 3)."""
    events, roster = small_sim / "events.csv.gz", small_sim / "roster.csv"
    real, typo = tmp_path / "iw.db", tmp_path / "iw-typo.db"
    iw("replay", "--events", events, "--roster", roster, "--to", "2026-01-11", db=real)
    proc = iw("nightly", "--events", events, "--roster", roster, "--date", "2026-01-12", db=typo, check=False)
    assert proc.returncode == 2 and "the store is empty" in proc.stderr and "--first-night" in proc.stderr
    assert proc.stdout == "" and not typo.exists()
    # a store whose history is out of reach of the night (weeks old) is refused too
    proc = iw("nightly", "--events", events, "--roster", roster, "--date", "2026-04-01", db=real, check=False)
    assert proc.returncode == 2 and "to 2026-01-11, none of it in the 42 days before 2026-04-01" in proc.stderr
    runs = [json.loads(line) for line in iw("runs", "--json", db=real).stdout.splitlines()]
    assert [r["kind"] for r in runs] == ["replay"]  # nothing written by the refused nights
    assert iw("nightly", "--events", events, "--roster", roster, "--date", "2026-01-12", db=real).returncode == 0
    assert iw("nightly", "--first-night", "--events", events, "--roster", roster, "--date", "2026-01-12", db=typo).returncode == 0


def test_a_forgotten_roster_is_refused_where_earlier_nights_had_one(small_sim, tmp_path):
    events, roster = small_sim / "events.csv.gz", small_sim / "roster.csv"
    db = tmp_path / "iw.db"
    iw("replay", "--events", events, "--roster", roster, "--to", "2026-01-11", db=db)
    for command in (["nightly", "--date", "2026-01-12"], ["rescore", "--date", "2026-01-11"], ["replay", "--from", "2026-01-12"]):
        proc = iw(*command, "--events", events, db=db, check=False)
        assert proc.returncode == 2 and "no --roster, but the store's last night before" in proc.stderr and "--no-roster" in proc.stderr, command
    assert [json.loads(line)["kind"] for line in iw("runs", "--json", db=db).stdout.splitlines()] == ["replay"]
    iw("nightly", "--no-roster", "--events", events, "--date", "2026-01-12", db=db)
    assert set(scores_of(db).query("day == '2026-01-12'")["team"]) == {"(none)"}


@pytest.mark.parametrize(
    "command",
    [
        ["alerts"],
        ["runs"],
        ["report", "--out", "site"],
        ["explain", "A00001", "--date", "2026-01-05"],
        ["export", "scores"],
        ["rejects", "1"],
        ["verify", "1"],
        ["triage", "--history", "abcdef12"],
        ["cases"],
        ["case", "abcdef12"],
    ],
)
def test_commands_that_read_never_create_a_store(tmp_path, command):
    db = tmp_path / "nowhere" / "iw.db"
    (tmp_path / "nowhere").mkdir()
    proc = iw(*command, db=db, check=False, cwd=tmp_path)
    assert proc.returncode == 2 and f"there is no store at {db}" in proc.stderr, proc.stderr
    assert not db.exists() and not (tmp_path / "site").exists()


def test_unusable_database_url_is_a_usage_error(tmp_path):
    proc = subprocess.run([*INSIDERWATCH, "--db", "nosuchdb://x", "alerts"], capture_output=True, text=True)
    assert proc.returncode == 2 and "not a usable database URL" in proc.stderr
    # a known database whose driver is not installed names the driver (no traceback)
    proc = subprocess.run([*INSIDERWATCH, "--db", "mysql+mysqldb://x@127.0.0.1/db", "alerts"], capture_output=True, text=True)
    assert proc.returncode == 2 and "needs the database driver 'MySQLdb'" in proc.stderr and "Traceback" not in proc.stderr


def test_lookups_that_cannot_be_answered_are_usage_errors(small_sim, tmp_path):
    db = tmp_path / "iw.db"
    iw("nightly", "--first-night", "--events", small_sim / "events.csv.gz", "--roster", small_sim / "roster.csv", "--date", "2026-01-12", db=db)
    for args in (("alerts", "--run", "99"), ("rejects", "99"), ("alerts", "--from", "2026-01-12", "--to", "2026-01-01")):
        proc = iw(*args, db=db, check=False)
        assert proc.returncode == 2, args
    out = iw("alerts", db=db).stdout
    assert "2026-01-12" in out  # the default names the day it looked at


def test_terminal_escapes_and_path_traversal_in_ids_stay_data(tmp_path):
    hostile = "../../outside\x1b[31mRED\x07;DROP TABLE runs;--"
    path = tmp_path / "hostile.csv"
    frame = pd.DataFrame(
        [(f"2026-01-05T09:{i // 60:02d}:{i % 60:02d}Z", hostile, f"C{i}", "view", "") for i in range(300)]
        + [(f"2026-01-05T{10 + j % 8:02d}:{i:02d}:00Z", f"a{i}", f"C{i}{j}", "view", f"T{i}{j // 3}") for i in range(200) for j in range(40)],
        columns=["timestamp", "agent_id", "customer_id", "action", "ticket_id"],
    )
    frame.to_csv(path, index=False)
    db = tmp_path / "iw.db"
    out = tmp_path / "site"
    config = tmp_path / "any.toml"  # a first night (no history): alert the top agent whatever its score
    config.write_text("[alerts]\nthreshold = 0.0\n")
    proc = iw("nightly", "--first-night", "--events", path, "--date", "2026-01-05", "--report", out, db=db, config=config)
    assert "\x1b" not in proc.stdout + proc.stderr and "\x07" not in proc.stdout + proc.stderr
    assert "outside\\x1b[31mRE" in proc.stdout  # shown, escaped
    shown = iw("alerts", db=db).stdout
    assert "\x1b" not in shown and "outside" in shown
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(("agent-", "case-"))) == [".insiderwatch-report", "index.html", "run.html"]  # the manifest lists the report's files
    assert len(list(out.glob("agent-*.html"))) == 1 and len(list(out.glob("case-*.html"))) == 1  # names no id can steer
    assert not (tmp_path / "outside").exists() and not list(tmp_path.parent.glob("outside*"))
    exported = iw("export", "scores", "--format", "jsonl", db=db).stdout
    assert json.dumps(hostile)[1:-1] in exported  # JSON keeps the exact id, escaped
    runs = iw("runs", db=db).stdout
    assert runs.count("\n") == 2  # the runs table is still there


def test_a_store_that_is_down_is_retried_then_a_clear_error(tmp_path):
    (tmp_path / "insiderwatch.toml").write_text("[store]\nconnect_attempts = 2\nconnect_wait = 0.2\n")
    proc = subprocess.run([*INSIDERWATCH, "--db", "postgresql+psycopg://nobody@127.0.0.1:9/none?connect_timeout=3", "alerts"], capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 1 and "cannot open the store" in proc.stderr and "Traceback" not in proc.stderr
    assert proc.stderr.count("trying again in") == 1 and "(tried 2 times)" in proc.stderr
