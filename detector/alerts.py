"""From scores to alerts: rank, budget, threshold, accumulated risk, group alerts, and the
reasons in plain sentences with numbers.

Pure: frames in, frames out.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from detector import schema as s
from detector.evidence import DERIVED
from detector.features import PEER_GROUP, peer_words
from detector.metrics import METRIC_TABLE

#: how each metric reads in a reason sentence
PHRASES: dict[str, str] = {m.name: m.phrase for m in METRIC_TABLE}
#: metrics whose excess means harvesting when a whole team shows it
GROUP_METRICS = ("ticketless_views", "off_primary_views", "id_document_views", "sequential_customers", "outside_shift_events")


@dataclass(frozen=True)
class AlertSettings:
    """budget_fraction : share of the night's active agents that may be alerted
    min_budget : alerts always allowed, however small the desk
    threshold : calibrated score (-log10 tail share) an agent-day must reach to alert
    chance_alerts : on a large desk the bar rises (:meth:`bar`) so that about this many
        ordinary agent-days a night reach it by chance, whatever the desk's size (0: the
        threshold alone). A score of s is rarer than 1 in 10^s agent-days: with 2.0, one
        in a hundred of 1,500 agents (15 a night) would reach it
    max_bar : the highest the bar rises (3.0: 1 in 1,000, which a model trained on its
        default 10,000 agent-days still tells apart)
    accumulate_days, accumulate_weight, accumulate_floor : accumulated risk, so that a steady
        drip rises: weight x sum of (score - floor)+ over the previous days
    realert_days : an agent alerted in the previous this many days is a known case: new
        subjects take the night's budget first, known ones fill what is left (0 = off), so
        a crowded night surfaces more distinct people instead of repeating yesterday's
    group_budget : team or site alerts a night at most
    group_min_members : members with a personal harvesting excess for a group alert
    group_member_ratio : the excess (times their own baseline) that counts a member
    group_z : how far the group's excess must stand above other groups' that day (robust z)
    """

    budget_fraction: float = 0.005
    min_budget: int = 1
    threshold: float = 2.0
    chance_alerts: float = 4.0
    max_bar: float = 3.0
    accumulate_days: int = 6
    accumulate_weight: float = 0.0
    accumulate_floor: float = 1.3
    realert_days: int = 7
    group_budget: int = 2
    group_min_members: int = 3
    group_member_ratio: float = 3.0
    group_z: float = 4.0

    def budget(self, active_agents: int) -> int:
        return max(self.min_budget, math.ceil(self.budget_fraction * active_agents))

    def bar(self, active_agents: int) -> float:
        """The calibrated score an agent-day must reach on a night of ``active_agents``:
        ``threshold``, or higher on a desk large enough that more than ``chance_alerts``
        ordinary agent-days would reach it (log10 of active agents / ``chance_alerts``, at
        most ``max_bar``): 2.0 up to 400 active agents, 2.5 at 1,265, 3.0 from 4,000."""
        if self.chance_alerts <= 0 or active_agents <= 0:
            return self.threshold
        return max(self.threshold, min(self.max_bar, math.log10(active_agents / self.chance_alerts)))


@dataclass(frozen=True)
class Alert:
    """One alert of one night: an agent, or a team or site whose members harvest together.

    alert_key : stable identity (:func:`alert_key`): the same subject, day and detector
        version give the same key, so a rerun never raises an alert twice
    subject_type : "agent", or the roster column of a group ("team", "site")
    subject_id : the agent id, or the team or site name
    score : the agent's calibrated score; a group's robust z against the other groups
    rank : the agent's rank that night (1 = most anomalous); None for a group
    reasons : plain sentences with numbers, strongest first
    members : a group's members who carry an excess (None for an agent)
    suppressed_by : the suppression that covered it: stored, not raised (None: raised)
    ongoing : a day of the agent's open case (:mod:`detector.cases`) on which it stood out
        again (at or above the night's bar) but the budget went to new subjects: stored with
        its reasons and evidence, kept on the case, not raised
    """

    alert_key: str
    subject_type: str
    subject_id: str
    score: float
    rank: int | None
    reasons: list[str]
    members: list[str] | None
    detector_version: str
    suppressed_by: int | None = None
    ongoing: bool = False

    @classmethod
    def of_subject(
        cls,
        subject_type: str,
        subject_id: str,
        day: str,
        *,
        detector_version: str,
        score: float,
        reasons: list[str],
        rank: int | None = None,
        members: list[str] | None = None,
        suppressed_by: int | None = None,
        ongoing: bool = False,
    ) -> Alert:
        """The alert of ``subject_id`` on ``day``, its key derived from both."""
        return cls(
            alert_key=alert_key(subject_type, subject_id, day, detector_version),
            subject_type=subject_type,
            subject_id=subject_id,
            score=float(score),
            rank=rank,
            reasons=list(reasons),
            members=members,
            detector_version=detector_version,
            suppressed_by=suppressed_by,
            ongoing=ongoing,
        )

    @property
    def agents(self) -> list[str]:
        """The agents whose accesses are its evidence: the agent, or the group's members."""
        return [self.subject_id] if self.subject_type == "agent" else list(self.members or [])

    def as_record(self) -> dict[str, Any]:
        """Its fields as a plain dict (a row of a frame, a line of an export)."""
        return dataclasses.asdict(self)


#: the fields of an alert, in order (a frame of alerts has these columns, plus ``day``)
ALERT_FIELDS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(Alert))


def alert_key(subject_type: str, subject: str, day: str, detector_version: str) -> str:
    """Stable identity of an alert: the same subject, day and detector version always give
    the same key, so reruns and overlapping replays never raise an alert twice."""
    text = "\x1f".join([subject_type, subject, day, detector_version])
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:24]


def accumulated_risk(recent: pd.DataFrame, agents: pd.Series, *, day: str, settings: AlertSettings) -> np.ndarray:
    """Sum of the previous ``accumulate_days`` days' score excess over the floor, per agent."""
    if recent is None or recent.empty or settings.accumulate_weight == 0:
        return np.zeros(len(agents))
    first = (pd.Timestamp(day) - pd.Timedelta(days=settings.accumulate_days)).strftime("%Y-%m-%d")
    window = recent[(recent["day"] >= first) & (recent["day"] < day)]
    excess = (window["score"] - settings.accumulate_floor).clip(lower=0).groupby(window[s.AGENT_ID]).sum()
    risk: np.ndarray = agents.map(excess).fillna(0.0).to_numpy(float)
    return risk


def recently_alerted(recent: pd.DataFrame | None, agents: pd.Series, *, day: str, settings: AlertSettings) -> np.ndarray:
    """True for agents alerted (flagged) in the previous ``realert_days`` days.

    (Tried: counting only episodes still under way, so that an agent who went quiet and
    stands out again is news. On a 1,500-agent desk it raised false alerts a night from 2.9
    to 3.2 and lowered precision on harvesting nights from 0.50 to 0.44: benign agents who
    stand out now and then recur more than harvesters pause. See BENCHMARKS.md.)"""
    if recent is None or recent.empty or settings.realert_days <= 0 or "flagged" not in recent:
        return np.zeros(len(agents), bool)
    first = (pd.Timestamp(day) - pd.Timedelta(days=settings.realert_days)).strftime("%Y-%m-%d")
    window = recent[(recent["day"] >= first) & (recent["day"] < day) & recent["flagged"].astype(bool)]
    alerted: np.ndarray = agents.isin(set(window[s.AGENT_ID])).to_numpy(bool)
    return alerted


def rank_and_flag(
    scored: pd.DataFrame,
    *,
    settings: AlertSettings,
    risk: np.ndarray | None = None,
    known: np.ndarray | None = None,
    suppressed: np.ndarray | None = None,
) -> pd.DataFrame:
    """Add ``risk``, ``rank_score``, ``rank`` (1 = most anomalous) and ``flagged`` to the
    night's scored agents (columns ``agent_id``, ``score``, ``raw_score``).

    Flagged = at or above the threshold and within the night's budget, new subjects first,
    suppressed agents never (``suppressed_alert`` marks those above the threshold)
    (``known``: agents alerted in the last few nights, see :func:`recently_alerted`). A model that learned
    from few agent-days cannot call anything rarer than about 1 in n: on a small desk's
    first nights (fit on the night itself) the threshold may be out of reach, which is the
    honest answer until history accumulates.
    """
    out = scored.copy(deep=False)  # copy-on-write: the new columns leave ``scored`` as it is
    out["risk"] = 0.0 if risk is None else risk
    suppressed = np.zeros(len(out), bool) if suppressed is None else np.asarray(suppressed, bool)
    out["rank_score"] = out["score"] + settings.accumulate_weight * out["risk"]
    # Agent-days beyond everything the model learned from share the top calibrated score;
    # among them the larger summed harvesting deviation ranks first, then the raw score.
    severity = out["severity"].to_numpy(float) if "severity" in out else np.zeros(len(out))
    order = np.lexsort((out[s.AGENT_ID].to_numpy(), -out["raw_score"].to_numpy(), -severity, -out["rank_score"].to_numpy()))
    rank = np.empty(len(out), np.int64)
    rank[order] = np.arange(1, len(out) + 1)
    out["rank"] = rank
    budget = settings.budget(len(out))
    eligible = (out["rank_score"] >= settings.bar(len(out))).to_numpy()
    known = np.zeros(len(out), bool) if known is None else np.asarray(known, bool)
    # new subjects first, in rank order; known cases fill the budget that is left
    priority = np.lexsort((out["rank"].to_numpy(), known))
    chosen = priority[eligible[priority] & ~suppressed[priority]][:budget]
    flagged = np.zeros(len(out), bool)
    flagged[chosen] = True
    out["flagged"] = flagged
    out["known_case"] = known
    # covered by a suppression: never raised nor counted in the budget, but an agent-day
    # above the threshold is still stored as a (suppressed) alert
    out["suppressed_alert"] = suppressed & eligible
    return out


def _fmt(x: float) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    return f"{x:,.0f}" if abs(x) >= 10 or float(x).is_integer() else f"{x:.1f}"


def _against(x: float, ref: float, what: str) -> str:
    """'9.8x <what> of 22', or 'against <what> of 0' where a ratio would mislead."""
    if ref < 1.0:
        return f"against {what} of {_fmt(ref)}"
    return f"{x / ref:.1f}x {what} of {_fmt(ref)}"


#: accumulated evidence (``accum__max``, a z of the window) from which it is stated in words
ACCUM_STATED = 2.0


def accumulated_sentence(row: pd.Series | dict[str, Any], metric: str) -> str:
    """'over the last 12 days, 190 more identity document views than their own normal (16 a
    day on 12 working days, against 310 expected)' when ``metric`` carries the row's
    accumulated evidence (:mod:`detector.evidence`), else ''."""
    carried = row.get("accum__metric")
    if carried != metric and not (carried in DERIVED and metric in DERIVED[carried][1]):
        return ""
    z, excess, days = float(row.get("accum__max", 0.0) or 0.0), float(row.get("accum__excess", 0.0) or 0.0), int(row.get("accum__days", 0) or 0)
    if z < ACCUM_STATED or excess < 1 or days < 1:
        return ""
    return (
        f"over the last {int(row['accum__window'])} days, {_fmt(excess)} more {PHRASES.get(carried) or DERIVED[carried][2]} than their own normal "
        f"({_fmt(excess / days)} a day on {days} working days, against {_fmt(float(row['accum__expected']))} expected)"
    )


def reason_sentences(row: pd.Series, contributions: dict[str, float], *, top: int = 3) -> list[str]:
    """Plain sentences, strongest first, for the metrics that drove the score.

    ``contributions`` maps model input names (``metric__own`` / ``metric__peer``) to their
    contribution; a metric's weight is the sum over its inputs. Only metrics with a positive
    contribution and a real excess are stated, so reasons agree with the deviations.
    """
    by_metric: dict[str, float] = {}
    for name, value in contributions.items():
        metric = name.split("__")[0]
        by_metric[metric] = by_metric.get(metric, 0.0) + float(value)
    ordered = sorted((m for m, v in by_metric.items() if v > 0), key=lambda m: -by_metric[m])
    sentences = []
    for m in ordered:
        value = float(row[m])
        base = row.get(f"{m}__base")
        role_med = float(row[f"{m}__role_med"])
        team_p95 = float(row[f"{m}__team_p95"])
        parts = []
        has_base = base is not None and not pd.isna(base)
        if has_base and value > float(base):
            parts.append(f"{_against(value, float(base), 'their own median')} ({int(row['history_days'])} days)")
        if value > role_med:
            peers = peer_words(row.get(PEER_GROUP, row[s.ROLE]))
            parts.append(f"{_against(value, role_med, f'the median of {peers} today')}")
        if value > team_p95 and row[s.TEAM] != s.UNKNOWN:
            parts.append(f"{_against(value, team_p95, f'the 95th percentile of team {row[s.TEAM]}')}")
        days = accumulated_sentence(row, m)
        if not parts and not days:
            continue
        if not parts:
            sentences.append(days[0].upper() + days[1:])
            if len(sentences) >= top:
                break
            continue
        sentence = f"{_fmt(value)} {PHRASES[m]}: " + ", ".join(parts)
        if m == "ticketless_views" and row["views"] > 0:
            sentence += f"; {100 * value / row['views']:.0f}% of all views had no ticket"
        if m in ("new_customers", "team_new_customers") and row["customers"] > 0:
            sentence += f"; {100 * value / row['customers']:.0f}% of the {_fmt(float(row['customers']))} customers of the day"
        if days:
            sentence += f"; {days}"
        if not has_base:
            sentence += " (no personal history yet: compared with peers)"
        sentences.append(sentence)
        if len(sentences) >= top:
            break
    return sentences


#: members of a role (with a personal baseline) needed before its shared shift is taken out
ROLE_SHIFT_MIN_MEMBERS = 8


def role_shift(ratio: np.ndarray, has_base: np.ndarray, roles: np.ndarray, min_members: int = ROLE_SHIFT_MIN_MEMBERS) -> np.ndarray:
    """Each member's role's median ratio of today to own baseline (at least 1: a quiet day
    makes nobody's excess larger), over the role's members with a baseline; 1 for roles with
    fewer than ``min_members`` of them, whose median a ring could make."""
    out = np.ones(len(ratio))
    if not len(ratio):
        return out
    frame = pd.DataFrame({"role": roles, "ratio": np.where(has_base, ratio, np.nan)})
    g = frame.groupby("role", dropna=False)["ratio"]
    med = g.transform("median").to_numpy(float)
    n = g.transform("count").to_numpy(float)
    use = (n >= min_members) & np.isfinite(med)
    out[use] = np.maximum(med[use], 1.0)
    return out


def group_alerts(features: pd.DataFrame, *, day: str, settings: AlertSettings) -> pd.DataFrame:
    """Teams and sites whose members show harvesting excesses together.

    A ring recruits its team lead, so a team drifting together hides from comparisons inside
    the team; here each team (and site) is compared with the others the same day: the
    group's summed excess over its members' own baselines (of the members who carry one),
    and how many members carry it. Each member's baseline is first scaled by what their role shows desk-wide that day
    (:func:`role_shift`), so a role's busy week (a KYC backlog sits in one team, at one
    site) is not read as that team drifting together.
    """
    rows: list[dict[str, Any]] = []
    if features.empty:
        return pd.DataFrame(rows)
    member_hit = np.zeros(len(features), bool)
    excess = np.zeros(len(features))
    # roles as integer codes: the same groups without a Python string per agent
    # (the people who do the same work: a coarse roster's KYC reviewers are "agent" too)
    role_col = PEER_GROUP if PEER_GROUP in features else s.ROLE
    roles = pd.factorize(features[role_col])[0] if role_col in features else np.zeros(len(features), np.int64)
    for m in GROUP_METRICS:
        # only members with a personal baseline count: without one there is no drift to see
        has_base = features[f"{m}__base"].notna().to_numpy()
        base = features[f"{m}__base"].fillna(0.0).to_numpy(float)
        value = features[m].to_numpy(float)
        ratio = (value + 5.0) / (base + 5.0)
        # what the member's whole role shows today across every team and site: a KYC
        # re-verification week or an outage that blanks ticket ids lifts a role together,
        # a ring lifts a few of its members; the expected value follows the role
        shift = role_shift(ratio, has_base, roles)
        hit = has_base & (ratio / shift >= settings.group_member_ratio)
        member_hit |= hit
        # the excess of the members who carry one: the rest of a team is noise around its
        # baseline, and that noise grows with the volume of the team's usual work
        expected = (base + 5.0) * shift - 5.0
        excess += np.where(hit, np.maximum(value - expected, 0.0), 0.0)
    # the columns the groups need (a filtered copy of every feature would be the day's features again)
    frame = features[[s.AGENT_ID, s.TEAM, s.SITE]].assign(_hit=member_hit, _excess=excess)
    for kind in (s.TEAM, s.SITE):
        g = frame[frame[kind] != s.UNKNOWN].groupby(kind)
        if g.ngroups < 3:
            continue
        size = g.size()
        per_member = g["_excess"].sum() / size
        hits = g["_hit"].sum()
        med = per_member.median()
        mad = (per_member - med).abs().median() * 1.4826 or 1.0
        z = (per_member - med) / mad
        for name in z.index:
            if hits[name] >= settings.group_min_members and z[name] >= settings.group_z:
                members = frame[(frame[kind] == name) & frame["_hit"]].sort_values("_excess", ascending=False)
                rows.append(
                    {
                        "subject_type": kind,
                        "subject_id": name,
                        "score": float(z[name]),
                        "members": members[s.AGENT_ID].tolist(),
                        "reasons": [
                            f"{int(hits[name])} of {int(size[name])} members of {kind} {name} show harvesting excesses "
                            f"today (views without a ticket, unrelated to their ticket, id documents, consecutive ids or "
                            f"outside their working block at {settings.group_member_ratio:.0f}x or more their own median, beyond what their role "
                            f"shows across the desk today)",
                            f"their excess over their baselines comes to {_fmt(per_member[name])} accesses per member of the {kind}, "
                            f"{z[name]:.1f} robust deviations above the other {kind}s today (median {_fmt(med)})",
                        ],
                    }
                )
    out = pd.DataFrame(rows)
    if len(out):
        out = out.sort_values("score", ascending=False).head(settings.group_budget).reset_index(drop=True)
    return out
