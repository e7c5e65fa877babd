"""Simple detectors that users would write by hand, to measure insiderwatch against.

Each scores every agent-day of a history of agent-days, day by day, with no look-ahead: the
score of day d uses days before d (and day d itself). Higher = more suspicious. Pure.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from detector import schema as s
from detector.aggregate import DAY, HOURS
from detector.registry import Registry

#: name -> function(agent_days, *, seed) -> frame (day, agent_id, score)
BASELINES: Registry[Callable] = Registry("baseline")
register = BASELINES.register


def _days(frame: pd.DataFrame) -> list[str]:
    return sorted(frame[DAY].unique())


def _shift(day: str, days: int) -> str:
    return (pd.Timestamp(day) + pd.Timedelta(days=days)).strftime("%Y-%m-%d")


@register("raw_views")
def raw_views(agent_days: pd.DataFrame, *, seed: int = 0) -> pd.DataFrame:
    """Record views per agent-day, as they are."""
    return pd.DataFrame({DAY: agent_days[DAY], s.AGENT_ID: agent_days[s.AGENT_ID], "score": agent_days["views"].astype(float)})


@register("views_over_own_median")
def views_over_own_median(agent_days: pd.DataFrame, *, seed: int = 0, window: int = 28) -> pd.DataFrame:
    """Views divided by the agent's median over the previous 28 days (1 + median, so an agent
    with no past is compared with one view a day)."""
    out = []
    for day in _days(agent_days):
        past = agent_days[(agent_days[DAY] >= _shift(day, -window)) & (agent_days[DAY] < day)]
        med = past.groupby(s.AGENT_ID)["views"].median()
        today = agent_days[agent_days[DAY] == day]
        ref = today[s.AGENT_ID].map(med).fillna(0.0).to_numpy(float)
        out.append(pd.DataFrame({DAY: day, s.AGENT_ID: today[s.AGENT_ID].to_numpy(), "score": today["views"].to_numpy(float) / (1.0 + ref)}))
    return pd.concat(out, ignore_index=True)


def raw_counts(agent_days: pd.DataFrame) -> np.ndarray:
    """views, distinct customers, ticketless views, off-hours events (local 20:00-07:00)."""
    off = [h for h in HOURS if int(h[1:]) >= 20 or int(h[1:]) < 7]
    return np.column_stack(
        [
            agent_days["views"].to_numpy(float),
            agent_days["customers"].to_numpy(float),
            agent_days["ticketless_views"].to_numpy(float),
            agent_days[off].sum(axis=1).to_numpy(float),
        ]
    )


@register("iforest_raw_counts")
def iforest_raw_counts(agent_days: pd.DataFrame, *, seed: int = 0, window: int = 28) -> pd.DataFrame:
    """scikit-learn IsolationForest on raw daily counts (views, distinct customers,
    ticketless views, off-hours events), fit each day on the previous 28 days."""
    from sklearn.ensemble import IsolationForest

    X_all = raw_counts(agent_days)
    out = []
    for day in _days(agent_days):
        train = ((agent_days[DAY] >= _shift(day, -window)) & (agent_days[DAY] < day)).to_numpy()
        today = (agent_days[DAY] == day).to_numpy()
        X_train = X_all[train] if train.sum() >= 50 else X_all[today]
        model = IsolationForest(n_estimators=100, random_state=seed).fit(X_train)
        score = -model.score_samples(X_all[today])
        out.append(pd.DataFrame({DAY: day, s.AGENT_ID: agent_days.loc[today, s.AGENT_ID].to_numpy(), "score": score}))
    return pd.concat(out, ignore_index=True)
