"""What day D sees (detector.history, detector.days): one rule, and scoring, explain, the
report and verify agree on it."""

from __future__ import annotations

import io
import json
import sqlite3
import subprocess

import numpy as np
import pandas as pd
import pytest

from detector import features as ft
from detector.config import from_dict
from detector.days import DayRange, day_bounds, days_between, parse_day, shift_day
from detector.errors import UsageError
from detector.history import day_view, personal_baseline, skip_high_days, suppressions_in_force, training_inputs
from detector.model import ModelSettings
from detector.simulator import SimulationSpec
from pipelines.simulate import run_simulation
from tests.conftest import INSIDERWATCH


def test_day_arithmetic_crosses_months_and_leap_days():
    assert shift_day("2028-02-28", 1) == "2028-02-29" and shift_day("2028-03-01", -1) == "2028-02-29"
    assert shift_day("2026-12-31", 1) == "2027-01-01"
    assert days_between("2026-02-27", "2026-03-02") == ["2026-02-27", "2026-02-28", "2026-03-01", "2026-03-02"]
    assert days_between("2026-03-02", "2026-03-01") == []
    start, end = day_bounds("2026-03-01")
    assert str(start) == "2026-03-01 00:00:00+00:00" and end - start == pd.Timedelta(days=1)


def test_a_day_range_is_validated_once():
    assert DayRange.parse(day="2026-01-05") == DayRange("2026-01-05", "2026-01-05")
    assert DayRange.parse(first="2026-01-05") == DayRange("2026-01-05", None)
    assert DayRange.parse().empty and DayRange.parse(first="2026-01-01", last="2026-01-03").contains("2026-01-02")
    with pytest.raises(UsageError, match="--from 2026-02-01 is after --to 2026-01-01"):
        DayRange.parse(first="2026-02-01", last="2026-01-01")
    with pytest.raises(UsageError, match="without --from and --to"):
        DayRange.parse(day="2026-01-01", first="2026-01-01")
    with pytest.raises(UsageError, match="--to must be a date"):
        DayRange.parse(last="yesterday")
    assert parse_day("2026-01-05", "--date") == "2026-01-05"


def _days(n: int, agents=("a1", "a2")) -> pd.DataFrame:
    days = days_between("2026-01-01", shift_day("2026-01-01", n - 1))
    return pd.DataFrame([{"day": d, "agent_id": a, "views": 10 + i} for i, d in enumerate(days) for a in agents])


def test_the_personal_baseline_is_the_lagged_window_less_high_scoring_days():
    history = _days(40)
    settings = ft.FeatureSettings(window=10, lag=3)
    base = personal_baseline(history, None, "2026-01-31", settings)
    assert sorted(base.day.unique()) == days_between("2026-01-18", "2026-01-27")  # [D-13, D-3)
    scores = pd.DataFrame({"day": ["2026-01-20", "2026-01-21"], "agent_id": ["a1", "a1"], "score": [3.0, 1.0]})
    assert len(personal_baseline(history, scores, "2026-01-31", settings)) == len(base)  # skip off by default
    skipping = ft.FeatureSettings(window=10, lag=3, baseline_skip_above=2.0)
    kept = personal_baseline(history, scores, "2026-01-31", skipping)
    assert len(kept) == len(base) - 1 and not ((kept.day == "2026-01-20") & (kept.agent_id == "a1")).any()
    assert skip_high_days(history, scores, ft.FeatureSettings()) is history


def test_training_inputs_are_the_trailing_window_less_alerted_days_when_asked():
    inputs = _days(40).rename(columns={"views": "views__z"})
    scores = inputs[["day", "agent_id"]].assign(flagged=(inputs.agent_id == "a2") & (inputs.day == "2026-02-05"))
    plain = training_inputs(inputs, scores, "2026-02-09", ModelSettings(train_days=7))
    assert sorted(plain.day.unique()) == days_between("2026-02-02", "2026-02-08") and len(plain) == 14
    excluded = training_inputs(inputs, scores, "2026-02-09", ModelSettings(train_days=7, exclude_alerted=True))
    assert len(excluded) == 13 and not ((excluded.day == "2026-02-05") & (excluded.agent_id == "a2")).any()


def test_suppressions_in_force_as_of_the_day_or_current_and_as_known_by_a_time():
    sup = pd.DataFrame(
        [
            {"id": 1, "agent_id": "a1", "until": "2026-03-01", "created_at": "2026-01-10T09:00:00+00:00", "pattern": None},
            {"id": 2, "agent_id": "a2", "until": "2026-01-15", "created_at": "2026-01-20T09:00:00+00:00", "pattern": "exports"},
        ]
    )
    assert suppressions_in_force(sup, "2026-01-12") == {"a1": [(1, None)]}  # 2 did not exist yet
    assert suppressions_in_force(sup, "2026-01-12", mode="current") == {"a1": [(1, None)], "a2": [(2, "exports")]}
    assert suppressions_in_force(sup, "2026-01-16", mode="current") == {"a1": [(1, None)]}  # 2 expired
    assert suppressions_in_force(sup, "2026-01-12", mode="current", known_by="2026-01-15T00:00:00+00:00") == {"a1": [(1, None)]}
    assert suppressions_in_force(sup, "2026-01-09") == {}


def test_day_view_spans_every_window():
    cfg = from_dict({"features": {"window": 10, "lag": 3, "novelty_window": 50, "windows": [3, 7], "reference_days": 10}, "model": {"train_days": 20}})
    view = day_view("2026-03-01", cfg)
    assert (view.baseline_first, view.baseline_before) == ("2026-02-16", "2026-02-26")
    assert view.train_first == "2026-02-09" and view.novelty_first == "2026-01-10"
    assert view.span_first == "2026-02-08" and view.first_read == "2026-01-10"
    # the multi-day windows and their references (14 + 28 days by default) reach further back
    longer = day_view("2026-03-01", from_dict({"features": {"window": 10, "lag": 3}, "model": {"train_days": 20}}))
    assert longer.span_first == shift_day("2026-03-01", -42)


@pytest.fixture(scope="module")
def desk(tmp_path_factory):
    out = tmp_path_factory.mktemp("history-desk")
    run_simulation(SimulationSpec(agents=60, days=24, seed=5, insiders={"bulk": 1, "drip": 1}), out, show_progress=False)
    return out


@pytest.mark.slow
def test_report_explain_and_model_agree_under_a_configured_baseline(desk, tmp_path):
    """With [features] window, lag, min_history and baseline_skip_above changed, the report's
    own band, explain's baseline and the model's inputs come from the same days."""
    from detector.sources import read_roster
    from detector.store import Store
    from pipelines.explain import scored_night
    from pipelines.report import _views_bands
    from pipelines.run import run_replay

    cfg = from_dict({"features": {"window": 9, "lag": 2, "min_history": 3, "baseline_skip_above": 1.2}})
    store = Store(f"sqlite:///{tmp_path / 'iw.db'}")
    run_replay(cfg, store, [str(desk / "events.csv.gz")], None, None, roster=read_roster(desk / "roster.csv"), show_progress=False)
    busiest = store.scores(store.scored_days()[-6], None).groupby("day").size()
    day = busiest.idxmax()  # a late working day (weekends are quiet)
    night = scored_night(store, cfg, day)
    feats = night.features.set_index("agent_id")
    # the model's stored inputs are the features explain rebuilds
    names, stored = store.model_inputs(day, shift_day(day, 1))
    stored = stored.set_index("agent_id")
    rebuilt = ft.model_inputs(feats.reset_index(), cfg.features).set_index(feats.index)
    for name in [n for n in names if n.endswith("__z") or n == "accum__max"]:
        np.testing.assert_allclose(stored.loc[feats.index, name].to_numpy(float), rebuilt[name].to_numpy(float), rtol=0, atol=1e-6, err_msg=name)  # stored to 6 decimals
    # the report's own band that day is explain's baseline, for every agent with one
    first = shift_day(day, -40)
    history = store.agent_days(first, shift_day(day, 1))
    scores = store.scores(first, day)
    earlier = scores[scores.day < day]
    skipped = earlier[earlier.score >= 1.2]
    assert len(skipped), "the settings must make the skip matter"
    _, inputs = store.model_inputs(shift_day(first, -cfg.model.train_days), shift_day(day, 1))
    checked = 0
    for agent in feats.index[feats["views__base"].notna()]:
        own = history[history.agent_id == agent].sort_values("day")
        band = _views_bands(own, history, scores, None, cfg, inputs[inputs.agent_id == agent]).set_index("day")
        assert band.loc[day, "own_med"] == pytest.approx(feats.loc[agent, "views__base"]), agent
        assert band.loc[day, "own_hi"] == pytest.approx(feats.loc[agent, "views__base_hi"]), agent
        checked += 1
    assert checked >= 20
    # an agent with a skipped day in their window: the band left it out too
    window_skips = skipped[(skipped.day >= day_view(day, cfg).baseline_first) & (skipped.day < day_view(day, cfg).baseline_before)]
    assert set(window_skips.agent_id) & set(feats.index[feats["views__base"].notna()])
    # and the report's pages say which baseline their bands show
    from pipelines.report import build_report

    site = build_report(store, cfg, tmp_path / "site", days=DayRange(first=store.scored_days()[0]))
    assert site.pages, "the replay raised no agent alert to report"
    page = site.pages[0].read_text()
    assert "among the 9 days ending 2 days before, at least 3 of them, less days that scored 1.2 or more" in page


def iw(db: str, *args):
    return subprocess.run([*INSIDERWATCH, "-q", "--db", db, *map(str, args)], capture_output=True, text=True)


@pytest.mark.slow
def test_verify_of_a_replay_in_which_a_suppression_applied_is_identical(desk, tmp_path):
    """verify copies the suppressions into its scratch store, replays with the run's
    suppression mode, and ignores suppressions created after the run."""
    db = f"sqlite:///{tmp_path / 'iw.db'}"
    config = tmp_path / "roomy.toml"
    config.write_text("[alerts]\nbudget_fraction = 0.1\n")
    args = ["--config", config, "replay", "--events", desk / "events.csv.gz", "--roster", desk / "roster.csv", "--show", "0"]
    assert iw(db, *args).returncode == 0
    alerts = pd.read_json(io.StringIO(iw(db, "export", "alerts", "--format", "jsonl").stdout), lines=True, dtype=False)
    agent = alerts[alerts.subject_type == "agent"].subject_id.value_counts().index[0]
    assert iw(db, "suppress", agent, "--until", "2030-01-01", "--reason", "approved project", "--ticket", "SEC-7").returncode == 0
    replayed = iw(db, *args, "--suppressions", "current")
    assert replayed.returncode == 0 and "covered by suppression(s) 1" in replayed.stderr
    with sqlite3.connect(tmp_path / "iw.db") as conn:
        (manifest,) = conn.execute("SELECT manifest FROM runs WHERE run_id = 2").fetchone()
    assert json.loads(manifest)["suppressions"] == "current"
    ok = iw(db, "--config", config, "verify", "2")
    assert ok.returncode == 0 and "IDENTICAL" in ok.stdout, ok.stdout + ok.stderr
    # a suppression created after the run does not change what the run is recomputed to be
    other = alerts[(alerts.subject_type == "agent") & (alerts.subject_id != agent)].subject_id
    if len(other):
        assert iw(db, "suppress", other.iloc[0], "--until", "2030-01-01", "--reason", "later", "--ticket", "SEC-8").returncode == 0
        again = iw(db, "--config", config, "verify", "2")
        assert again.returncode == 0 and "IDENTICAL" in again.stdout, again.stdout + again.stderr
