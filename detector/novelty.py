"""First-time-seen counts: of the customers an agent touched on a day, how many they had not
touched in the weeks before, and how many nobody in their team had.

Why. Support work keeps returning to the same people: follow-ups on one's own tickets, a
colleague's escalation, the linked account of a dispute, a team that serves one segment.
Harvesting walks through records that nobody on the desk had a reason to open. A busy
ordinary day raises the number of new customers in proportion to the day's customers; a
harvesting day raises the share of them that are new to the agent and, above all, new to
the team. The features stage judges these counts as parts of the day's distinct customers,
against the agent's own usual share, like the other composition measures.

The counts depend on earlier days, so they are computed when a day is scored, from the
touched sets (:class:`detector.aggregate.Touched`) of the days before it, and stored with
the day's agent-day counts. Pure: no I/O.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from detector import schema as s
from detector.aggregate import Touched

#: the counts this module adds to an agent-day, with what each counts
NOVELTY_COUNTS: dict[str, str] = {
    "new_customers": "distinct customers the agent had not touched in the previous weeks",
    "team_new_customers": "distinct customers nobody in the agent's team had touched in the previous weeks",
}
UNKNOWN_TEAM = s.UNKNOWN
# an odd 64-bit constant: (group, customer hash) pairs become one uint64 key
_MIX = np.uint64(0x9E3779B97F4A7C15)


def _keys(hashes: np.ndarray, groups: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        return hashes + groups.astype(np.uint64) * _MIX


def _member(values: np.ndarray, pool: np.ndarray) -> np.ndarray:
    """values in pool, by hashing. The pool (weeks of history) is far larger than the values
    (one day): the values go into the hash table and the pool is looked up in it (np.isin
    sorts everything and is far slower on wide uint64 keys)."""
    if len(pool) == 0 or len(values) == 0:
        return np.zeros(len(values), bool)
    hits = pool[pd.Index(pool, copy=False).isin(values)]
    return pd.Index(values, copy=False).isin(hits)


def novelty_counts(today: Touched | None, history: list[Touched], team_of: dict | None = None) -> pd.DataFrame:
    """``new_customers`` and ``team_new_customers`` of every agent in ``today``.

    Parameters
    ----------
    today : the touched sets of the scored day (None or empty: no rows)
    history : touched sets of earlier days (the novelty window); days the store does not
        hold are simply absent, which makes early days look newer than they are
    team_of : agent_id -> team (from the roster). Agents without a team, or no roster at
        all, share one team: the whole desk.

    Returns
    -------
    DataFrame with ``agent_id``, ``new_customers``, ``team_new_customers`` (int64), one row
    per agent of ``today``.
    """
    cols = [s.AGENT_ID, *NOVELTY_COUNTS]
    if today is None or len(today.agents) == 0:
        return pd.DataFrame({c: pd.Series(dtype="int64") for c in cols}).astype({s.AGENT_ID: s.STRING_DTYPE})
    team_of = team_of or {}
    agents_all = [today.agents, *[t.agents for t in history]]
    code_index = pd.Index(pd.unique(np.concatenate(agents_all).astype(object)))
    teams = pd.Series([team_of.get(a) or UNKNOWN_TEAM for a in code_index], dtype=object)
    team_code = pd.factorize(teams)[0].astype(np.int64)

    def codes(t: Touched) -> np.ndarray:
        return code_index.get_indexer(t.agents)[t.agent_codes()]

    t_agent = codes(today)
    if history:
        h_agent = np.concatenate([codes(t) for t in history])
        h_hash = np.concatenate([t.hashes for t in history])
    else:
        h_agent, h_hash = np.zeros(0, np.int64), np.zeros(0, np.uint64)
    seen_agent = _member(_keys(today.hashes, t_agent), _keys(h_hash, h_agent))
    seen_team = _member(_keys(today.hashes, team_code[t_agent]), _keys(h_hash, team_code[h_agent]))
    local = today.agent_codes()
    n = len(today.agents)
    return pd.DataFrame(
        {
            s.AGENT_ID: pd.array(today.agents.astype(str), dtype=s.STRING_DTYPE),
            "new_customers": np.bincount(local, weights=~seen_agent, minlength=n).astype(np.int64),
            "team_new_customers": np.bincount(local, weights=~seen_team, minlength=n).astype(np.int64),
        }
    )
