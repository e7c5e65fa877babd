"""``insiderwatch explain``: every feature of one agent-day, its baseline, its peer band, the
score and the reasons, rebuilt from the store."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from detector import alerts as al
from detector import features as ft
from detector import schema as s
from detector.config import Config
from detector.days import shift_day
from detector.errors import UsageError
from detector.evidence import DERIVED
from detector.history import day_view, frozen_for, personal_baseline
from detector.scoring import metric_contributions
from detector.store import Store


@dataclass
class Explanation:
    agent_id: str
    day: str
    score: dict  # the stored score row
    features: pd.DataFrame  # one row per metric
    reasons: list
    alerted: bool
    contributions_source: str
    suppressed_by: int | None = None  # the suppression that kept the stored alert from being raised
    #: the evidence accumulated over the last days (detector.evidence), when it stands out:
    #: metric, phrase, z, window, days, since, excess, expected, sentence
    accumulated: dict | None = None
    #: who the peer columns ("role med", "peer z") compare the agent with, in words
    peers: str = ""
    #: the stored alert is a day kept on the agent's open case, not raised (``alerted`` is False)
    ongoing: bool = False
    #: the group alerts of the day that name the agent as a member: (subject type, subject id, alert key)
    member_of: list = field(default_factory=list)

    @property
    def status(self) -> str:
        """What became of the agent-day, in words."""
        if self.ongoing:
            return "kept on the agent's open case: stood out again, not raised (the night's budget went to new subjects)"
        if self.alerted:
            return "ALERTED" if self.suppressed_by is None else f"alert stored but not raised: covered by suppression {self.suppressed_by}"
        if self.member_of:
            return "no alert of their own; a member of " + ", ".join(f"the {k} {g} group alert ({key[:12]})" for k, g, key in self.member_of)
        return "not alerted"


@dataclass
class ScoredNight:
    """What explaining any agent of one day needs, read and computed once."""

    scores: pd.DataFrame
    features: pd.DataFrame
    alerts: pd.DataFrame


def scored_night(store: Store, cfg: Config, day: str) -> ScoredNight:
    """The day's stored scores and alerts, and every active agent's features rebuilt from
    the stored agent-days, with the peers as they were that night (the stored groups)."""
    scores = store.scores(day, day)
    roster = scores[[s.AGENT_ID, s.TEAM, s.ROLE, s.SITE, s.VENDOR]].copy()
    view = day_view(day, cfg)
    earlier = store.scores(view.baseline_first, shift_day(day, -1)) if cfg.features.baseline_skip_above > 0 else None
    _, inputs = store.model_inputs(view.train_first, day)
    frozen = frozen_for(inputs, store.scores(view.train_first, shift_day(day, -1)) if cfg.model.exclude_alerted else None, day, cfg)
    span_history = store.agent_days(view.span_first, day)
    history = personal_baseline(span_history, earlier, day, cfg.features, frozen)
    today = store.agent_days(day, shift_day(day, 1))
    feats = pd.DataFrame()
    if len(today):
        feats = ft.compute(history, today, day=day, roster=roster, settings=cfg.features)
        feats = ft.add_accumulation(feats, span_history, today, day=day, settings=cfg.features, frozen=frozen)
    return ScoredNight(scores, feats, store.alerts(day, day))


def explain(store: Store, cfg: Config, agent_id: str, day: str, night: ScoredNight | None = None) -> Explanation:
    """Every feature of one agent-day (``night``: the day's :func:`scored_night`, when
    explaining several agents of the same day)."""
    night = night or scored_night(store, cfg, day)
    scores = night.scores
    mine = scores[scores[s.AGENT_ID] == agent_id]
    if mine.empty:
        known = store.scored_days()
        if day not in known:
            raise UsageError(f"no scored day {day} in the store" + (f" (it holds {known[0]} to {known[-1]})" if known else " (it is empty)"))
        if not store.knows_agent(agent_id):
            raise UsageError(f"agent {agent_id!r} has never been scored in this store (check the id)")
        raise UsageError(f"agent {agent_id!r} was not active on {day} (no agent-day scored)")
    row = mine.iloc[0].to_dict()
    feats = night.features
    f = feats[feats[s.AGENT_ID] == agent_id].iloc[0]
    contributions = json.loads(row["contributions"]) if isinstance(row.get("contributions"), str) else {}
    source = "as measured on the night's model" if contributions else "not kept (the agent was outside the night's top ranks)"
    per_metric = metric_contributions(contributions, f) if contributions else {}
    rows = []
    for m, label in ft.METRICS.items():
        rows.append(
            {
                "metric": m,
                "meaning": label,
                "value": f[m],
                "baseline_median": f[f"{m}__base"],
                "baseline_p90": f[f"{m}__base_hi"],
                "team_median": f[f"{m}__team_med"],
                "team_p95": f[f"{m}__team_p95"],
                "role_median": f[f"{m}__role_med"],
                "role_p95": f[f"{m}__role_p95"],
                "own_z": f[f"{m}__own"],
                "peer_z": f[f"{m}__peer"],
                "days_z": f.get(f"{m}__acc", np.nan),
                "contribution": per_metric.get(f"{m}__z", np.nan),
            }
        )
    table = pd.DataFrame(rows)
    alerts = night.alerts
    mine_alert = alerts[(alerts["subject_type"] == "agent") & (alerts["subject_id"] == agent_id)]
    suppressed_by = None
    ongoing = False
    if len(mine_alert):
        reasons = list(mine_alert.iloc[0]["reasons"])
        by = mine_alert.iloc[0].get("suppressed_by")
        suppressed_by = None if by is None or pd.isna(by) else int(by)
        ongoing = bool(mine_alert.iloc[0].get("ongoing", False))
    else:
        reasons = al.reason_sentences(f, per_metric) if per_metric else []
    groups = alerts[alerts["subject_type"] != "agent"] if len(alerts) else alerts
    member_of = [(str(g["subject_type"]), str(g["subject_id"]), str(g["alert_key"])) for g in groups.to_dict("records") if agent_id in (g["members"] or [])]
    return Explanation(
        agent_id, day, row, table, reasons, bool(len(mine_alert)) and not ongoing, source, suppressed_by, accumulated(f), ft.peer_words(f[ft.PEER_GROUP]), ongoing=ongoing, member_of=member_of
    )


def accumulated(f: pd.Series) -> dict | None:
    """The agent-day's accumulated evidence in figures and words, when it is stated
    (:data:`detector.alerts.ACCUM_STATED`); None otherwise."""
    metric = f.get("accum__metric")
    if not metric or float(f.get("accum__max", 0.0) or 0.0) < al.ACCUM_STATED:
        return None
    sentence = al.accumulated_sentence(f, metric)
    if not sentence:
        return None
    return {
        "metric": metric,
        "phrase": al.PHRASES.get(metric) or DERIVED[metric][2],
        "parts": list(DERIVED[metric][1]) if metric in DERIVED else [metric],
        "z": round(float(f["accum__max"]), 2),
        "window": int(f["accum__window"]),
        "days": int(f["accum__days"]),
        "since": str(f["accum__since"]),
        "excess": round(float(f["accum__excess"]), 1),
        "expected": round(float(f["accum__expected"]), 1),
        "sentence": sentence,
    }


def format_explanation(e: Explanation) -> str:
    from pipelines.output import terminal_safe

    sc = e.score
    lines = [
        f"agent {terminal_safe(e.agent_id)} on {e.day}: score {sc['score']:.2f} (rank {int(sc['rank'])}), " + e.status,
        f"team {terminal_safe(sc.get(s.TEAM))}, role {terminal_safe(sc.get(s.ROLE))}, site {terminal_safe(sc.get(s.SITE))}, "
        f"vendor {terminal_safe(sc.get(s.VENDOR))}; {int(sc['history_days'])} active day(s) in the baseline window"
        + ("; scored against peers only (too little stored history)" if sc.get("peer_mode") else ""),
        f"peers (role med, role p95, peer z): {terminal_safe(e.peers)}" if e.peers else "",
        "",
        f"{'metric':<22} {'today':>7} {'own med':>8} {'own p90':>8} {'team med':>8} {'team p95':>8} {'role med':>8} {'role p95':>8} {'own z':>6} {'peer z':>6} {'days z':>6} {'contrib':>8}",
    ]

    def num(v, digits=0):
        return "-" if v is None or pd.isna(v) else f"{v:.{digits}f}"

    for r in e.features.to_dict("records"):
        lines.append(
            f"{r['metric']:<22} {num(r['value']):>7} {num(r['baseline_median'], 1):>8} {num(r['baseline_p90'], 1):>8} "
            f"{num(r['team_median'], 1):>8} {num(r['team_p95'], 1):>8} {num(r['role_median'], 1):>8} {num(r['role_p95'], 1):>8} "
            f"{num(r['own_z'], 1):>6} {num(r['peer_z'], 1):>6} {num(r.get('days_z'), 1):>6} {num(r['contribution'], 3):>8}"
        )
    lines.append("")
    a = e.accumulated
    if a:
        lines.append(f"over days: {terminal_safe(a['sentence'])} (since {a['since']}; evidence z {a['z']:.1f})")
    else:
        lines.append("over days: no steady excess over their own normal in the last 3, 7 or 14 days")
    lines.append("days z: the excess of the best of the last 3, 7 and 14 days over the 28 days before them, as one z")
    lines.append(f"contrib: drop of the raw anomaly score when the feature is set back to normal, {e.contributions_source}")
    lines.append("reasons:" if e.reasons else "reasons: none stand out")
    lines.extend(f"  - {terminal_safe(r)}" for r in e.reasons)
    return "\n".join(lines)
