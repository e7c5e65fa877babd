"""The simulated support desk's people: vendors, sites, teams, roles, shifts and workloads.

Pure: builds arrays and a roster DataFrame from a seeded generator; writes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np
import pandas as pd

from detector import schema as s

# (vendor, site, IANA zone, share of the desk, subnet for source IPs)
SITES: tuple[tuple[str, str, str, float, str], ...] = (
    ("inhouse", "dublin", "Europe/Dublin", 0.22, "10.10"),
    ("northstar_bpo", "manila", "Asia/Manila", 0.34, "10.20"),
    ("northstar_bpo", "cebu", "Asia/Manila", 0.10, "10.21"),
    ("vertex_cx", "bogota", "America/Bogota", 0.17, "10.30"),
    ("vertex_cx", "hyderabad", "Asia/Kolkata", 0.17, "10.40"),
)

#: team kinds, the role of their members, and their share of teams
TEAM_KINDS: tuple[tuple[str, str, float], ...] = (
    ("general", "agent", 0.70),
    ("kyc", "kyc_specialist", 0.12),
    ("escalations", "escalations", 0.10),
    ("qa", "qa_reviewer", 0.08),
)
#: the queues general teams serve; a backlog week hits one of them
QUEUES: tuple[str, ...] = ("account_access", "payments", "trading")

#: local weekday pairs off (Monday = 0); most teams are off at the weekend
OFF_DAY_PATTERNS: tuple[tuple[tuple[int, ...], float], ...] = (
    ((5, 6), 0.66),
    ((6, 0), 0.14),
    ((4, 5), 0.10),
    ((1, 2), 0.10),
)
#: local shift start hours and their weights (22 = a night team)
SHIFT_STARTS: tuple[tuple[float, float], ...] = (
    (7.0, 0.22),
    (8.0, 0.22),
    (9.0, 0.22),
    (14.0, 0.19),
    (22.0, 0.15),
)
SHIFT_HOURS = 8.5


@dataclass
class Desk:
    """The people of one simulated desk, as aligned arrays (index = agent index).

    ``shift_start`` is in local hours; an agent whose shift changes has ``shift_change_day``
    (day index, -1 = never) and ``shift_start_after``.
    """

    agent_id: np.ndarray
    vendor: np.ndarray
    site: np.ndarray
    timezone: np.ndarray
    team: np.ndarray  # team index
    team_names: np.ndarray
    team_kind: np.ndarray  # per team
    team_queue: np.ndarray  # per team
    team_lead_of: np.ndarray  # per team: agent index of its lead
    role: np.ndarray
    start_day: np.ndarray  # day index of first working day (may be negative: hired earlier)
    end_day: np.ndarray  # day index of last working day (>= days: stays)
    workload: np.ndarray
    shift_start: np.ndarray
    shift_change_day: np.ndarray
    shift_start_after: np.ndarray
    subnet: np.ndarray  # per agent: the site's subnet for source IPs
    start: date  # the first simulated day
    off_days: list = field(default_factory=list)  # per team: tuple of local weekdays off

    @property
    def n(self) -> int:
        return len(self.agent_id)

    def roster_frame(self) -> pd.DataFrame:
        """The roster in the canonical roster columns (start/end as ISO dates)."""
        start_dates = [(self.start + timedelta(days=int(d))).isoformat() for d in self.start_day]
        end_dates = ["" if d >= _NEVER else (self.start + timedelta(days=int(d))).isoformat() for d in self.end_day]
        return pd.DataFrame(
            {
                s.AGENT_ID: self.agent_id,
                s.VENDOR: self.vendor,
                s.TEAM: self.team_names[self.team],
                s.SITE: self.site,
                s.ROLE: self.role,
                s.START_DATE: start_dates,
                s.END_DATE: end_dates,
                s.TIMEZONE: self.timezone,
            },
            columns=list(s.ROSTER_COLUMNS),
        )


_NEVER = 10**6


def build_desk(n_agents: int, days: int, start: date, rng: np.random.Generator, *, min_hires: int = 0) -> Desk:
    """Build a desk of about ``n_agents`` people in teams of 10-14 under a team lead.

    Every team kind and every site appears once there are enough people; new hires join
    during the period and some people leave, so the roster is not fixed.
    """
    site_share = np.array([x[3] for x in SITES])
    # teams per site: sizes 10-14 until the site's headcount is used
    team_sizes: list[int] = []
    team_site: list[int] = []
    site_heads = np.maximum(1, np.round(site_share / site_share.sum() * n_agents)).astype(int)
    site_heads[0] += n_agents - site_heads.sum()
    for si, heads in enumerate(site_heads):
        left = int(heads)
        while left > 0:
            size = int(rng.integers(10, 15))
            if left - size < 10 and left > size:  # fold a small remainder into this team
                size = left if left <= 16 else size
            size = min(size, left)
            team_sizes.append(size)
            team_site.append(si)
            left -= size
    n_teams = len(team_sizes)

    # team kinds: guarantee one of each non-general kind once there are enough teams
    kind_names = np.array([k[0] for k in TEAM_KINDS])
    kind_p = np.array([k[2] for k in TEAM_KINDS])
    kinds = rng.choice(len(TEAM_KINDS), size=n_teams, p=kind_p / kind_p.sum())
    if n_teams >= len(TEAM_KINDS):
        order = rng.permutation(n_teams)
        for ki in range(len(TEAM_KINDS)):
            kinds[order[ki]] = ki
        if not (kinds == 0).any():
            kinds[order[-1]] = 0
    team_kind = kind_names[kinds]
    team_queue = np.where(team_kind == "general", rng.choice(np.array(QUEUES), size=n_teams), team_kind).astype(object)
    off_idx = rng.choice(len(OFF_DAY_PATTERNS), size=n_teams, p=[p for _, p in OFF_DAY_PATTERNS])
    off_days = [OFF_DAY_PATTERNS[i][0] for i in off_idx]
    shift_w = np.array([w for _, w in SHIFT_STARTS])
    team_shift = np.array([h for h, _ in SHIFT_STARTS])[rng.choice(len(SHIFT_STARTS), size=n_teams, p=shift_w / shift_w.sum())]

    team = np.repeat(np.arange(n_teams), team_sizes)
    n = len(team)
    first_of_team = np.concatenate([[0], np.cumsum(team_sizes)[:-1]])
    role = np.array([TEAM_KINDS[k][1] for k in kinds], dtype=object)[team]
    role[first_of_team] = "team_lead"
    team_lead_of = first_of_team.copy()

    site_idx = np.array(team_site)[team]
    vendor = np.array([SITES[i][0] for i in site_idx], dtype=object)
    site = np.array([SITES[i][1] for i in site_idx], dtype=object)
    tz = np.array([SITES[i][2] for i in site_idx], dtype=object)
    subnet = np.array([SITES[i][4] for i in site_idx], dtype=object)
    team_names = np.array(
        [f"{SITES[team_site[t]][1][:3].upper()}-{team_kind[t][:3].upper()}-{t + 1:02d}" for t in range(n_teams)],
        dtype=object,
    )

    # tenure: most were hired long before the period; some join during it, some leave
    start_day = -rng.integers(45, 1500, size=n)
    end_day = np.full(n, _NEVER)
    non_leads = np.flatnonzero(role != "team_lead")
    if days >= 20 or (min_hires and days >= 8):
        # Hires that may become new-hire insiders must be plain agents. Their number does
        # not depend on the insiders asked for (unless more are asked than a desk has), so
        # that the benign desk is the same with or without insiders.
        n_agent_hires = max(min_hires, 1, int(round(0.025 * n)))
        n_other_hires = max(0, int(round(0.04 * n)) - n_agent_hires)
        agents = rng.permutation(non_leads[role[non_leads] == "agent"])[:n_agent_hires]
        others = rng.permutation(np.setdiff1d(non_leads, agents))[:n_other_hires]
        hires = np.concatenate([agents, others]).astype(int)
        start_day[hires] = rng.integers(3, max(4, days - 12 if days >= 20 else days - 5), size=len(hires))
        rest = np.setdiff1d(non_leads, hires)
        n_leave = max(1, int(round(0.03 * n)))
        leavers = rng.choice(rest, size=min(n_leave, len(rest)), replace=False)
        end_day[leavers] = rng.integers(days // 3, days - 2, size=len(leavers))

    workload = rng.lognormal(mean=0.0, sigma=0.4, size=n)
    workload /= np.mean(workload)
    shift_start = team_shift[team] + rng.choice([-0.5, 0.0, 0.0, 0.5], size=n)
    shift_change_day = np.full(n, -1)
    shift_start_after = shift_start.copy()
    if days >= 14:
        changers = rng.choice(non_leads, size=max(1, int(round(0.03 * n))), replace=False)
        shift_change_day[changers] = rng.integers(days // 4, days - 3, size=len(changers))
        new_shift = np.array([h for h, _ in SHIFT_STARTS])[rng.integers(0, len(SHIFT_STARTS), size=len(changers))]
        same = new_shift == shift_start[changers]
        new_shift[same] = (new_shift[same] + 6.0) % 24.0
        shift_start_after[changers] = new_shift

    agent_id = np.array([f"A{(i + 1):05d}" for i in range(n)], dtype=object)
    return Desk(
        agent_id=agent_id,
        vendor=vendor,
        site=site,
        timezone=tz,
        team=team,
        team_names=team_names,
        team_kind=team_kind,
        team_queue=team_queue,
        team_lead_of=team_lead_of,
        role=role,
        start_day=start_day,
        end_day=end_day,
        workload=workload,
        shift_start=shift_start,
        shift_change_day=shift_change_day,
        shift_start_after=shift_start_after,
        off_days=off_days,
        subnet=subnet,
        start=start,
    )
