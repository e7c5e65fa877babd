"""Detection metrics of nightly scores against insider labels, at an alert budget.

What an analyst team lives with: which insiders were alerted at all (recall), how many days
after they started (delay), how many records they had harvested by then (exposure), how many
false alerts a night, and how many alerts were right on nights when someone was harvesting.
AUC alone misleads; these are the measures. Pure: frames in, numbers out.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from detector import schema as s
from detector.aggregate import DAY


def flag_by_budget(scores: pd.DataFrame, fraction: float) -> pd.Series:
    """Flag the top of each night within the budget (no threshold): how a hand-written
    detector would be run."""
    rank = scores.groupby(DAY)["score"].rank(method="first", ascending=False)
    active = scores.groupby(DAY)[s.AGENT_ID].transform("size")
    budget = np.maximum(1, np.ceil(fraction * active))
    return rank <= budget


def evaluate(scores: pd.DataFrame, labels: pd.DataFrame, label_days: pd.DataFrame) -> dict:
    """Metrics of one detector.

    Parameters
    ----------
    scores : DataFrame
        One row per scored agent-day: ``day``, ``agent_id``, ``score`` and ``flagged``.
    labels : DataFrame
        ``agent_id, scenario, start_day, end_day``, one row per insider.
    label_days : DataFrame
        ``agent_id, day, exfil_events``: harvesting accesses per insider and day.
    """
    sc = scores.merge(label_days[[s.AGENT_ID, DAY, "exfil_events"]], on=[s.AGENT_ID, DAY], how="left")
    sc["exfil_events"] = sc["exfil_events"].fillna(0)
    sc["harvesting"] = sc["exfil_events"] > 0
    per_insider = []
    for row in labels.itertuples():
        mine = sc[(sc[s.AGENT_ID] == row.agent_id)]
        days = label_days[label_days[s.AGENT_ID] == row.agent_id].sort_values(DAY)
        first_harvest = days[DAY].min()
        active = mine[(mine[DAY] >= row.start_day) & (mine[DAY] <= row.end_day)]
        alerted = active[active["flagged"]]
        first_alert = alerted[DAY].min() if len(alerted) else None
        delay = (pd.Timestamp(first_alert) - pd.Timestamp(first_harvest)).days if first_alert else None
        exposure = int(days[days[DAY] <= first_alert]["exfil_events"].sum()) if first_alert else int(days["exfil_events"].sum())
        per_day = float(days["exfil_events"].mean()) if len(days) else 0.0
        per_insider.append(
            {
                s.AGENT_ID: row.agent_id,
                "scenario": row.scenario,
                "first_harvest": first_harvest,
                "first_alert": first_alert,
                "alerted": first_alert is not None,
                "delay_days": delay,
                "exposure": exposure,
                "exposure_days": exposure / per_day if per_day else None,
                "harvested": int(days["exfil_events"].sum()),
            }
        )
    insiders = pd.DataFrame(per_insider)
    harvest_nights = sc.loc[sc["harvesting"], DAY].unique()
    flagged = sc[sc["flagged"]]
    on_harvest_nights = flagged[flagged[DAY].isin(harvest_nights)]
    nights = sc[DAY].nunique()
    from sklearn.metrics import average_precision_score

    ap = float(average_precision_score(sc["harvesting"], sc["score"])) if sc["harvesting"].any() else None
    alerted = insiders[insiders["alerted"]]
    out: dict[str, Any] = {
        "insiders": int(len(insiders)),
        "recall": float(insiders["alerted"].mean()) if len(insiders) else None,
        "delay_median": float(alerted["delay_days"].median()) if len(alerted) else None,
        "delay_max": int(alerted["delay_days"].max()) if len(alerted) else None,
        "exposure_median": float(insiders["exposure"].median()) if len(insiders) else None,
        "exposure_median_days": float(insiders["exposure_days"].median()) if len(insiders) else None,
        "exposure_total": int(insiders["exposure"].sum()) if len(insiders) else 0,
        "false_alerts_per_night": float((~flagged["harvesting"]).sum() / max(nights, 1)),
        "precision_harvest_nights": float(on_harvest_nights["harvesting"].mean()) if len(on_harvest_nights) else None,
        "alerts": int(len(flagged)),
        "agent_day_average_precision": ap,
        "by_scenario": {},
    }
    for scenario, group in insiders.groupby("scenario"):
        a = group[group["alerted"]]
        out["by_scenario"][scenario] = {
            "insiders": int(len(group)),
            "recall": float(group["alerted"].mean()),
            "delay_median": float(a["delay_days"].median()) if len(a) else None,
            "delay_max": int(a["delay_days"].max()) if len(a) else None,
            "exposure_median": float(group["exposure"].median()),
        }
    out["per_insider"] = insiders.astype(object).where(insiders.notna(), None).to_dict("records")
    return out


def recall_at_budgets(scores: pd.DataFrame, labels: pd.DataFrame, fractions) -> list[float]:
    """Recall of insiders when each night's top ``fraction`` of agents is alerted."""
    out = []
    for f in fractions:
        flagged = scores[flag_by_budget(scores, f)]
        hits = 0
        for row in labels.itertuples():
            mine = flagged[(flagged[s.AGENT_ID] == row.agent_id) & (flagged[DAY] >= row.start_day) & (flagged[DAY] <= row.end_day)]
            hits += len(mine) > 0
        out.append(hits / max(len(labels), 1))
    return out


def score_histogram(scores: pd.DataFrame, label_days: pd.DataFrame, bins: int = 40) -> dict:
    """Counts of agent-day scores in equal bins, for harvesting agent-days and for all the
    others: how far the detector separates them."""
    sc = scores.merge(label_days[[s.AGENT_ID, DAY, "exfil_events"]], on=[s.AGENT_ID, DAY], how="left")
    harvesting = sc["exfil_events"].fillna(0).to_numpy() > 0
    values = sc["score"].to_numpy(float)
    edges = np.histogram_bin_edges(values, bins=bins) if len(values) else np.linspace(0, 1, bins + 1)
    return {
        "edges": [round(float(e), 6) for e in edges],
        "harvesting": np.histogram(values[harvesting], bins=edges)[0].tolist(),
        "other": np.histogram(values[~harvesting], bins=edges)[0].tolist(),
    }
