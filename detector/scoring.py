"""One night's detection, composed from the pure stages: features, model, alerts.

``score_day`` is the single code path for a nightly run, every day of a replay and the
benchmark: given the day's agent-days, the history before it and the model inputs of the
training window, it returns scores, ranks, alerts and reasons. No I/O.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pandas as pd

from detector import alerts as al
from detector import features as ft
from detector import model as md
from detector import schema as s
from detector.config import Config
from detector.evidence import DERIVED, frozen_days
from detector.evidence import without as evidence_without
from detector.history import personal_baseline

#: agent-days of training history below which the model is fit on the night itself
#: (peer comparison only) rather than on the trailing window
MIN_TRAIN_ROWS = 200


#: the feature columns a night is scored on, computed for every agent: each metric's z (the
#: model's inputs, persistence, the suppressions' families), the group alerts' values and
#: own medians and the harvest summaries. The bands the reasons quote are computed for the
#: alerted agents only (:data:`REASON_COLUMNS`): a night of a million agents holds a few
#: dozen columns, not ~150.
SCORING_COLUMNS = (
    *(f"{m}__z" for m in ft.METRICS),
    *al.GROUP_METRICS,
    *(f"{m}__base" for m in al.GROUP_METRICS),
    "harvest__max",
    "harvest__sum",
)
#: what :func:`detector.alerts.reason_sentences` quotes: each metric's value, the agent's own
#: median, the role's median and the team's 95th percentile. Every one is the agent's own
#: past or today's peers, so it can be computed from the alerted agents' history alone.
REASON_COLUMNS = tuple(f"{m}{part}" for m in ft.METRICS for part in ("", "__base", "__role_med", "__team_p95"))


@dataclass
class ScoredDay:
    day: str
    features: pd.DataFrame  # features.compute output, SCORING_COLUMNS and the accumulated evidence, every agent
    explained: pd.DataFrame  # the alerted agents' (and covered alerts') features, REASON_COLUMNS too, in alert order
    inputs: pd.DataFrame  # agent_id + model input columns
    scored: pd.DataFrame  # agent_id, score, raw_score, risk, rank_score, rank, flagged, history_days, contributions
    alerts: list[al.Alert]  # agents first (in rank order), then groups
    peer_mode: bool  # no training history: fit on the night itself
    n_train: int
    train_days: int


def score_day(
    day: str,
    today: pd.DataFrame,
    history: pd.DataFrame,
    train_inputs: pd.DataFrame,
    *,
    config: Config,
    roster: pd.DataFrame | None = None,
    recent_scores: pd.DataFrame | None = None,
    suppressed: dict[str, list[tuple[int, str | None]]] | None = None,
    open_cases: set[str] | None = None,
) -> ScoredDay:
    """Score every agent active on ``day``.

    Parameters
    ----------
    today : agent-days of ``day`` (aggregate output)
    history : agent-days before ``day`` (at least :func:`detector.history.span_days` of them)
    train_inputs : stored model inputs of the training window (days before ``day``):
        columns ``day``, ``agent_id`` and the model inputs
    recent_scores : stored scores of recent days (``day``, ``agent_id``, ``score``,
        ``flagged``) for accumulated risk and known cases
    suppressed : agent_id -> [(suppression id, pattern or None)] of the suppressions
        covering them that day; one with a pattern (a feature family) covers an agent-day
        only when that family drives the score most
    open_cases : agents whose case is open (:func:`detector.cases.open_agents`): one who
        stands out again (at or above the night's bar) without being raised, as the budget
        went to new subjects, is kept on the case with its reasons and evidence
        (:attr:`detector.alerts.Alert.ongoing`); the night's alerts and ranks are unchanged
    """
    frozen = frozen_days(train_inputs, config.features)
    span_history = history
    history = personal_baseline(history, recent_scores, day, config.features, frozen)
    feats = ft.compute(history, today, day=day, roster=roster, settings=config.features, columns=SCORING_COLUMNS)
    feats = ft.add_accumulation(feats, span_history, today, day=day, settings=config.features, frozen=frozen)
    del span_history
    names = ft.model_input_names(config.features)
    X = ft.model_inputs(feats, config.features).to_numpy(float)
    inputs = pd.DataFrame(X, columns=names, copy=False)
    inputs.insert(0, s.AGENT_ID, feats[s.AGENT_ID].to_numpy())

    if frozen is not None and train_inputs is not None and len(train_inputs):
        # an agent-day of sustained excess does not teach the model what is normal either
        train_inputs = evidence_without(train_inputs, frozen)
    usable = train_inputs is not None and len(train_inputs) >= MIN_TRAIN_ROWS and all(n in train_inputs for n in names)
    if usable:
        X_train = train_inputs[names].to_numpy(float)
        train_days = int(train_inputs["day"].nunique())
    else:
        X_train, train_days = X, 0
    fitted = md.fit(config.model, X_train) if len(X_train) else None

    scored = feats[[s.AGENT_ID, "history_days", s.TEAM, s.ROLE, s.SITE, s.VENDOR]]  # copy-on-write: a view until changed
    if fitted is not None and len(X):
        raw = fitted.raw(X)
        scored["raw_score"] = raw
        scored["score"] = fitted.calibrated(raw)
    else:
        scored["raw_score"] = 0.0
        scored["score"] = 0.0
    scored["severity"] = feats["harvest__sum"].to_numpy(float)
    risk = al.accumulated_risk(recent_scores, scored[s.AGENT_ID], day=day, settings=config.alerts)
    known = al.recently_alerted(recent_scores, scored[s.AGENT_ID], day=day, settings=config.alerts)
    suppression = _covering_suppressions(scored, feats, X, names, fitted, suppressed or {}, risk, config)
    scored = al.rank_and_flag(scored, settings=config.alerts, risk=risk, known=known, suppressed=suppression.notna().to_numpy())

    # the open cases' agents who stood out again without being raised: kept on their case
    kept = (
        (scored["rank_score"].to_numpy() >= config.alerts.bar(len(scored)))
        & ~scored["flagged"].to_numpy(bool)
        & ~scored["suppressed_alert"].to_numpy(bool)
        & scored[s.AGENT_ID].isin(open_cases or ()).to_numpy(bool)
    )

    # attribution for the night's top agents (all flagged ones among them)
    budget = config.alerts.budget(len(scored))
    top = np.flatnonzero((scored["rank"].to_numpy() <= max(3 * budget, 10)) | scored["suppressed_alert"].to_numpy() | kept)
    contributions: list[str | None] = [None] * len(scored)
    if fitted is not None and len(top):
        attributed = fitted.attribute(X[top])
        for i, row in zip(top, attributed):
            contributions[int(i)] = json.dumps({n: round(float(v), 6) for n, v in zip(names, row)})
    scored["contributions"] = contributions

    alerted = np.flatnonzero(scored["flagged"].to_numpy() | scored["suppressed_alert"].to_numpy() | kept)
    explained = _explained(feats, history, today, alerted, day=day, roster=roster, config=config)
    alerts: list[al.Alert] = []
    for j, i in enumerate(alerted):
        row = explained.iloc[j]
        stored = contributions[i]
        reasons = al.reason_sentences(row, metric_contributions(json.loads(stored) if stored else {}, row))
        if not reasons:
            reasons = [f"an unusual combination of activity for this agent and their peers (score {scored['score'].iloc[i]:.2f})"]
        covered = suppression.iloc[i]
        alerts.append(
            al.Alert.of_subject(
                "agent",
                row[s.AGENT_ID],
                day,
                detector_version=config.detector_version,
                score=scored["score"].iloc[i],
                rank=int(scored["rank"].iloc[i]),
                reasons=reasons,
                suppressed_by=None if pd.isna(covered) else int(covered),
                ongoing=bool(kept[i]),
            )
        )
    groups = al.group_alerts(feats, day=day, settings=config.alerts)
    for g in groups.to_dict("records"):
        alerts.append(al.Alert.of_subject(g["subject_type"], g["subject_id"], day, detector_version=config.detector_version, score=g["score"], reasons=g["reasons"], members=g["members"]))
    return ScoredDay(
        day=day,
        features=feats,
        explained=explained,
        inputs=inputs,
        scored=scored,
        alerts=alerts,
        peer_mode=not usable,
        n_train=len(X_train),
        train_days=train_days,
    )


def _explained(feats: pd.DataFrame, history: pd.DataFrame, today: pd.DataFrame, rows: np.ndarray, *, day: str, roster, config: Config) -> pd.DataFrame:
    """The features of the agents at ``rows`` with :data:`REASON_COLUMNS` added. Their own
    medians need only their own past, so the history is cut to them first; the peer bands
    are today's, over every agent."""
    if not len(rows):
        return feats.iloc[:0]
    agents = feats[s.AGENT_ID].to_numpy()[rows]
    own = history[history[s.AGENT_ID].isin(set(agents))] if len(history) else history
    detail = ft.compute(own, today, day=day, roster=roster, settings=config.features, columns=REASON_COLUMNS, rows=rows, work=feats[ft.PEER_GROUP].to_numpy())
    assert (detail[s.AGENT_ID].to_numpy() == agents).all()  # same agents, same order
    for c in feats.columns:
        if c not in detail:
            detail[c] = feats[c].to_numpy()[rows]
    return detail


def _covering_suppressions(scored, feats, X, names, fitted, suppressed: dict, risk, config: Config) -> pd.Series:
    """Per agent, the id of the suppression that covers them tonight (NaN: none). A
    suppression without a pattern covers any alert; one with a pattern only an agent-day
    above the threshold whose strongest contribution comes from that feature family."""
    out = pd.Series(np.nan, index=scored.index, dtype=float)
    if not suppressed:
        return out
    rank_score = scored["score"].to_numpy(float) + config.alerts.accumulate_weight * np.asarray(risk, float)
    for i, agent in enumerate(scored[s.AGENT_ID]):
        for sid, pattern in suppressed.get(agent, []):
            if pattern is None:
                out.iloc[i] = sid
                break
            if fitted is None or rank_score[i] < config.alerts.bar(len(scored)):
                continue
            contrib = dict(zip(names, fitted.attribute(X[i : i + 1])[0]))
            per_metric = metric_contributions(contrib, feats.iloc[i])
            if per_metric:
                top = max(per_metric, key=lambda k: per_metric[k]).split("__")[0]
                if top in ft.FAMILIES.get(pattern, ()):
                    out.iloc[i] = sid
                    break
    return out


def metric_contributions(contrib: dict, row: pd.Series) -> dict:
    """Model-input contributions spread onto metrics: the summary inputs (strongest sign,
    number of signs) are shared among the harvesting metrics in proportion to how far each
    stands out in this row."""
    out = {k: v for k, v in contrib.items() if not k.startswith(("harvest__", "accum__"))}
    carried = row.get("accum__metric")
    if contrib.get("accum__max") and carried:
        # the evidence of the last days belongs to the metric that carries it (of a derived
        # measure, to the part that stands out more today)
        if carried in DERIVED:
            carried = max(DERIVED[carried][1], key=lambda p: np.nan_to_num(float(row.get(f"{p}__z", np.nan)), nan=-np.inf))
        key = f"{carried}__z"
        out[key] = out.get(key, 0.0) + contrib["accum__max"]
    shared = sum(v for k, v in contrib.items() if k.startswith("harvest__"))
    if shared:
        weights = {f"{m}__z": max(float(np.nan_to_num(row[f"{m}__z"])), 0.0) for m in ft.HARVEST_METRICS}
        total = sum(weights.values())
        for k, w in weights.items():
            if total > 0:
                out[k] = out.get(k, 0.0) + shared * w / total
    return out
