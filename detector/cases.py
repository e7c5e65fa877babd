"""Cases: one subject followed from its first alert until triage closes it.

A harvest goes on for days, and the night's alert budget goes to new subjects once the
harvester is known: without cases, its later days are ranked but never seen again. A case
is read from what the store holds, so a replay or a rescore never leaves it out of step:

- it opens on a subject's first alert (an agent, a team or a site) that no open case of the
  same subject holds, and its key is that alert's key (``triage KEY`` decides on the case);
- while open, every night the subject still stands out is one of its days, whether or not
  the night's budget went to it: an agent whose score reached the night's bar
  (:meth:`detector.alerts.AlertSettings.bar`, the same as the alerts'), or who was alerted;
  a team or site with a group alert. The nightly run keeps such a day of an agent with its
  reasons and evidence, as an alert marked ``ongoing`` (stored, not raised): the night's
  budget counts new subjects, and an open case is never dropped from view;
- a decision on any of its alerts is a decision on the case; ``benign`` or ``confirmed``
  closes it (a later ``escalated`` reopens it), with the days scored up to the day the
  decision was made. A later alert of the same subject opens a new case.

Pure: frames in, cases out. What a case exposed is :func:`exposure`'s, from the agent-days.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from detector import schema as s
from detector.aggregate import DAY

#: decisions that close a case (an escalation keeps it open)
CLOSING = ("benign", "confirmed")
#: the records a case's exposure counts by kind (agent-day columns)
EXPOSURE_KINDS = {
    "views": "customer record views",
    "id_document_views": "identity documents",
    "address_views": "addresses",
    "financial_views": "balances and transactions",
    "high_value_views": "high-value customers",
    "ticketless_views": "views without a ticket",
    "exports": "exports",
}


@dataclass
class Case:
    """One subject's case: its key (the opening alert's), its days and its decisions."""

    key: str
    subject_type: str
    subject_id: str
    opened: str
    status: str = "open"  # open | closed
    closed_on: str | None = None  # the day the closing decision was made
    #: day, score, rank, alerted, alert_key, reasons, members: ``alert_key`` and ``reasons``
    #: are the stored alert's (raised, or kept on the case: ``ongoing``), its evidence is
    #: stored under that key; None and empty on a day stored without (a store written
    #: before cases kept their days)
    days: pd.DataFrame = field(default_factory=pd.DataFrame)
    #: the case's decisions (on any of its alerts), oldest first
    decisions: pd.DataFrame = field(default_factory=pd.DataFrame)
    members: list[str] = field(default_factory=list)  # a group's, over all its days

    @property
    def last_day(self) -> str:
        return str(self.days[DAY].iloc[-1]) if len(self.days) else self.opened

    @property
    def alert_keys(self) -> list[str]:
        return [k for k in self.days["alert_key"] if isinstance(k, str)] if len(self.days) else [self.key]

    @property
    def triaged(self) -> bool:
        return len(self.decisions) > 0

    @property
    def last_decision(self) -> dict | None:
        return self.decisions.iloc[-1].to_dict() if len(self.decisions) else None

    def agent_days(self) -> list[tuple[str, str]]:
        """(day, agent) of what the case covers: an agent's days, a group's members on its days."""
        if self.subject_type == "agent":
            return [(str(d), self.subject_id) for d in self.days[DAY]]
        out: list[tuple[str, str]] = []
        for d, members in zip(self.days[DAY], self.days["members"]):
            out.extend((str(d), str(m)) for m in (members or []))
        return out


def build_cases(alerts: pd.DataFrame, decisions: pd.DataFrame, scores: pd.DataFrame, bars: dict[str, float]) -> list[Case]:
    """Every case the stored alerts open, oldest first.

    ``alerts``: stored alerts (alert_key, day, subject_type, subject_id, score, rank,
    reasons, members; suppressed ones count: a suppression hides an alert from the night's
    list, not from its case); ``decisions``: every decision (alert_key, status, decided_at,
    ...); ``scores``: the stored scores (day, agent_id, score, rank, flagged) of the agents
    with alerts; ``bars``: each scored day's bar."""
    if alerts is None or alerts.empty:
        return []
    alerts = alerts.sort_values([DAY, "subject_type", "subject_id"], kind="stable")
    if "ongoing" not in alerts:
        alerts = alerts.assign(ongoing=False)
    decided = decisions.sort_values("id", kind="stable") if decisions is not None and len(decisions) else pd.DataFrame(columns=["alert_key", "status", "decided_at"])
    by_agent = {a: g for a, g in scores.groupby(s.AGENT_ID, sort=False)} if scores is not None and len(scores) else {}
    cases: list[Case] = []
    for (kind, subject), theirs in alerts.groupby(["subject_type", "subject_id"], sort=False):
        theirs = theirs.sort_values(DAY, kind="stable")
        alert_of = {str(d): r for d, r in zip(theirs[DAY], theirs.to_dict("records"))}
        # the days that open a case: raised alerts, or alerts a suppression covered
        opening = {d for d, r in alert_of.items() if not r.get("ongoing")}
        days = sorted(alert_of)
        if kind == "agent" and subject in by_agent:
            mine = by_agent[subject]
            standing = [str(d) for d, sc in zip(mine[DAY], mine["score"]) if float(sc) >= bars.get(str(d), np.inf)]
            days = sorted(set(days) | set(standing))
        scored = {str(d): r for d, r in zip(by_agent[subject][DAY], by_agent[subject].to_dict("records"))} if kind == "agent" and subject in by_agent else {}
        current: Case | None = None
        rows: list[dict] = []
        for d in days:
            if current is not None:
                closes, theirs_decided = _closing(decided, rows)
                if closes is not None and d > closes:  # closed before this day: a later alert opens a new case
                    _finish(current, rows, theirs_decided, closed_on=closes)
                    cases.append(current)
                    current, rows = None, []
            if current is None:
                if d not in opening:
                    continue  # standing out with no alert (yet, or since the case closed): not a case
                current = Case(alert_of[d]["alert_key"], str(kind), str(subject), d)
            a = alert_of.get(d)
            sc = scored.get(d, {})
            rank = _int(a.get("rank")) if a is not None else None
            rows.append(
                {
                    DAY: d,
                    "score": float(a["score"]) if a is not None and pd.notna(a.get("score")) else float(sc.get("score", np.nan)),
                    "rank": rank if rank is not None else _int(sc.get("rank")),
                    "alerted": a is not None and not a.get("ongoing"),
                    "alert_key": a["alert_key"] if a is not None else None,
                    "reasons": list(a["reasons"]) if a is not None else [],
                    "members": list(a["members"]) if a is not None and a.get("members") is not None else None,
                }
            )
        if current is not None:
            closes, theirs_decided = _closing(decided, rows)
            _finish(current, rows, theirs_decided, closed_on=closes)
            cases.append(current)
    cases.sort(key=lambda c: (c.opened, c.subject_type, c.subject_id))
    return cases


def open_agents(alerts: pd.DataFrame, decisions: pd.DataFrame, day: str) -> set[str]:
    """The agents whose case is open on ``day``: opened by an alert of an earlier day and
    not closed before ``day`` (a decision closes a case from the day after it was made, as
    :func:`build_cases` reads it). ``alerts``: the stored alerts of the days before ``day``
    (more are ignored); ``decisions``: those made by the time of the run."""
    if alerts is None or alerts.empty:
        return set()
    earlier = alerts[(alerts["subject_type"] == "agent") & (alerts[DAY] < day)]
    cases = build_cases(earlier, decisions, None, {})
    return {c.subject_id for c in cases if c.status == "open" or (c.closed_on is not None and day <= c.closed_on)}


def _closing(decided: pd.DataFrame, rows: list[dict]) -> tuple[str | None, pd.DataFrame]:
    """The day a case of these rows was closed (None while open: no decision yet, or the
    latest is an escalation, which reopens it) and every decision on its alerts."""
    theirs = decided[decided["alert_key"].isin([r["alert_key"] for r in rows if r["alert_key"]])]
    if not len(theirs) or theirs["status"].iloc[-1] not in CLOSING:
        return None, theirs
    return str(theirs["decided_at"].iloc[-1])[:10], theirs


def _finish(case: Case, rows: list[dict], decisions: pd.DataFrame, *, closed_on: str | None) -> None:
    case.days = pd.DataFrame(rows, columns=[DAY, "score", "rank", "alerted", "alert_key", "reasons", "members"])
    case.decisions = decisions.reset_index(drop=True)
    if closed_on is not None:
        case.status, case.closed_on = "closed", closed_on
    members: list[str] = []
    for m in case.days["members"]:
        members.extend(x for x in (m or []) if x not in members)
    case.members = members


def _int(value) -> int | None:
    return None if value is None or pd.isna(value) else int(value)


def exposure(agent_days: pd.DataFrame, customers: np.ndarray) -> dict:
    """What a case exposed, from its agent-days (``agent_days``: the stored agent-days it
    covers) and the distinct customers they touched (``customers``: keyed hashes): distinct
    customers, records by kind, first and last access (UTC)."""
    out: dict = {"customers": int(len(customers)), "records": {}, "first_access": None, "last_access": None, "days": int(agent_days[DAY].nunique()) if len(agent_days) else 0}
    for column in EXPOSURE_KINDS:
        out["records"][column] = int(agent_days[column].sum()) if column in agent_days and len(agent_days) else 0
    if len(agent_days):
        first = agent_days.sort_values([DAY, "first_seen"]).iloc[0]
        last = agent_days.sort_values([DAY, "last_seen"]).iloc[-1]
        out["first_access"] = _when(first[DAY], first["first_seen"])
        out["last_access"] = _when(last[DAY], last["last_seen"])
    return out


def _when(day: str, minute) -> str:
    m = int(minute)
    return f"{day}T{m // 60:02d}:{m % 60:02d}Z"


def select_cases(cases: list[Case], status: str = "all", untriaged: bool = False) -> list[Case]:
    """The cases of one status (``open``, ``closed`` or ``all``), only the untriaged ones
    when asked."""
    return [c for c in cases if (status == "all" or c.status == status) and (not untriaged or not c.triaged)]


def find_case(cases: list[Case], key: str) -> Case:
    """The case whose key (or the key of one of its alerts) starts with ``key``; a usage
    error when none or several do."""
    from detector.errors import UsageError

    key = key.strip().lower()
    if len(key) < 6:
        raise UsageError("give at least 6 characters of the case key (see: insiderwatch cases)")
    hits = [c for c in cases if c.key.startswith(key)] or [c for c in cases if any(k.startswith(key) for k in c.alert_keys)]
    if not hits:
        raise UsageError(f"no case with key {key!r} (see: insiderwatch cases --status all)")
    if len(hits) > 1:
        raise UsageError(f"{len(hits)} cases start with {key!r}: give more of the key")
    return hits[0]
