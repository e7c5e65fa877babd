"""The simulator: determinism, schema validity, each insider scenario as stated, and the
benign properties of a real desk that a naive detector trips over."""

from __future__ import annotations

import hashlib
import json
import subprocess

import numpy as np
import pandas as pd
import pytest

from detector import schema
from detector.errors import UsageError
from detector.simulator import INJECTORS, Simulation, SimulationSpec, parse_spec
from pipelines.simulate import run_simulation
from tests.conftest import INSIDERWATCH, load_events

KEY = ["timestamp", "agent_id", "customer_id", "action", "ticket_id", "resource"]


def digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --- determinism and format --------------------------------------------------------------
@pytest.mark.parametrize("fmt", ["csv.gz", "parquet"])
def test_same_seed_gives_identical_files(tmp_path, fmt):
    spec = SimulationSpec(agents=60, days=12, seed=3)
    a, b = tmp_path / "a", tmp_path / "b"
    run_simulation(spec, a, fmt=fmt, show_progress=False)
    run_simulation(spec, b, fmt=fmt, show_progress=False)
    for name in (f"events.{fmt}", "roster.csv", "labels.csv", "label_days.csv", "calendar.json"):
        assert digest(a / name) == digest(b / name), name
    other = tmp_path / "c"
    run_simulation(SimulationSpec(agents=60, days=12, seed=4), other, fmt=fmt, show_progress=False)
    assert digest(a / f"events.{fmt}") != digest(other / f"events.{fmt}")


def test_parquet_and_csv_hold_the_same_events(tmp_path):
    spec = SimulationSpec(agents=40, days=8, seed=5)
    run_simulation(spec, tmp_path / "c", fmt="csv.gz", show_progress=False)
    run_simulation(spec, tmp_path / "p", fmt="parquet", show_progress=False)
    c = load_events(tmp_path / "c" / "events.csv.gz")
    p = load_events(tmp_path / "p" / "events.parquet")
    pd.testing.assert_frame_equal(c, p)


def test_every_row_is_valid_canonical(sim_dir, sim_events):
    raw = pd.read_csv(sim_dir / "events.csv.gz", dtype=str, keep_default_na=False)
    assert list(raw.columns) == list(schema.EVENT_COLUMNS)
    assert len(sim_events) == len(raw)  # load_events asserts zero rejects
    assert set(sim_events.action) <= set(schema.KNOWN_ACTIONS)
    assert set(sim_events.resource.dropna()) <= set(schema.KNOWN_RESOURCES)
    assert set(sim_events.customer_tier) == {"standard", "high_value"}
    assert raw.timestamp.str.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z").all()
    roster = pd.read_csv(sim_dir / "roster.csv", dtype=str, keep_default_na=False)
    assert list(roster.columns) == list(schema.ROSTER_COLUMNS)
    assert set(sim_events.agent_id) <= set(roster.agent_id)
    assert set(roster.role) == set(schema.ROLES)


# --- insiders ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def injected(sim_events, sim_clean_events) -> pd.DataFrame:
    """The events present with insiders and absent without: exactly what was injected
    (benign work does not depend on the insiders)."""

    def counted(frame):
        frame = frame.drop_duplicates("event_id")[KEY].fillna({"ticket_id": "", "resource": ""})
        frame = frame.assign(n=frame.groupby(KEY, dropna=False).cumcount())
        return frame

    a, b = counted(sim_events), counted(sim_clean_events)
    merged = a.merge(b, on=KEY + ["n"], how="left", indicator=True)
    extra = merged[merged["_merge"] == "left_only"].drop(columns=["_merge", "n"])
    missing = b.merge(a, on=KEY + ["n"], how="left", indicator=True)
    assert (missing["_merge"] == "both").all(), "benign events changed when insiders were added"
    extra["day"] = extra.timestamp.dt.strftime("%Y-%m-%d")
    return extra


@pytest.fixture(scope="module")
def labels(sim_dir):
    return pd.read_csv(sim_dir / "labels.csv", dtype=str)


@pytest.fixture(scope="module")
def label_days(sim_dir):
    return pd.read_csv(sim_dir / "label_days.csv", dtype={"agent_id": str, "day": str})


def test_default_mix_has_every_scenario_with_clean_history(labels, sim_roster):
    # the adversaries of issue 16 join from 300 agents up (the sample desk stays as it was)
    assert set(labels.scenario) == set(INJECTORS) - {"fake_tickets", "decoy", "decoyed", "ramp"}
    start = pd.Timestamp("2026-01-05")
    for row in labels.itertuples():
        first = pd.Timestamp(row.start_day)
        if row.scenario == "new_hire":
            hired = pd.Timestamp(sim_roster.set_index("agent_id").start_date[row.agent_id])
            # UTC day of the first harvest: a site east of UTC starts the day before locally
            assert first >= start and -1 <= (first - hired).days <= 5
        else:
            assert (first - start).days >= 10, row


def test_injected_events_only_for_labelled_agents_and_days(injected, label_days):
    counted = injected.groupby(["agent_id", "day"]).size().rename("n").reset_index()
    merged = counted.merge(label_days, on=["agent_id", "day"], how="outer")
    assert merged.n.notna().all() and merged.exfil_events.notna().all()
    assert (merged.n == merged.exfil_events).all()


def _per_work_day(injected, labels, scenario):
    agents = labels.agent_id[labels.scenario == scenario]
    ev = injected[injected.agent_id.isin(agents)]
    assert len(ev), scenario
    # a night shift spreads one working day over two UTC days: count by 16-hour gaps
    ev = ev.sort_values(["agent_id", "timestamp"])
    gap = ev.groupby("agent_id").timestamp.diff() > pd.Timedelta(hours=12)
    ev = ev.assign(workday=gap.groupby(ev.agent_id).cumsum())
    return ev, ev.groupby(["agent_id", "workday"]).size()


@pytest.mark.parametrize(
    "scenario,low,high",
    [
        ("bulk", 150, 220),
        ("drip", 10, 20),
        ("ring", 40, 80),
        ("covered", 60, 115),
        ("targeted", 25, 35),
        ("off_hours", 60, 100),
        ("new_hire", 60, 120),
        ("enumeration", 70, 90),
    ],
)
def test_scenario_magnitudes(injected, labels, scenario, low, high):
    _, per_day = _per_work_day(injected, labels, scenario)
    assert per_day.between(low, high).all(), per_day.describe()


def test_bulk_is_ticketless_documents(injected, labels):
    ev, _ = _per_work_day(injected, labels, "bulk")
    assert (ev.ticket_id == "").all()
    assert set(ev.resource) <= {"id_document", "profile", "address"}
    assert (ev.resource == "id_document").mean() > 0.35


def test_covered_views_hide_under_own_unrelated_tickets(injected, labels, sim_clean_events):
    ev, _ = _per_work_day(injected, labels, "covered")
    assert (ev.ticket_id != "").all()
    benign = sim_clean_events.dropna(subset=["ticket_id"])
    own = benign[["agent_id", "ticket_id"]].drop_duplicates()
    assert len(ev.merge(own, on=["agent_id", "ticket_id"])) == len(ev)
    ticket_customers = benign[["ticket_id", "customer_id"]].drop_duplicates()
    related = ev.merge(ticket_customers, on=["ticket_id", "customer_id"])
    assert len(related) / len(ev) < 0.01


def test_drip_partly_under_own_tickets(injected, labels):
    ev, _ = _per_work_day(injected, labels, "drip")
    share = (ev.ticket_id != "").mean()
    assert 0.3 < share < 0.7


def test_targeted_takes_high_value_balances(injected, labels, sim_events):
    ev, _ = _per_work_day(injected, labels, "targeted")
    assert set(ev.resource) == {"balance", "transactions"}
    tiers = sim_events.drop_duplicates("customer_id").set_index("customer_id").customer_tier
    assert (tiers[ev.customer_id] == "high_value").all()


def test_off_hours_after_the_shift(injected, labels, sim_clean_events):
    ev, _ = _per_work_day(injected, labels, "off_hours")
    agent = ev.agent_id.iloc[0]
    own = sim_clean_events[sim_clean_events.agent_id == agent].timestamp
    local_hours = lambda ts: (ts.dt.hour + ts.dt.minute / 60.0) % 24  # noqa: E731
    usual = local_hours(own)
    harvest = local_hours(ev[ev.agent_id == agent].timestamp)
    # most of the harvest falls in hours when the agent normally does almost nothing
    busy_hours = usual.round().value_counts(normalize=True)
    share_in_quiet = harvest.round().map(busy_hours).fillna(0).lt(0.01).mean()
    assert share_in_quiet > 0.8


def test_ring_is_a_team_lead_and_team_members_with_staggered_starts(labels, sim_roster):
    ring = labels[labels.scenario == "ring"].merge(sim_roster, on="agent_id")
    assert len(ring) >= 4
    assert ring.team.nunique() == 1
    assert (ring.role == "team_lead").sum() == 1
    assert ring.start_day.nunique() >= 3


def test_enumeration_walks_consecutive_ids(injected, labels):
    ev, _ = _per_work_day(injected, labels, "enumeration")
    for _, day in ev.groupby(["agent_id", "workday"]):
        day = day.sort_values("timestamp")
        assert day.action.iloc[0] == "search"
        numbers = day.customer_id.str[1:].astype(int).to_numpy()
        assert (np.diff(numbers[1:]) == 1).all()


def test_insider_spec_parsing():
    assert parse_spec("none", 500, 60) == {}
    assert parse_spec("bulk=2, ring", 500, 60) == {"bulk": 2, "ring": 1}
    assert set(parse_spec("default", 500, 60)) == set(INJECTORS) - {"decoyed"}  # planned with "decoy"
    assert "ramp" not in parse_spec("default", 200, 35)
    with pytest.raises(UsageError, match="unknown insider scenario 'bulky'"):
        parse_spec("bulky=1", 500, 60)
    with pytest.raises(UsageError):
        parse_spec("bulk=x", 500, 60)


def test_counts_asked_for_are_placed(tmp_path):
    sim = Simulation(SimulationSpec(agents=600, days=40, seed=2, insiders={"bulk": 3, "ring": 2, "new_hire": 2}))
    for _ in sim.chunks():
        pass
    labels = sim.labels()
    assert (labels.scenario == "bulk").sum() == 3
    assert (labels.scenario == "new_hire").sum() == 2
    ring_teams = labels[labels.scenario == "ring"].agent_id.map(sim.roster.set_index("agent_id").team)
    assert ring_teams.nunique() == 2


# --- benign desk -------------------------------------------------------------------------
@pytest.fixture(scope="module")
def agent_days(sim_clean_events, sim_roster):
    ev = sim_clean_events.drop_duplicates("event_id")
    ev = ev.assign(day=ev.timestamp.dt.floor("D"))
    per = ev.groupby(["agent_id", "day"]).agg(events=("action", "size"), customers=("customer_id", "nunique"))
    return per.reset_index().merge(sim_roster, on="agent_id")


def test_desk_structure(sim_roster):
    assert sim_roster.vendor.nunique() >= 3 and "inhouse" in set(sim_roster.vendor)
    assert sim_roster.timezone.nunique() >= 3
    sizes = sim_roster.groupby("team").size()
    assert sizes.between(10, 16).mean() > 0.9
    leads = sim_roster[sim_roster.role == "team_lead"].groupby("team").size()
    assert (leads == 1).all() and len(leads) == sim_roster.team.nunique()
    assert (sim_roster.start_date > "2026-01-05").any()  # new hires join
    assert (sim_roster.end_date != "").any()  # people leave


def test_kyc_tickets_cover_many_customers(sim_clean_events, sim_roster):
    ev = sim_clean_events.dropna(subset=["ticket_id"]).merge(sim_roster[["agent_id", "role"]], on="agent_id")
    per_ticket = ev.groupby(["role", "ticket_id"]).customer_id.nunique().groupby("role").median()
    assert per_ticket["kyc_specialist"] >= 8
    assert per_ticket["agent"] <= 1.5
    kyc_docs = ev[(ev.role == "kyc_specialist") & (ev.resource == "id_document")]
    assert kyc_docs.groupby("agent_id").customer_id.nunique().median() > 300


def test_roles_look_different(sim_clean_events, sim_roster):
    ev = sim_clean_events.merge(sim_roster[["agent_id", "role", "team"]], on="agent_id")
    owner = ev[ev.action == "note"].drop_duplicates("ticket_id").set_index("ticket_id").agent_id
    qa = ev[(ev.role == "qa_reviewer") & ev.ticket_id.notna()]
    assert (qa.ticket_id.map(owner) != qa.agent_id).mean() > 0.9  # QA opens others' tickets
    tl = ev[(ev.role == "team_lead") & ev.ticket_id.notna() & (ev.resource == "ticket") & (ev.action == "view")]
    tl_owner_team = tl.ticket_id.map(owner).map(sim_roster.set_index("agent_id").team)
    assert (tl_owner_team.dropna() == tl.team[tl_owner_team.notna()]).mean() > 0.95  # their own team's tickets
    esc = ev[ev.role == "escalations"]
    rest = ev[ev.role == "agent"]
    assert (esc.customer_tier == "high_value").mean() > 0.5 > (rest.customer_tier == "high_value").mean() * 5
    ticketless = ev[ev.role == "agent"].ticket_id.isna().mean()
    assert 0.005 < ticketless < 0.05  # a few legitimate look-ups without a ticket


def test_workloads_differ_widely(agent_days):
    typical = agent_days[agent_days.role == "agent"].groupby("agent_id").events.median()
    assert typical.quantile(0.9) / typical.quantile(0.1) > 2.0


def test_weekends_are_quieter(agent_days):
    per_day = agent_days.groupby("day").events.sum()
    weekend = per_day[per_day.index.day_of_week >= 5]
    weekday = per_day[per_day.index.day_of_week < 5]
    assert weekend.mean() < 0.6 * weekday.median()


def test_busy_days_lift_everyone(sim_dir, agent_days):
    notes = json.loads((sim_dir / "calendar.json").read_text())
    assert notes["busy_days"]
    normal = agent_days.groupby("agent_id").events.median()
    for day in notes["busy_days"]:
        # the working day of the Asian sites starts the UTC day before: look at both
        on = agent_days[agent_days.day.isin([pd.Timestamp(day, tz="UTC")])]
        lift = (on.set_index("agent_id").events / normal).dropna()
        assert lift.median() > 1.6
        assert (lift > 1.2).mean() > 0.75


def test_backlog_week_lifts_one_queue(sim_dir, agent_days):
    backlog = json.loads((sim_dir / "calendar.json").read_text())["backlog"]
    inside = agent_days.day.between(pd.Timestamp(backlog["first_day"], tz="UTC"), pd.Timestamp(backlog["last_day"], tz="UTC"))
    queue = agent_days.team.isin(backlog["teams"])
    lifted = agent_days[queue & inside].groupby("agent_id").events.median() / agent_days[queue & ~inside].groupby("agent_id").events.median()
    others = (
        agent_days[~queue & inside & (agent_days.role == "agent")].groupby("agent_id").events.median() / agent_days[~queue & ~inside & (agent_days.role == "agent")].groupby("agent_id").events.median()
    )
    assert lifted.median() > 1.4 > others.median()


def test_new_hires_ramp_up(agent_days, sim_roster):
    hires = sim_roster[(sim_roster.start_date >= "2026-01-08") & (sim_roster.start_date <= "2026-01-20") & (sim_roster.role == "agent")]
    assert len(hires)
    ratios = []
    for row in hires.itertuples():
        days = agent_days[agent_days.agent_id == row.agent_id].sort_values("day")
        if len(days) >= 12:
            ratios.append(days.events.iloc[:3].mean() / days.events.iloc[-5:].mean())
    assert ratios and np.median(ratios) < 0.7


def test_data_quirks_duplicates_and_disorder(sim_events):
    dup_share = sim_events.duplicated().mean()
    assert 0.0005 < dup_share < 0.01
    ts = sim_events.timestamp.to_numpy()
    backwards = (ts[1:] < ts[:-1]).mean()
    assert 0.001 < backwards < 0.05


def test_shifts_cross_time_zones(sim_clean_events, sim_roster):
    ev = sim_clean_events.merge(sim_roster[["agent_id", "site"]], on="agent_id")
    peak_hour = ev.groupby("site").timestamp.apply(lambda t: t.dt.hour.mode().iloc[0])
    assert peak_hour.nunique() >= 3  # sites work at different UTC hours


# --- the command -------------------------------------------------------------------------
def test_cli_simulate_writes_files(tmp_path):
    out = tmp_path / "cli"
    proc = subprocess.run(
        [*INSIDERWATCH, "simulate", "--agents", "30", "--days", "3", "--seed", "1", "--out", str(out), "--insiders", "bulk=1"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    assert "wrote" in proc.stdout
    for name in ("events.csv.gz", "roster.csv", "labels.csv", "label_days.csv"):
        assert (out / name).stat().st_size > 0


def test_cli_rejects_bad_spec(tmp_path):
    proc = subprocess.run(
        [*INSIDERWATCH, "simulate", "--out", str(tmp_path / "x"), "--insiders", "exfil=3"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert "unknown insider scenario 'exfil'" in proc.stderr
    assert not (tmp_path / "x" / "events.csv.gz").exists()


def test_sample_logs_regenerate_from_their_documented_command(tmp_path):
    """sample_logs/ is exactly what `insiderwatch simulate --agents 200 --days 35 --seed 7`
    writes (events compared decompressed, so a different zlib build cannot fail it)."""
    import gzip
    from pathlib import Path

    sample = Path(__file__).resolve().parents[1] / "sample_logs"
    run_simulation(SimulationSpec(agents=200, days=35, seed=7), tmp_path, show_progress=False)
    for name in ("roster.csv", "labels.csv", "label_days.csv", "calendar.json"):
        assert (tmp_path / name).read_bytes() == (sample / name).read_bytes(), name
    fresh = hashlib.sha256(gzip.decompress((tmp_path / "events.csv.gz").read_bytes())).hexdigest()
    committed = hashlib.sha256(gzip.decompress((sample / "events.csv.gz").read_bytes())).hexdigest()
    assert fresh == committed


# --- issue 16's adversaries --------------------------------------------------------------
@pytest.fixture(scope="module")
def adversaries(tmp_path_factory):
    """A small desk with the three adversaries who know the detector, and the same desk
    without them: what they add is exactly the difference."""
    with_them, without = tmp_path_factory.mktemp("adv"), tmp_path_factory.mktemp("adv-clean")
    spec = dict(agents=80, days=40, seed=7)
    run_simulation(SimulationSpec(**spec, insiders={"fake_tickets": 1, "decoy": 1, "ramp": 1}), with_them, show_progress=False)
    run_simulation(SimulationSpec(**spec, insiders={}), without, show_progress=False)
    a, b = load_events(with_them / "events.csv.gz"), load_events(without / "events.csv.gz")
    labels = pd.read_csv(with_them / "labels.csv", dtype=str)
    return a, b, labels


def test_adversaries_are_labelled_and_leave_the_benign_desk_alone(adversaries):
    a, b, labels = adversaries
    assert sorted(labels.scenario) == ["decoy", "decoyed", "fake_tickets", "ramp"]
    insiders = set(labels.agent_id)
    key = ["agent_id", "timestamp", "customer_id", "resource"]
    # the log's duplicate rows are drawn over all of a day's rows: compare without them
    benign_a = a.drop_duplicates("event_id").loc[lambda f: ~f.agent_id.isin(insiders), key].fillna("").sort_values(key).reset_index(drop=True)
    benign_b = b.drop_duplicates("event_id").loc[lambda f: ~f.agent_id.isin(insiders), key].fillna("").sort_values(key).reset_index(drop=True)
    pd.testing.assert_frame_equal(benign_a, benign_b)


def test_fake_tickets_put_every_harvested_customer_under_a_ticket_of_its_own(adversaries):
    a, b, labels = adversaries
    agent = labels.agent_id[labels.scenario == "fake_tickets"].iloc[0]
    real = set(b.ticket_id.dropna())
    mine = a[(a.agent_id == agent) & a.ticket_id.notna() & ~a.ticket_id.isin(real)]
    assert len(mine) > 100
    per_ticket = mine.groupby("ticket_id").customer_id.nunique()
    assert (per_ticket == 1).all()  # one customer per fake ticket: never "unrelated to the ticket"
    assert mine.ticket_id.str.len().eq(b.ticket_id.dropna().str.len().iloc[0]).all()  # they look like the desk's own
    days = mine.groupby(mine.timestamp.dt.strftime("%Y-%m-%d")).customer_id.nunique()
    assert days.between(40, 80).all(), days


def test_decoy_spikes_on_the_nights_its_accomplice_harvests(adversaries):
    a, b, labels = adversaries
    lab = labels.set_index("scenario")
    loud, quiet = lab.loc["decoy", "agent_id"], lab.loc["decoyed", "agent_id"]
    assert lab.loc["decoy", "start_day"] <= lab.loc["decoyed", "end_day"]
    day = lambda f: f.timestamp.dt.strftime("%Y-%m-%d")  # noqa: E731
    extra = lambda agent: a[a.agent_id == agent].groupby(day(a[a.agent_id == agent])).size().sub(b[b.agent_id == agent].groupby(day(b[b.agent_id == agent])).size(), fill_value=0)  # noqa: E731
    loud_extra, quiet_extra = extra(loud), extra(quiet)
    spikes = loud_extra[loud_extra > 200].index
    assert len(spikes) >= 3 and quiet_extra.reindex(spikes).fillna(0).gt(0).mean() >= 0.5


def test_ramp_grows_by_two_or_three_views_a_working_day(adversaries):
    a, b, labels = adversaries
    agent = labels.agent_id[labels.scenario == "ramp"].iloc[0]
    day = lambda f: f.timestamp.dt.strftime("%Y-%m-%d")  # noqa: E731
    mine_a, mine_b = a[a.agent_id == agent], b[b.agent_id == agent]
    extra = mine_a.groupby(day(mine_a)).size().sub(mine_b.groupby(day(mine_b)).size(), fill_value=0)
    extra = extra[extra > 0]
    assert len(extra) >= 10
    steps = np.diff(extra.to_numpy()) / 1.0
    assert 1.5 <= np.median(steps) <= 3.5 and extra.iloc[0] <= 6 and extra.iloc[-1] >= 25
