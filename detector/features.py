"""Features of one scored day: each agent against their own lagged baseline and against their
peers that same day.

Why these: harvesting shows as more record views than the person's own normal, of the kinds
that matter (no ticket, customers unrelated to the ticket, identity documents, high-value
balances, consecutive ids, outside the day's working block), and more than people doing the
same job that day. What a real desk does to everyone at once (a market-crash day, a queue's
backlog week) is taken out by comparing each person's rise with their team's rise; what a
role does normally (KYC opens many id documents) is taken out by comparing with the role.

Pure: agent-day frames in, a feature frame out. No I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from detector import schema as s
from detector.aggregate import DAY, HOURS

#: the per-day measures features are built from; each is a count in the agent-day
METRICS: dict[str, str] = {
    "views": "customer record views",
    "customers": "distinct customers",
    "ticketless_views": "views without a ticket",
    "off_primary_views": "views of customers unrelated to the ticket they were made under",
    "id_document_views": "identity document views",
    "address_views": "address views",
    "financial_views": "balance and transaction views",
    "high_value_views": "high-value customer views",
    "sequential_customers": "customers with consecutive ids",
    "outside_shift_events": "accesses outside the day's working block",
    "exports": "exports",
}
#: counts added to numerator and denominator of every ratio, so that going from 0 to 2
#: of something rare is not an anomaly
PSEUDO_COUNT = 5.0
#: hours in the busiest block of a working day; accesses outside it are outside the shift
SHIFT_BLOCK_HOURS = 9
UNKNOWN = "(none)"
#: smallest spread (in log units) a z-score divides by: a perfectly regular agent is not
#: alarming for a 15% change
MIN_SPREAD = 0.1
#: metrics that only harvesting (not ordinary busy work) drives up
HARVEST_METRICS = (
    "ticketless_views",
    "off_primary_views",
    "id_document_views",
    "address_views",
    "high_value_views",
    "sequential_customers",
    "outside_shift_events",
    "exports",
)


def _count_noise(count) -> np.ndarray:
    """Spread of log(count + PSEUDO_COUNT) that Poisson counting noise alone produces."""
    c = np.nan_to_num(np.asarray(count, float), nan=0.0).clip(min=0.0)
    return np.maximum(MIN_SPREAD, np.sqrt(c + 1.0) / (c + PSEUDO_COUNT))


def _mapped(agents: pd.Series, table: pd.DataFrame, column: str) -> np.ndarray:
    if column not in table:
        return np.full(len(agents), np.nan)
    return np.array(agents.map(table[column]), dtype=float)


@dataclass(frozen=True)
class FeatureSettings:
    """How baselines and peers are formed.

    window : days in the personal baseline window
    lag : days between the end of that window and the scored day, so that a ramp of a few
        days cannot pull its own baseline up
    min_history : active days an agent needs in the window for a personal baseline; with
        fewer, only peer comparisons count (a new hire leans on peers)
    min_team : active team members needed the same day to use the team as the reference
        for the desk-wide rise; with fewer the role is used
    """

    window: int = 28
    lag: int = 7
    min_history: int = 5
    min_team: int = 4


def outside_shift_events(agent_days: pd.DataFrame, block: int = SHIFT_BLOCK_HOURS) -> pd.Series:
    """Accesses outside the busiest ``block``-hour span (circular, local hours) of each
    agent-day: after-hours work shows here, a shift change does not."""
    hours = agent_days[HOURS].to_numpy(dtype=np.int64)
    doubled = np.concatenate([hours, hours[:, : block - 1]], axis=1)
    cs = np.concatenate([np.zeros((len(hours), 1), np.int64), np.cumsum(doubled, axis=1)], axis=1)
    windows = cs[:, block : block + 24] - cs[:, :24]
    return pd.Series(hours.sum(axis=1) - windows.max(axis=1), index=agent_days.index, dtype="int64")


def with_metrics(agent_days: pd.DataFrame) -> pd.DataFrame:
    """Agent-days with the derived metrics added (outside_shift_events)."""
    out = agent_days.copy()
    out["outside_shift_events"] = outside_shift_events(out) if len(out) else pd.Series(dtype="int64")
    return out


def _log_ratio(x, ref):
    return np.log((np.asarray(x, float) + PSEUDO_COUNT) / (np.asarray(ref, float) + PSEUDO_COUNT))


def peer_groups(agents: pd.Series, roster: pd.DataFrame | None) -> pd.DataFrame:
    """team, role, site and vendor of each agent; agents missing from the roster (or no
    roster at all) form one group with the whole desk."""
    frame = pd.DataFrame({s.AGENT_ID: agents.astype(s.STRING_DTYPE)})
    cols = [s.TEAM, s.ROLE, s.SITE, s.VENDOR]
    if roster is not None and len(roster):
        info = roster[[s.AGENT_ID] + [c for c in cols if c in roster.columns]].drop_duplicates(s.AGENT_ID)
        info = info.astype({s.AGENT_ID: s.STRING_DTYPE})
        frame = frame.merge(info, on=s.AGENT_ID, how="left")
    for c in cols:
        if c not in frame.columns:
            frame[c] = UNKNOWN
        frame[c] = frame[c].astype(s.STRING_DTYPE).fillna(UNKNOWN).replace("", UNKNOWN)
    return frame


def compute(
    history: pd.DataFrame,
    today: pd.DataFrame,
    *,
    day: str,
    roster: pd.DataFrame | None = None,
    settings: FeatureSettings = FeatureSettings(),
) -> pd.DataFrame:
    """Features of every agent active on ``day``.

    Parameters
    ----------
    history : DataFrame
        Agent-days (aggregate.AGENT_DAY_COLUMNS) of days before ``day``; only the baseline
        window [day - lag - window, day - lag) is used. May be empty.
    today : DataFrame
        Agent-days of ``day`` itself.
    day : str
        The scored day, YYYY-MM-DD.

    Returns
    -------
    DataFrame
        One row per agent active that day: ``agent_id``, peer-group columns, ``history_days``
        and, for each metric m in :data:`METRICS`: ``m`` (today's value), ``m__base``
        (personal baseline median, NaN without enough history), ``m__base_hi`` (the
        baseline's 90th percentile), ``m__team_med``/``m__team_p95``, ``m__role_med``/
        ``m__role_p95`` (peer bands today), ``m__own`` (log ratio to own baseline, minus the
        team's typical rise today), ``m__peer`` (log ratio to the role's median today).
        Model inputs are :func:`model_inputs` of this frame.
    """
    today = with_metrics(today[today[DAY] == day]) if len(today) else with_metrics(today)
    day_ts = pd.Timestamp(day)
    first = (day_ts - pd.Timedelta(days=settings.lag + settings.window)).strftime("%Y-%m-%d")
    last = (day_ts - pd.Timedelta(days=settings.lag)).strftime("%Y-%m-%d")
    hist = history[(history[DAY] >= first) & (history[DAY] < last)] if len(history) else history
    hist = with_metrics(hist)

    out = peer_groups(today[s.AGENT_ID].reset_index(drop=True), roster)
    out.insert(0, DAY, day)
    today = today.reset_index(drop=True)
    metrics = list(METRICS)
    by_agent = hist.groupby(s.AGENT_ID)[metrics] if len(hist) else None
    base_med = by_agent.median() if by_agent is not None else pd.DataFrame(columns=metrics)
    base_hi = by_agent.quantile(0.9) if by_agent is not None else pd.DataFrame(columns=metrics)
    if by_agent is not None:
        logs = np.log(hist[metrics].astype(float) + PSEUDO_COUNT).assign(**{s.AGENT_ID: hist[s.AGENT_ID].to_numpy()})
        log_med = logs.groupby(s.AGENT_ID)[metrics].median()
        dev = (logs[metrics] - log_med.reindex(logs[s.AGENT_ID]).to_numpy()).abs().assign(**{s.AGENT_ID: logs[s.AGENT_ID]})
        log_mad = dev.groupby(s.AGENT_ID)[metrics].median()
    else:
        log_med = log_mad = pd.DataFrame(columns=metrics)
    active = hist.groupby(s.AGENT_ID).size() if len(hist) else pd.Series(dtype="int64")
    out["history_days"] = out[s.AGENT_ID].map(active).fillna(0).astype("int64").to_numpy()
    enough = out["history_days"].to_numpy() >= settings.min_history

    team_size = out.groupby(s.TEAM)[s.AGENT_ID].transform("size").to_numpy()
    use_team = (team_size >= settings.min_team) & (out[s.TEAM] != UNKNOWN).to_numpy()

    cols: dict[str, np.ndarray] = {}
    peer_key = out[s.ROLE].to_numpy()
    shared_key = np.where(use_team, out[s.TEAM], "role:" + out[s.ROLE])
    for m in metrics:
        x = today[m].to_numpy(float)
        lx = np.log(x + PSEUDO_COUNT)
        cols[m] = today[m].to_numpy()
        med = _mapped(out[s.AGENT_ID], base_med, m)
        hi = _mapped(out[s.AGENT_ID], base_hi, m)
        lmed = _mapped(out[s.AGENT_ID], log_med, m)
        lmad = _mapped(out[s.AGENT_ID], log_mad, m)
        for arr in (med, hi, lmed, lmad):
            arr[~enough] = np.nan
        cols[f"{m}__base"] = med
        cols[f"{m}__base_hi"] = hi
        for group, name in ((s.TEAM, "team"), (s.ROLE, "role")):
            g = pd.Series(x).groupby(out[group].to_numpy())
            cols[f"{m}__{name}_med"] = g.transform("median").to_numpy()
            cols[f"{m}__{name}_p95"] = g.transform("quantile", 0.95).to_numpy()
        # against the agent's own past, in units of the agent's own day-to-day spread
        # (never below the spread that counting noise alone gives a count of that size)
        own_z = (lx - lmed) / np.maximum(1.4826 * lmad, _count_noise(med))
        # the rise everyone in the team (or role) shares today is not personal
        shared = pd.Series(own_z).groupby(shared_key).transform("median").to_numpy()
        cols[f"{m}__own"] = own_z - np.nan_to_num(shared, nan=0.0)
        # against people doing the same job today, in units of their spread
        g = pd.Series(lx).groupby(peer_key)
        peer_med = g.transform("median").to_numpy()
        peer_mad = pd.Series(np.abs(lx - peer_med)).groupby(peer_key).transform("median").to_numpy()
        cols[f"{m}__peer"] = (lx - peer_med) / np.maximum(1.4826 * peer_mad, _count_noise(np.exp(peer_med) - PSEUDO_COUNT))
        # the model sees the personal comparison where there is a past, else the peers
        cols[f"{m}__z"] = np.where(enough, cols[f"{m}__own"], cols[f"{m}__peer"])
    # one axis for "the strongest harvesting sign", one for "how many signs at once": an
    # isolation forest splits one feature at a time, so a single extreme sign among many
    # quiet features is found faster along these
    harvest = np.column_stack([np.clip(cols[f"{m}__z"], 0, None) for m in HARVEST_METRICS])
    harvest = np.nan_to_num(harvest, nan=0.0)
    cols["harvest__max"] = harvest.max(axis=1) if len(harvest) else np.zeros(0)
    cols["harvest__sum"] = harvest.sum(axis=1) if len(harvest) else np.zeros(0)
    out = pd.concat([out, pd.DataFrame(cols, index=out.index)], axis=1)
    return out


def model_input_names() -> list[str]:
    """Names of the model's input columns, in order: one per metric."""
    return [f"{m}__z" for m in METRICS] + ["harvest__max", "harvest__sum"]


def model_inputs(features: pd.DataFrame) -> pd.DataFrame:
    """The model's inputs: excesses only (a quiet day is not suspicious), missing personal
    baselines as no excess, so agents without history are judged on their peers."""
    cols = model_input_names()
    return features[cols].astype(float).fillna(0.0).clip(lower=0.0)
