"""The pure stages on tiny inline frames: aggregate, features, model registry, alerts."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from detector import alerts as al
from detector import features as ft
from detector import model as md
from detector import schema
from detector.aggregate import AGENT_DAY_COLUMNS, HOURS, aggregate, touched
from detector.config import Config, from_dict
from detector.errors import UsageError
from detector.history import skip_high_days
from detector.novelty import novelty_counts


def events(rows):
    """Canonical events from (timestamp, agent, customer, action, ticket, resource, tier)."""
    cols = ["timestamp", "agent_id", "customer_id", "action", "ticket_id", "resource", "customer_tier"]
    frame = pd.DataFrame(rows, columns=cols)
    return schema.validate(frame).accepted


def test_first_time_seen_counts_against_the_agent_and_the_team():
    ev = events(
        [
            ("2026-01-05T09:00:00Z", "a1", "C1", "view", "T1", "profile", ""),
            ("2026-01-05T09:10:00Z", "a1", "C2", "view", "T2", "profile", ""),
            ("2026-01-05T09:20:00Z", "b1", "C3", "view", "T3", "profile", ""),  # a1's teammate
            ("2026-01-05T09:30:00Z", "x1", "C4", "view", "T4", "profile", ""),  # another team
            ("2026-01-06T09:00:00Z", "a1", "C1", "view", "T1", "balance", ""),  # seen by a1 before
            ("2026-01-06T09:00:05Z", "a1", "C1", "note", "T1", "ticket", ""),
            ("2026-01-06T09:10:00Z", "a1", "C3", "view", "", "profile", ""),  # seen by the team only
            ("2026-01-06T09:20:00Z", "a1", "C4", "view", "", "profile", ""),  # seen by another team only
            ("2026-01-06T09:30:00Z", "a1", "C5", "view", "", "profile", ""),  # never seen
            ("2026-01-06T09:40:00Z", "b1", "C3", "view", "T3", "profile", ""),
        ]
    )
    day1, day2 = touched(ev)
    assert (day1.day, day2.day) == ("2026-01-05", "2026-01-06")
    assert dict(zip(day2.agents, day2.counts)) == {"a1": 4, "b1": 1}
    teams = {"a1": "T-A", "b1": "T-A", "x1": "T-X"}
    got = novelty_counts(day2, [day1], teams).set_index("agent_id")
    assert got.loc["a1"].tolist() == [3, 2]  # new to a1: C3 C4 C5; new to team T-A: C4 C5
    assert got.loc["b1"].tolist() == [0, 0]  # b1 had C3 on day 1
    # without a roster the whole desk is one team; without history everything is new
    assert novelty_counts(day2, [day1]).set_index("agent_id").loc["a1"].tolist() == [3, 1]
    assert novelty_counts(day2, []).set_index("agent_id").loc["a1"].tolist() == [4, 4]


def test_aggregate_counts_one_agent_day():
    ev = events(
        [
            ("2026-01-05T09:00:00Z", "a1", "C1000010", "search", "T1", "", "standard"),
            ("2026-01-05T09:00:10Z", "a1", "C1000010", "view", "T1", "profile", "standard"),
            ("2026-01-05T09:00:20Z", "a1", "C1000010", "view", "T1", "balance", "high_value"),
            ("2026-01-05T09:01:00Z", "a1", "C1000099", "view", "T1", "id_document", "standard"),  # unrelated to T1
            ("2026-01-05T10:00:00Z", "a1", "C1000011", "view", "", "address", "standard"),
            ("2026-01-05T10:00:05Z", "a1", "C1000012", "view", "", "profile", "standard"),
            ("2026-01-05T22:00:00Z", "a1", "C1000012", "note", "T2", "ticket", "standard"),
            ("2026-01-05T11:00:00Z", "a2", "C1000010", "export", "", "", "standard"),
            ("2026-01-06T01:00:00Z", "a1", "C1000010", "view", "T1", "profile", "standard"),
        ]
    )
    out = aggregate(ev, timezones={"a1": "Asia/Manila"})
    assert list(out.columns) == AGENT_DAY_COLUMNS
    a1 = out[(out.agent_id == "a1") & (out.day == "2026-01-05")].iloc[0]
    assert a1.events == 7 and a1.views == 5 and a1.customers == 4 and a1.tickets == 2
    assert a1.ticketless_views == 2 and a1.ticketless_customers == 2
    assert a1.off_primary_views == 1  # C1000099 under T1 whose main customer is C1000010
    assert a1.id_document_views == 1 and a1.address_views == 1 and a1.financial_views == 1
    assert a1.high_value_views == 1 and a1.searches == 1 and a1.edits == 1
    assert a1.sequential_customers == 3  # C1000010 -> 11 -> 12: a run of three
    # hours are local (Manila, UTC+8): 09:00Z is 17h, 22:00Z is 06h next local day
    assert a1.h17 == 4 and a1.h18 == 2 and a1.h06 == 1 and sum(a1[h] for h in HOURS) == 7
    assert a1.first_seen == 9 * 60 and a1.last_seen == 22 * 60
    a2 = out[out.agent_id == "a2"].iloc[0]
    assert a2.exports == 1 and a2.views == 0 and a2.h11 == 1  # no roster zone: UTC
    assert len(out) == 3


def test_aggregate_empty():
    out = aggregate(schema.empty_events())
    assert out.empty and list(out.columns) == AGENT_DAY_COLUMNS


def test_outside_shift_ignores_a_moved_shift_but_counts_after_hours():
    frame = pd.DataFrame([dict.fromkeys(HOURS, 0) for _ in range(3)])
    frame.loc[0, [f"h{h:02d}" for h in range(8, 17)]] = 20  # a day shift
    frame.loc[1, [f"h{h:02d}" for h in list(range(22, 24)) + list(range(0, 7))]] = 20  # a night shift
    frame.loc[2, [f"h{h:02d}" for h in range(8, 17)]] = 20
    frame.loc[2, ["h19", "h20"]] = 40  # harvesting after the shift
    assert ft.outside_shift_events(frame).tolist() == [0, 0, 80]


def _agent_day(day, agent, **counts):
    row = dict.fromkeys(AGENT_DAY_COLUMNS[2:], 0)
    row.update({"day": day, "agent_id": agent, "h09": counts.get("events", 100)})
    row.update(counts)
    return row


def _desk(days, agents, spike=None, desk_mult=None):
    """Agent-days for a steady desk; spike = (agent, day, {metric: value})."""
    rng = np.random.default_rng(0)
    rows = []
    for d in days:
        for a in agents:
            mult = (desk_mult or {}).get(d, 1.0)
            views = int(rng.normal(150, 10) * mult)
            row = _agent_day(d, a, events=views + 20, views=views, customers=views // 3, ticketless_views=int(rng.integers(1, 5) * mult))
            if spike and spike[0] == a and spike[1] == d:
                row.update(spike[2])
            rows.append(row)
    return pd.DataFrame(rows)


DAYS = [f"2026-01-{d:02d}" for d in range(1, 32)]
AGENTS = [f"a{i:02d}" for i in range(20)]


def test_features_personal_excess_and_peer_fallback():
    frame = _desk(DAYS, AGENTS, spike=("a03", "2026-01-31", {"ticketless_views": 180, "views": 330}))
    frame = pd.concat([frame, pd.DataFrame([_agent_day("2026-01-31", "new", events=200, views=180, ticketless_views=120)])])
    history, today = frame[frame.day < "2026-01-31"], frame[frame.day == "2026-01-31"]
    f = ft.compute(history, today, day="2026-01-31").set_index("agent_id")
    assert f.loc["a03", "ticketless_views__own"] > 10
    assert f.loc["a03", "ticketless_views__z"] == f.loc["a03", "ticketless_views__own"]
    assert abs(f.loc["a05", "ticketless_views__own"]) < 3
    # no history: the model sees the peer comparison
    assert f.loc["new", "history_days"] == 0 and np.isnan(f.loc["new", "ticketless_views__own"])
    assert f.loc["new", "ticketless_views__z"] == f.loc["new", "ticketless_views__peer"] > 5
    X = ft.model_inputs(f.reset_index())
    assert (X.to_numpy() >= 0).all() and list(X.columns) == ft.model_input_names()


def test_features_baseline_is_lagged():
    frame = _desk(DAYS, AGENTS)
    # a ramp in the last few days must not raise the agent's own baseline
    frame.loc[(frame.agent_id == "a01") & (frame.day >= "2026-01-26"), "ticketless_views"] = 100
    f = ft.compute(frame[frame.day < "2026-01-31"], frame[frame.day == "2026-01-31"], day="2026-01-31").set_index("agent_id")
    assert f.loc["a01", "ticketless_views__base"] < 5
    assert f.loc["a01", "ticketless_views__own"] > 5


def test_desk_wide_busy_day_is_not_personal():
    frame = _desk(DAYS, AGENTS, desk_mult={"2026-01-31": 2.5})
    roster = pd.DataFrame({"agent_id": AGENTS, "team": ["T1"] * 10 + ["T2"] * 10, "role": "agent"})
    f = ft.compute(frame[frame.day < "2026-01-31"], frame[frame.day == "2026-01-31"], day="2026-01-31", roster=roster)
    assert f["views__own_raw" if "views__own_raw" in f else "views__own"].abs().max() < 3
    assert f["views__z"].abs().max() < 3


def test_role_peers_make_a_roles_normal_work_normal():
    frame = _desk(DAYS[-1:], AGENTS)
    frame.loc[frame.agent_id.isin(AGENTS[:5]), "id_document_views"] = 120  # KYC work
    frame.loc[~frame.agent_id.isin(AGENTS[:5]), "id_document_views"] = 5
    roster = pd.DataFrame({"agent_id": AGENTS, "team": ["K"] * 5 + ["G"] * 15, "role": ["kyc_specialist"] * 5 + ["agent"] * 15})
    f = ft.compute(frame.iloc[:0], frame, day=DAYS[-1], roster=roster).set_index("agent_id")
    assert f.loc[AGENTS[:5], "id_document_views__z"].abs().max() < 1


def test_a_kyc_like_peer_group_absorbs_its_own_normal_work():
    """A coarse roster calls everyone "agent". Six of them do KYC work (40% of their views
    are identity documents) and work one day a week, too few days for a personal baseline,
    so the model sees them against their peers. The people who do the same work are those
    peers: their normal day is normal, while a generalist opening as many documents, and a
    KYC reviewer opening far more than KYC reviewers do, still stand out."""
    rng = np.random.default_rng(3)
    day = DAYS[-1]
    kyc = [f"k{i}" for i in range(6)]
    general = [f"g{i:02d}" for i in range(24)]
    rows = []
    for j, d in enumerate(DAYS):
        for a in general + kyc:
            if a in kyc and j % 7 != 2 and d != day:
                continue  # part-timers: one day a week
            views = int(rng.normal(150, 10))
            docs = int(rng.normal(60, 6)) if a in kyc else int(rng.integers(2, 7))
            rows.append(_agent_day(d, a, events=views + 20, views=views, customers=views // 3, ticketless_views=int(rng.integers(1, 5)), id_document_views=docs))
    frame = pd.DataFrame(rows)
    today = frame["day"] == day
    frame.loc[today & (frame.agent_id == "g00"), "id_document_views"] = 60  # a generalist doing KYC's work
    harvester = today & (frame.agent_id == "k0")  # a KYC reviewer harvesting what KYC opens anyway
    frame.loc[harvester, ["views", "events", "id_document_views"]] = [450, 470, 330]
    # teams cut across the work, so the team is no proxy for it
    roster = pd.DataFrame({"agent_id": general + kyc, "team": [f"T{i % 3}" for i in range(30)], "role": "agent"})
    history, today_rows = frame[frame.day < day], frame[today]
    f = ft.compute(history, today_rows, day=day, roster=roster).set_index("agent_id")
    by_role = ft.compute(history, today_rows, day=day, roster=roster, work=np.full(30, "agent", dtype=object)).set_index("agent_id")

    quiet = kyc[1:]
    assert (f.loc[kyc, "history_days"] < ft.FeatureSettings().min_history).all()  # peers decide
    assert (f.loc[kyc, ft.PEER_GROUP] == "agent | id_document_views").all()
    assert (f.loc[general, ft.PEER_GROUP] == "agent").all()
    assert f.loc[quiet, "id_document_views__z"].max() < 1.0  # absorbed by the people who do that work
    assert by_role.loc[quiet, "id_document_views__z"].min() > 5.0  # against the coarse role it was not
    assert f.loc["g00", "id_document_views__z"] > 5.0  # a generalist is compared with generalists
    assert f.loc["k0", "views__z"] > 5.0 and f.loc["k0", "id_document_views__z"] > 2.0  # more than KYC does
    assert ft.peer_words("agent | id_document_views") == "the people of their role (agent) whose work is also mostly identity document views"
    # a new hire does the work of the team they joined
    hires = pd.DataFrame([_agent_day(day, a, events=170, views=150, customers=50, id_document_views=60) for a in ("newk", "newg")])
    team_of = {**{a: "TK" for a in kyc + ["newk"]}, **{a: f"T{i % 3}" for i, a in enumerate(general + ["newg"])}}
    roster2 = pd.DataFrame({"agent_id": list(team_of), "team": list(team_of.values()), "role": "agent"})
    f2 = ft.compute(history, pd.concat([today_rows, hires]), day=day, roster=roster2).set_index("agent_id")
    assert f2.loc["newk", ft.PEER_GROUP] == "agent | id_document_views" and f2.loc["newk", "id_document_views__z"] < 1.0
    assert f2.loc["newg", ft.PEER_GROUP] == "agent" and f2.loc["newg", "id_document_views__z"] > 5.0
    # one agent alone cannot make their own work a group
    lone = history.copy()
    lone.loc[lone.agent_id == "g01", "ticketless_views"] = 90
    assert ft.compute(lone, today_rows, day=day, roster=roster).set_index("agent_id").loc["g01", ft.PEER_GROUP] == "agent"


@pytest.mark.parametrize("name", sorted(md.DETECTORS))
def test_every_registered_detector_honours_the_contract(name):
    rng = np.random.default_rng(1)
    X = np.abs(rng.normal(0, 1, size=(400, 5)))
    outlier = np.array([[8.0, 2.5, 2.5, 2.5, 2.5]])
    settings = md.ModelSettings(name=name, seed=3)
    fitted = md.fit(settings, X)
    scores = fitted.raw(np.vstack([X[:50], outlier]))
    assert scores[-1] > np.percentile(scores[:-1], 95)  # higher = more anomalous
    assert fitted.calibrated(scores[-1:])[0] > 1.5
    again = md.fit(settings, X).raw(outlier)
    assert np.allclose(again, fitted.raw(outlier))  # seeded: same input, same scores
    # attribution names the one feature that is out of line (others at their typical value)
    single = np.array([[8.0, *np.median(X, axis=0)[1:]]])
    contrib = fitted.attribute(single)
    assert contrib.shape == (1, 5) and np.argmax(contrib[0]) == 0 and contrib[0, 0] > 0


def test_unknown_detector_is_a_usage_error():
    with pytest.raises(UsageError, match="unknown model"):
        md.make_detector(md.ModelSettings(name="magic"))


def test_budget_threshold_and_rank():
    scored = pd.DataFrame({"agent_id": [f"a{i}" for i in range(400)], "score": np.linspace(0, 3, 400), "raw_score": np.linspace(0, 1, 400)})
    settings = al.AlertSettings(budget_fraction=0.005, threshold=2.0)
    out = al.rank_and_flag(scored, settings=settings)
    assert settings.budget(400) == 2
    assert out.flagged.sum() == 2 and set(out[out.flagged].agent_id) == {"a399", "a398"}
    assert out.set_index("agent_id").loc["a399", "rank"] == 1
    quiet = al.rank_and_flag(scored.assign(score=1.0), settings=settings)
    assert quiet.flagged.sum() == 0  # nothing above the threshold: no alert, whatever the budget


def test_alert_key_is_stable_and_distinct():
    a = al.alert_key("agent", "A1", "2026-01-05", "v1")
    assert a == al.alert_key("agent", "A1", "2026-01-05", "v1")
    assert len({a, al.alert_key("agent", "A1", "2026-01-06", "v1"), al.alert_key("team", "A1", "2026-01-05", "v1"), al.alert_key("agent", "A1", "2026-01-05", "v2")}) == 4


def test_reasons_state_numbers_that_agree_with_the_features():
    frame = _desk(DAYS, AGENTS, spike=("a03", "2026-01-31", {"ticketless_views": 180, "views": 330}))
    roster = pd.DataFrame({"agent_id": AGENTS, "team": "T-12", "role": "agent"})
    f = ft.compute(frame[frame.day < "2026-01-31"], frame[frame.day == "2026-01-31"], day="2026-01-31", roster=roster)
    row = f.set_index("agent_id").loc["a03"].copy()
    row["agent_id"] = "a03"
    sentences = al.reason_sentences(row, {"ticketless_views__z": 0.2, "views__z": 0.05, "address_views__z": -0.1})
    assert sentences[0].startswith("180 views without a ticket")
    assert "their own median of" in sentences[0] and "team T-12" in sentences[0]
    assert "55% of all views had no ticket" in sentences[0]
    assert not any("address" in x for x in sentences)  # negative contribution: not a reason


def test_group_alert_for_a_team_drifting_together():
    frame = _desk(DAYS, AGENTS + [f"b{i:02d}" for i in range(20)] + [f"c{i:02d}" for i in range(20)])
    teams = {a: ("T1" if a.startswith("a") else "T2" if a.startswith("b") else "T3") for a in frame.agent_id.unique()}
    roster = pd.DataFrame({"agent_id": list(teams), "team": list(teams.values()), "role": "agent", "site": "s"})
    ring = ["a01", "a02", "a03", "a04"]
    frame.loc[frame.agent_id.isin(ring) & (frame.day == "2026-01-31"), "ticketless_views"] = 60
    f = ft.compute(frame[frame.day < "2026-01-31"], frame[frame.day == "2026-01-31"], day="2026-01-31", roster=roster)
    groups = al.group_alerts(f, day="2026-01-31", settings=al.AlertSettings())
    assert list(groups.subject_id) == ["T1"] and set(groups.members[0]) == set(ring)
    quiet = al.group_alerts(ft.compute(frame[frame.day < "2026-01-30"], frame[frame.day == "2026-01-30"], day="2026-01-30", roster=roster), day="2026-01-30", settings=al.AlertSettings())
    assert quiet.empty


def test_a_long_harvest_stays_out_of_the_baseline_when_its_days_scored_high():
    """Three weeks of harvest in the baseline window make it the agent's normal; with
    baseline_skip_above the days that scored high are left out and the harvest still stands
    out against the agent's own past. Benign agents' baselines are untouched."""
    days = [f"2026-02-{d:02d}" if d <= 28 else f"2026-03-{d - 28:02d}" for d in range(1, 36)]
    frame = _desk(days, AGENTS)
    harvest = (frame.agent_id == "a03") & (frame.day >= "2026-02-08")
    frame.loc[harvest, "ticketless_views"] = 150
    history, today = frame[frame.day < days[-1]], frame[frame.day == days[-1]]
    scores = history[["day", "agent_id"]].assign(score=np.where(harvest[history.index], 2.6, 0.4))
    plain = ft.compute(history, today, day=days[-1]).set_index("agent_id")
    settings = ft.FeatureSettings(baseline_skip_above=2.0)
    kept = skip_high_days(history, scores, settings)
    assert len(kept) == len(history) - int(harvest[history.index].sum())
    skipping = ft.compute(kept, today, day=days[-1], settings=settings).set_index("agent_id")
    assert plain.loc["a03", "ticketless_views__own"] < 1  # absorbed: the harvest is the baseline
    assert skipping.loc["a03", "ticketless_views__own"] > 10 and skipping.loc["a03", "ticketless_views__base"] < 5
    others = [a for a in AGENTS if a != "a03"]
    pd.testing.assert_series_equal(plain.loc[others, "ticketless_views__base"], skipping.loc[others, "ticketless_views__base"])
    assert skip_high_days(history, scores, ft.FeatureSettings()) is history  # off by default


def test_a_roles_busy_week_is_not_a_team_drifting_together():
    """Every KYC analyst (one team, one site) opens three to four times their usual identity
    documents in a re-verification week; a ring in another team harvests the same day. The
    KYC team is not a group alert, the ring's team still is."""
    general = [f"{t}{i:02d}" for t in "abc" for i in range(12)]
    kyc = [f"k{i:02d}" for i in range(10)]
    frame = _desk(DAYS, general + kyc)
    rng = np.random.default_rng(5)
    is_kyc = frame.agent_id.isin(kyc)
    frame.loc[is_kyc, "id_document_views"] = rng.integers(50, 70, int(is_kyc.sum()))
    week = is_kyc & (frame.day == "2026-01-31")
    frame.loc[week, "id_document_views"] = (frame.loc[week, "id_document_views"] * rng.uniform(2.8, 4.5, int(week.sum()))).astype(int)
    ring = ["a01", "a02", "a03", "a04"]
    frame.loc[frame.agent_id.isin(ring) & (frame.day == "2026-01-31"), "ticketless_views"] = 60
    team = {a: a[0].upper() for a in general + kyc}
    roster = pd.DataFrame(
        {
            "agent_id": list(team),
            "team": list(team.values()),
            "role": ["kyc_analyst" if a in kyc else "agent" for a in team],
            "site": ["lisbon" if a in kyc else a[0] for a in team],
        }
    )
    f = ft.compute(frame[frame.day < "2026-01-31"], frame[frame.day == "2026-01-31"], day="2026-01-31", roster=roster)
    groups = al.group_alerts(f, day="2026-01-31", settings=al.AlertSettings())
    assert "K" not in set(groups.subject_id) and "lisbon" not in set(groups.subject_id)
    assert "A" in set(groups.subject_id)
    assert set(groups[groups.subject_id == "A"].members.iloc[0]) == set(ring)
    # without the role's shift taken out, the busy week would have been a group alert
    hits = f[f.role == "kyc_analyst"]
    assert ((hits.id_document_views + 5) / (hits.id_document_views__base + 5) >= al.AlertSettings().group_member_ratio).sum() >= 3


def test_config_validation():
    cfg = from_dict({"store": {"db": "sqlite:///x.db"}, "alerts": {"budget_fraction": 0.01, "min_budget": 2}, "model": {"name": "ecod"}})
    assert cfg.db == "sqlite:///x.db" and cfg.alerts.budget(100) == 2 and cfg.model.name == "ecod"
    assert from_dict({"features": {"baseline_skip_above": 2}}).features.baseline_skip_above == 2.0
    assert json.loads(json.dumps(cfg.to_dict()))["features"]["window"] == 28
    with pytest.raises(UsageError, match="unknown setting alerts.budget"):
        from_dict({"alerts": {"budget": 3}})
    with pytest.raises(UsageError, match="alerts.min_budget must be int"):
        from_dict({"alerts": {"min_budget": "3"}})
    with pytest.raises(UsageError, match="unknown model.name"):
        from_dict({"model": {"name": "nope"}})
    assert from_dict({"features": {"windows": [5, 10], "freeze_above": 0}}).features.windows == (5, 10)
    for bad in ({"windows": [1]}, {"windows": ["7"]}, {"windows": [True]}, {"reference_days": 2}, {"freeze_above": -1.0}):
        with pytest.raises(UsageError, match="features.windows must be whole numbers|must be tuple"):
            from_dict({"features": bad})
    assert Config().detector_version.startswith("insiderwatch-")


def test_a_large_desk_raises_its_bar_so_chance_stays_a_few_a_night():
    settings = al.AlertSettings()
    assert settings.bar(250) == settings.bar(400) == 2.0  # a small desk keeps the threshold
    assert settings.bar(1_265) == pytest.approx(2.5, abs=0.001)
    assert settings.bar(50_000) == 3.0 and al.AlertSettings(chance_alerts=0).bar(50_000) == 2.0
    # on a night of 2,000 agents, an agent-day at 2.2 (1 in 160) is ranked but not alerted
    scored = pd.DataFrame({"agent_id": [f"a{i}" for i in range(2000)], "score": np.r_[2.9, 2.2, np.zeros(1998)], "raw_score": np.r_[0.3, 0.2, np.zeros(1998)]})
    out = al.rank_and_flag(scored, settings=settings)
    assert out.flagged.tolist()[:2] == [True, False] and out["rank"].tolist()[:2] == [1, 2]


def test_new_subjects_take_the_budget_before_known_cases():
    scored = pd.DataFrame({"agent_id": ["a", "b", "c"], "score": [3.0, 2.5, 1.0], "raw_score": [0.3, 0.2, 0.1]})
    settings = al.AlertSettings(budget_fraction=0.01, min_budget=1, threshold=2.0)
    recent = pd.DataFrame({"day": ["2026-01-04", "2026-01-04"], "agent_id": ["a", "c"], "score": [3.0, 1.0], "flagged": [True, False]})
    known = al.recently_alerted(recent, scored.agent_id, day="2026-01-05", settings=settings)
    assert known.tolist() == [True, False, False]
    out = al.rank_and_flag(scored, settings=settings, known=known).set_index("agent_id")
    assert out.loc["a", "rank"] == 1 and not out.loc["a", "flagged"]  # still ranked first, not re-alerted
    assert out.loc["b", "flagged"]
    # with budget to spare the known case is alerted again; below the threshold nobody is
    out = al.rank_and_flag(scored, settings=al.AlertSettings(budget_fraction=0.5, threshold=2.0), known=known).set_index("agent_id")
    assert out.flagged.tolist() == [True, True, False]
    off = al.recently_alerted(recent, scored.agent_id, day="2026-01-05", settings=al.AlertSettings(realert_days=0))
    assert not off.any()


def test_known_cases_yield_the_budget_to_new_subjects():
    recent = pd.DataFrame(
        [
            ("2026-01-10", "known", 3.0, True),
            ("2026-01-11", "known", 0.5, False),
            ("2026-01-11", "never", 1.9, False),
            ("2026-01-01", "old", 3.0, True),  # outside the window
        ],
        columns=["day", "agent_id", "score", "flagged"],
    )
    agents = pd.Series(["known", "never", "old", "newcomer", "quiet"])
    known = al.recently_alerted(recent, agents, day="2026-01-12", settings=al.AlertSettings(realert_days=7))
    assert known.tolist() == [True, False, False, False, False]
    # known cases keep their rank but yield the budget to new subjects above the threshold
    scored = pd.DataFrame({"agent_id": agents, "score": [5.0, 4.0, 3.0, 2.5, 1.0], "raw_score": [0.5, 0.4, 0.3, 0.25, 0.1]})
    out = al.rank_and_flag(scored, settings=al.AlertSettings(budget_fraction=0.01, min_budget=3), known=known).set_index("agent_id")
    assert out.loc[["known", "never", "old", "newcomer", "quiet"], "flagged"].tolist() == [False, True, True, True, False]
    assert out.loc["known", "rank"] == 1
    # with budget to spare, the known case is flagged too; below the threshold nobody is
    out = al.rank_and_flag(scored, settings=al.AlertSettings(budget_fraction=0.01, min_budget=5), known=known).set_index("agent_id")
    assert out["flagged"].tolist() == [True, True, True, True, False]


def test_an_alert_is_typed_and_every_alert_listing_carries_its_fields():
    """score_day builds Alerts (one constructor for agents and groups); the export's columns
    are the Alert's fields plus what the store and the alert's case add, so the two cannot
    drift apart."""
    from pipelines.results import ALERT_COLUMNS

    agent = al.Alert.of_subject("agent", "a1", "2026-01-05", detector_version="v", score=3, rank=1, reasons=["r"])
    group = al.Alert.of_subject("team", "T1", "2026-01-05", detector_version="v", score=5.0, reasons=["r"], members=["a1", "a2"])
    assert agent.alert_key == al.alert_key("agent", "a1", "2026-01-05", "v") and agent.agents == ["a1"] and isinstance(agent.score, float)
    assert group.agents == ["a1", "a2"] and group.rank is None and group.suppressed_by is None
    assert list(agent.as_record()) == list(al.ALERT_FIELDS)
    # what the store adds, and what the export reads from the alert's case (pipelines.cases)
    assert set(ALERT_COLUMNS) == set(al.ALERT_FIELDS) | {"day", "run_id", "created_at"} | {"case", "case_status", "status"}
