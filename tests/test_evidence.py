"""Evidence that accumulates over days (issue 16): a slow drip is found within its first week,
a harvest of two weeks does not become the agent's normal, and the words say so."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from detector import evidence
from detector import features as ft
from detector.alerts import accumulated_sentence
from detector.days import shift_day
from detector.simulator import SimulationSpec
from pipelines.simulate import run_simulation
from tests.conftest import INSIDERWATCH

START = "2026-01-05"  # the simulated desk's first day (the simulator's default)


def _desk(days: int, agents: int, seed: int) -> pd.DataFrame:
    """Synthetic agent-days: Poisson counts around each agent's own level."""
    rng = np.random.default_rng(seed)
    rows = []
    level = rng.lognormal(np.log(120), 0.4, size=agents)
    for k in range(days):
        day = shift_day(START, k)
        for a in range(agents):
            views = rng.poisson(level[a])
            rows.append({"day": day, "agent_id": f"a{a:03d}", "views": views, "customers": rng.poisson(0.6 * level[a]), "events": views + 20, "ticketless_views": rng.binomial(views, 0.08)})
    frame = pd.DataFrame(rows)
    for m in ft.METRICS:
        if m not in frame:
            frame[m] = 0
    return frame


def _accumulate(frame: pd.DataFrame, day: str, frozen=None) -> pd.DataFrame:
    settings = ft.FeatureSettings()
    today = frame[frame.day == day].reset_index(drop=True)
    history = frame[frame.day < day]
    metrics = {m: (ft.COMPOSITION_METRICS[m][0] if m in ft.COMPOSITION_METRICS else None) for m in ("views", "ticketless_views")}
    groups = np.full(len(today), "desk", dtype=object)
    out = evidence.accumulate(history, today, day=day, metrics=metrics, groups=groups, settings=settings, summarise=("ticketless_views",), frozen=frozen)
    return pd.concat([today[["agent_id"]], out], axis=1).set_index("agent_id")


def test_a_steady_excess_adds_up_where_no_single_day_stands_out():
    frame = _desk(50, 40, seed=1)
    drip_start = shift_day(START, 40)
    drip = (frame.agent_id == "a007") & (frame.day >= drip_start)
    frame.loc[drip, "ticketless_views"] += 15
    frame.loc[drip, "views"] += 15
    day = shift_day(drip_start, 6)
    acc = _accumulate(frame, day)
    others = acc.drop(index="a007")["accum__max"]
    me = acc.loc["a007"]
    assert me["accum__metric"] == "ticketless_views" and me["accum__window"] >= 7
    assert me["accum__max"] > 2 * others.max() and me["accum__max"] > 4
    # about 15 a day over the window's working days, stated in records
    assert 0.6 * 15 * me["accum__days"] <= me["accum__excess"] <= 1.4 * 15 * me["accum__days"]
    words = accumulated_sentence(me.to_dict(), "ticketless_views")
    assert words.startswith(f"over the last {int(me['accum__window'])} days, ") and "more views without a ticket than their own normal" in words


def test_a_busy_fortnight_of_the_whole_team_is_not_anyones_excess():
    frame = _desk(50, 40, seed=2)
    busy = frame.day >= shift_day(START, 40)
    # a backlog: everyone's share of views without a ticket doubles
    frame.loc[busy, "ticketless_views"] = np.random.default_rng(9).binomial(frame.loc[busy, "views"].to_numpy(), 0.16)
    acc = _accumulate(frame, shift_day(START, 48))
    assert acc["accum__max"].max() < ft.FeatureSettings().freeze_above  # nobody's baseline is frozen for it


def test_one_loud_day_is_diluted_not_accumulated():
    frame = _desk(50, 40, seed=3)
    day = shift_day(START, 45)
    frame.loc[(frame.agent_id == "a003") & (frame.day == shift_day(day, -5)), "ticketless_views"] += 40
    acc = _accumulate(frame, day)
    assert acc.loc["a003", "accum__max"] < 3


def test_frozen_days_stay_out_of_the_reference():
    frame = _desk(60, 30, seed=4)
    start = shift_day(START, 30)
    harvest = (frame.agent_id == "a005") & (frame.day >= start)
    frame.loc[harvest, "ticketless_views"] += 30
    day = shift_day(START, 59)  # the harvest has run 30 days: the 14-day window's reference holds 16 of them
    unfrozen = _accumulate(frame, day).loc["a005", "accum__max"]
    stored = frame.loc[harvest & (frame.day < day), ["day", "agent_id"]].assign(accum__max=9.0)
    frozen = evidence.frozen_days(stored, ft.FeatureSettings())
    assert len(frozen) == int((harvest & (frame.day < day)).sum())
    assert evidence.frozen_days(stored, ft.FeatureSettings(freeze_above=0)) is None
    kept = _accumulate(frame, day, frozen).loc["a005"]
    # frozen, the harvest's days stay in the windows and out of their references: the
    # 14-day window is compared with the quiet days before the harvest
    assert kept["accum__max"] > 6 and kept["accum__max"] > 2 * unfrozen and kept["accum__window"] >= 7
    assert 0.7 * 30 * kept["accum__days"] <= kept["accum__excess"] <= 1.3 * 30 * kept["accum__days"]


# --- the mechanism end to end, on a simulated desk -----------------------------------------
DRIP_AGENT_DAYS = 20
DRIP_FROM = 30  # day index of the drip's first day
HARVEST_FROM, HARVEST_DAYS = 20, 14


def _plant(events: pd.DataFrame, agent: str, first: int, days: int, per_day: int, rng, *, ticketed_share: float) -> tuple[pd.DataFrame, list[str]]:
    """``per_day`` views a working day of customers unrelated to the agent's work, for
    ``days`` calendar days from day index ``first``, among the agent's own hours of that day;
    ``ticketed_share`` of them under one of the agent's own tickets of the day (cover)."""
    mine = events[events.agent_id == agent]
    day = mine.timestamp.dt.strftime("%Y-%m-%d")
    rows, worked = [], []
    customers = events.customer_id.unique()
    for k in range(first, first + days):
        d = shift_day(START, k)
        today = mine[day == d]
        if len(today) < 20:
            continue
        worked.append(d)
        base = today.sample(per_day, replace=True, random_state=int(rng.integers(1 << 30)))
        tickets = today.ticket_id.dropna().unique()
        extra = base.copy()
        extra["timestamp"] = base.timestamp + pd.to_timedelta(rng.integers(5, 90, size=per_day), unit="s")
        extra["customer_id"] = rng.choice(customers, size=per_day)
        extra["action"] = "view"
        extra["resource"] = rng.choice(["profile", "id_document", "balance"], size=per_day)
        covered = rng.random(per_day) < ticketed_share
        extra["ticket_id"] = np.where(covered & (len(tickets) > 0), rng.choice(tickets, size=per_day) if len(tickets) else "", None)
        extra["event_id"] = [f"P{agent}{d}{i}" for i in range(per_day)]
        rows.append(extra)
    return pd.concat([events, *rows], ignore_index=True).sort_values("timestamp", kind="stable"), worked


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    """A clean simulated desk of 120 people over 50 days, with a drip of 15 views a day of
    unrelated customers (half under the agent's own tickets) for 20 days, and a two-week
    harvest of 60 a day by someone else; replayed with the default settings."""
    from detector.sources import read_roster
    from tests.conftest import load_events

    out = tmp_path_factory.mktemp("planted")
    run_simulation(SimulationSpec(agents=120, days=50, seed=23, insiders={}), out, show_progress=False)
    events = load_events(out / "events.csv.gz")
    roster = read_roster(out / "roster.csv")
    ordinary = roster[(roster.role == "agent") & (pd.to_datetime(roster.start_date) <= pd.Timestamp(START) - pd.Timedelta(days=30))].agent_id
    mine = events[events.agent_id.isin(ordinary)]
    per_day = mine.groupby(["agent_id", mine.timestamp.dt.strftime("%Y-%m-%d")]).size()
    active = per_day[per_day > 20].groupby(level=0).agg(["size", "median"])
    # typical agents: among those who work most days, the two whose daily volume is nearest
    # the desk's median
    steady = active[active["size"] >= active["size"].median()]
    typical = (steady["median"] - active["median"].median()).abs().sort_values(kind="stable")
    drip_agent, harvest_agent = typical.index[:2]
    rng = np.random.default_rng(5)
    events, drip_days = _plant(events, drip_agent, DRIP_FROM, DRIP_AGENT_DAYS, 15, rng, ticketed_share=0.5)
    events, harvest_days = _plant(events, harvest_agent, HARVEST_FROM, HARVEST_DAYS, 60, rng, ticketed_share=0.0)
    path = out / "planted.csv.gz"
    events.assign(timestamp=events.timestamp.dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")).to_csv(path, index=False)
    db = f"sqlite:///{out / 'iw.db'}"
    done = subprocess.run([*INSIDERWATCH, "-q", "--db", db, "replay", "--events", str(path), "--roster", str(out / "roster.csv"), "--show", "0"], capture_output=True, text=True)
    assert done.returncode in (0, 3), done.stderr[-2000:]
    return {"db": db, "drip": (drip_agent, drip_days), "harvest": (harvest_agent, harvest_days), "dir": Path(out)}


@pytest.mark.slow
def test_a_drip_of_15_views_a_day_is_flagged_within_its_first_week(planted):
    from detector.store import Store

    agent, days = planted["drip"]
    store = Store(planted["db"])
    alerts = store.alerts(days[0], days[-1])
    mine = alerts[(alerts.subject_type == "agent") & (alerts.subject_id == agent)]
    assert len(mine), f"the drip of {agent} was never alerted"
    first = mine.day.min()
    assert (pd.Timestamp(first) - pd.Timestamp(days[0])).days < 7, (first, days[0])
    # and the alert says what added up, in records
    reasons = " ".join(mine.sort_values("day").iloc[0].reasons)
    assert "over the last" in reasons and "than their own normal" in reasons, reasons


@pytest.mark.slow
def test_a_two_week_harvest_does_not_move_the_agents_own_baseline(planted):
    from detector.config import Config
    from detector.store import Store
    from pipelines.explain import scored_night

    agent, days = planted["harvest"]
    store = Store(planted["db"])
    # the first day whose baseline window [D-35, D-7) holds the whole harvest
    active = set(store.scores(days[-1], None).loc[lambda f: f.agent_id == agent, "day"])
    day = next(d for d in store.scored_days() if shift_day(d, -7) > days[-1] and d in active)
    feats = scored_night(store, Config(), day).features.set_index("agent_id").loc[agent]
    history = store.agent_days(shift_day(day, -35), shift_day(day, -7))
    own = history[history.agent_id == agent].set_index("day")["ticketless_views"]
    before = own[~own.index.isin(days)].median()
    with_harvest = own.median()
    assert with_harvest > before + 15  # what the median would have become
    assert abs(feats["ticketless_views__base"] - before) <= 0.1 * before + 2, (feats["ticketless_views__base"], before, with_harvest)


@pytest.mark.slow
def test_explain_and_the_report_show_the_evidence_of_the_last_days(planted, tmp_path):
    from detector.store import Store

    agent, days = planted["drip"]
    store = Store(planted["db"])
    alerts = store.alerts(days[0], days[-1])
    day = alerts[(alerts.subject_type == "agent") & (alerts.subject_id == agent)].day.min()
    said = subprocess.run([*INSIDERWATCH, "--db", planted["db"], "explain", agent, "--date", day], capture_output=True, text=True)
    assert said.returncode == 0, said.stderr
    assert "over days: over the last " in said.stdout and "days z" in said.stdout
    doc = subprocess.run([*INSIDERWATCH, "--db", planted["db"], "explain", agent, "--date", day, "--json"], capture_output=True, text=True)
    import json

    accumulated = json.loads(doc.stdout)["accumulated"]
    assert accumulated["window"] in (3, 7, 14) and accumulated["excess"] > 0 and accumulated["since"] <= day
    out = tmp_path / "report"
    made = subprocess.run([*INSIDERWATCH, "-q", "--db", planted["db"], "report", "--date", day, "--out", str(out)], capture_output=True, text=True)
    assert made.returncode == 0, made.stderr
    page = next(p for p in out.glob("agent-*.html") if agent in p.read_text())
    html = page.read_text()
    assert "Over the last days" in html and accumulated["sentence"].split(" (")[0] in html
    assert 'alt="The measure that carries the evidence' in html
