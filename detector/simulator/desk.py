"""Benign support work: the calendar (shifts, weekends, leave, busy days, backlogs) and the
ticket-driven record accesses of every role, one day at a time, vectorised.

Each benign property here is one way a naive detector raises false alarms on a real desk.
Pure: arrays in, arrays out, all randomness from the generator passed in.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import numpy as np

from detector.simulator.events import (
    ADDRESS,
    BALANCE,
    CUSTOMER_BASE,
    ID_DOCUMENT,
    NONE,
    NOTE,
    PROFILE,
    SEARCH,
    TICKET,
    TRANSACTIONS,
    UPDATE,
    VIEW,
    EventArrays,
)
from detector.simulator.roster import QUEUES, SHIFT_HOURS, Desk

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
SHIFT_MS = int(SHIFT_HOURS * HOUR_MS)

#: own tickets a day at workload 1 by role
TICKETS_PER_DAY = {"agent": 56.0, "team_lead": 12.0, "escalations": 18.0, "kyc_specialist": 0.0, "qa_reviewer": 0.0}
KYC_BATCHES_PER_DAY = 9.0
TL_REVIEWS_PER_DAY = 30.0
QA_REVIEWS_PER_DAY = 45.0
LOOKUPS_PER_DAY = 2.5  # legitimate ticketless look-ups (phone calls)
FOLLOW_UP_SHARE = 0.12  # tickets that continue one of the agent's recent tickets
LINKED_SHARE = 0.07  # tickets that touch a linked customer (joint account, dispute, merge)
ESCALATION_HIGH_VALUE = 0.7
WEEKEND_DEMAND = 0.65
SICK_RATE = 0.02

# per-ticket event kinds: (action, resource)
KINDS = (
    (SEARCH, NONE),
    (VIEW, PROFILE),
    (VIEW, BALANCE),
    (VIEW, TRANSACTIONS),
    (VIEW, ID_DOCUMENT),
    (VIEW, ADDRESS),
    (NOTE, TICKET),
    (UPDATE, PROFILE),
    (VIEW, TICKET),
)
KIND_ACTION = np.array([k[0] for k in KINDS], np.int8)
KIND_RESOURCE = np.array([k[1] for k in KINDS], np.int8)
#: probability of each kind in one ticket, by role
RECIPES = {
    "agent": (0.45, 1.0, 0.55, 0.45, 0.12, 0.10, 0.75, 0.08, 0.9),
    "team_lead": (0.40, 1.0, 0.50, 0.45, 0.10, 0.10, 0.80, 0.08, 0.9),
    "escalations": (0.30, 1.0, 0.90, 0.95, 0.30, 0.15, 0.90, 0.15, 0.95),
}


@dataclass
class World:
    """The customers: a pool of consecutive ids, a high-value tier, frequent contactors and
    linked accounts (joint accounts, disputes between two customers)."""

    n_customers: int
    high_value: np.ndarray  # bool per customer offset
    high_value_ids: np.ndarray  # customer numbers
    popularity: np.ndarray  # rank -> customer offset
    partner: np.ndarray  # customer offset -> linked customer offset

    @classmethod
    def build(cls, n_customers: int, rng: np.random.Generator) -> World:
        high_value = rng.random(n_customers) < 0.05
        partner = rng.permutation(n_customers)
        return cls(
            n_customers=n_customers,
            high_value=high_value,
            high_value_ids=np.flatnonzero(high_value) + CUSTOMER_BASE,
            popularity=rng.permutation(n_customers),
            partner=partner,
        )

    def contacting(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """Customers who contact support: some customers contact far more often than others."""
        rank = np.floor(self.n_customers * rng.random(n) ** 1.3).astype(np.int64)
        return self.popularity[np.minimum(rank, self.n_customers - 1)] + CUSTOMER_BASE

    def uniform(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """Customers drawn without regard to support contact (what a harvester takes)."""
        return rng.integers(0, self.n_customers, size=n) + CUSTOMER_BASE

    def valuable(self, n: int, rng: np.random.Generator) -> np.ndarray:
        return self.high_value_ids[rng.integers(0, len(self.high_value_ids), size=n)]

    def linked(self, customers: np.ndarray) -> np.ndarray:
        return self.partner[customers - CUSTOMER_BASE] + CUSTOMER_BASE


@dataclass
class Calendar:
    """Who works when. Arrays are [agent, day] unless noted."""

    dates: list
    works: np.ndarray  # bool
    shift_start_ms: np.ndarray  # int64: UTC ms of the shift start on that local day
    ramp: np.ndarray  # float: new hires ramp up over their first three weeks
    day_mult: np.ndarray  # float [day]: whole-desk demand (busy days, weekends)
    team_mult: np.ndarray  # float [team, day]: backlog weeks
    busy_days: list
    backlog: tuple | None  # (queue, first day, last day)

    @property
    def days(self) -> int:
        return len(self.dates)


def _utc_offset_ms(tz: str, d: date) -> int:
    local_noon = datetime.combine(d, time(12), tzinfo=ZoneInfo(tz))
    offset = local_noon.utcoffset()
    assert offset is not None  # an aware datetime
    return int(offset.total_seconds() * 1000)


def build_calendar(desk: Desk, days: int, rng: np.random.Generator) -> Calendar:
    """Shifts, weekends by team, vacations, sick days, tenure, busy days and a backlog week."""
    n = desk.n
    dates = [desk.start + timedelta(days=k) for k in range(days)]
    k = np.arange(days)
    weekday = np.array([d.weekday() for d in dates])

    tenure = (k[None, :] >= desk.start_day[:, None]) & (k[None, :] <= desk.end_day[:, None])
    n_teams = len(desk.team_names)
    team_off = np.zeros((n_teams, days), bool)
    for t, off in enumerate(desk.off_days):
        team_off[t] = np.isin(weekday, off)
    off = team_off[desk.team]

    # vacations: blocks of 5-9 days, about one per agent per quarter
    vacation = np.zeros((n, days + 1), np.int32)
    n_blocks = rng.poisson(days / 90.0 * 1.2, size=n)
    who = np.repeat(np.arange(n), n_blocks)
    first = rng.integers(0, max(1, days), size=len(who))
    length = rng.integers(5, 10, size=len(who))
    np.add.at(vacation, (who, first), 1)
    np.add.at(vacation, (who, np.minimum(first + length, days)), -1)
    on_leave = np.cumsum(vacation, axis=1)[:, :days] > 0
    sick = rng.random((n, days)) < SICK_RATE
    works = tenure & ~off & ~on_leave & ~sick
    # a new hire's first day is a working day whatever the team's pattern
    new = (desk.start_day >= 0) & (desk.start_day < days)
    works[np.flatnonzero(new), desk.start_day[new]] = True

    shift_h = np.where(
        (desk.shift_change_day[:, None] >= 0) & (k[None, :] >= desk.shift_change_day[:, None]),
        desk.shift_start_after[:, None],
        desk.shift_start[:, None],
    )
    zones = sorted(set(desk.timezone))
    zone_idx = np.array([zones.index(z) for z in desk.timezone])
    offsets = np.array([[_utc_offset_ms(z, d) for d in dates] for z in zones], np.int64)
    midnight = np.array([int(datetime.combine(d, time(0), tzinfo=UTC).timestamp() * 1000) for d in dates], np.int64)
    shift_start_ms = midnight[None, :] + (shift_h * HOUR_MS).astype(np.int64) - offsets[zone_idx]

    tenure_days = k[None, :] - desk.start_day[:, None]
    ramp = np.clip(0.25 + 0.75 * tenure_days / 21.0, 0.25, 1.0)

    day_mult = np.where(weekday >= 5, WEEKEND_DEMAND, 1.0)
    busy_days: list[int] = []
    if days >= 10:
        n_busy = max(1, int(round(days / 25)))
        candidates = np.flatnonzero((weekday < 5) & (k >= 5))
        busy_days = sorted(int(x) for x in rng.choice(candidates, size=min(n_busy, len(candidates)), replace=False))
        for b in busy_days:
            day_mult[b] *= rng.uniform(2.0, 3.0)
            if b + 1 < days:
                day_mult[b + 1] *= 1.4  # the aftermath
    team_mult = np.ones((n_teams, days))
    backlog = None
    if days >= 14:
        queue = str(rng.choice(np.array(QUEUES)))
        b0 = int(rng.integers(5, days - 7))
        team_mult[np.asarray(desk.team_queue == queue), b0 : b0 + 7] *= rng.uniform(1.6, 2.2)
        backlog = (queue, b0, b0 + 6)
    return Calendar(
        dates=dates,
        works=works,
        shift_start_ms=shift_start_ms,
        ramp=ramp,
        day_mult=day_mult,
        team_mult=team_mult,
        busy_days=busy_days,
        backlog=backlog,
    )


@dataclass
class Tickets:
    """The own tickets worked on one day: one row per (agent, ticket)."""

    agent: np.ndarray
    ticket: np.ndarray
    customer: np.ndarray

    @classmethod
    def empty(cls) -> Tickets:
        return cls(np.empty(0, np.int32), np.empty(0, np.int64), np.empty(0, np.int64))


def _expand(t_agent, t_ticket, t_customer, t_start, probs, rng, *, gap_ms=40_000.0) -> EventArrays:
    """Expand tickets into their events: kind j happens with probability probs[t, j], in
    order, separated by exponential gaps from the ticket's start."""
    mask = rng.random(probs.shape) < probs
    ti, kj = np.nonzero(mask)
    if len(ti) == 0:
        return EventArrays.empty()
    gaps = rng.exponential(gap_ms, size=len(ti))
    cs = np.cumsum(gaps)
    starts = np.flatnonzero(np.r_[True, ti[1:] != ti[:-1]])
    counts = np.diff(np.r_[starts, len(ti)])
    offset = cs - np.repeat(cs[starts] - gaps[starts], counts)
    return EventArrays.build(
        ts=t_start[ti] + offset.astype(np.int64),
        agent=t_agent[ti],
        customer=t_customer[ti],
        action=KIND_ACTION[kj],
        resource=KIND_RESOURCE[kj],
        ticket=t_ticket[ti],
    )


def _in_shift(shift_start: np.ndarray, rng: np.random.Generator, *, tail_ms: int = 15 * 60_000) -> np.ndarray:
    return shift_start + (rng.random(len(shift_start)) * (SHIFT_MS - tail_ms)).astype(np.int64)


class TicketCounter:
    """Hands out consecutive ticket numbers."""

    def __init__(self, first: int) -> None:
        self.next = first

    def take(self, n: int) -> np.ndarray:
        out = np.arange(self.next, self.next + n, dtype=np.int64)
        self.next += n
        return out


def benign_day(
    desk: Desk,
    cal: Calendar,
    world: World,
    k: int,
    rng: np.random.Generator,
    counter: TicketCounter,
    previous: Tickets,
) -> tuple[EventArrays, Tickets]:
    """All legitimate accesses of day ``k`` and the own tickets worked that day."""
    working = np.flatnonzero(cal.works[:, k])
    if len(working) == 0:
        return EventArrays.empty(), Tickets.empty()
    role = desk.role[working]
    noise = rng.gamma(20.0, 1 / 20.0, size=len(working))  # personal day-to-day variation
    mult = cal.day_mult[k] * cal.team_mult[desk.team[working], k] * cal.ramp[working, k] * noise
    load = desk.workload[working] * mult
    shift = cal.shift_start_ms[working, k]
    parts: list[EventArrays] = []

    # --- own tickets: agents, team leads, escalations --------------------------------
    base = np.array([TICKETS_PER_DAY[r] for r in role])
    n_t = rng.poisson(base * load)
    t_owner = np.repeat(np.arange(len(working)), n_t)  # index into working
    T = len(t_owner)
    t_agent = working[t_owner].astype(np.int32)
    t_ticket = counter.take(T)
    t_customer = world.contacting(T, rng)
    is_esc = role[t_owner] == "escalations"
    hv = is_esc & (rng.random(T) < ESCALATION_HIGH_VALUE)
    t_customer[hv] = world.valuable(int(hv.sum()), rng)
    # follow-ups continue the agent's own tickets of the previous working day
    if len(previous.agent) and T:
        order = np.argsort(previous.agent, kind="stable")
        prev_agents = previous.agent[order]
        lo = np.searchsorted(prev_agents, t_agent, "left")
        hi = np.searchsorted(prev_agents, t_agent, "right")
        follow = (hi > lo) & (rng.random(T) < FOLLOW_UP_SHARE)
        pick = order[(lo + np.floor(rng.random(T) * (hi - lo)).astype(np.int64))[follow]]
        t_ticket[follow] = previous.ticket[pick]
        t_customer[follow] = previous.customer[pick]
    t_start = _in_shift(shift[t_owner], rng)
    recipe_role = np.where(role[t_owner] == "escalations", 2, np.where(role[t_owner] == "team_lead", 1, 0))
    recipes = np.array([RECIPES["agent"], RECIPES["team_lead"], RECIPES["escalations"]])
    parts.append(_expand(t_agent, t_ticket, t_customer, t_start, recipes[recipe_role], rng))

    # linked customers: joint accounts, disputes and merged tickets touch a second customer
    linked = rng.random(T) < LINKED_SHARE
    if linked.any():
        li = np.flatnonzero(linked)
        probs = np.zeros((len(li), len(KINDS)))
        probs[:, 1] = 1.0
        probs[:, 2] = 0.5
        parts.append(_expand(t_agent[li], t_ticket[li], world.linked(t_customer[li]), t_start[li] + 120_000, probs, rng))
    today = Tickets(agent=t_agent, ticket=t_ticket, customer=t_customer)

    # --- KYC batch reviews: one ticket covers many customers' id documents -----------
    kyc = np.flatnonzero(role == "kyc_specialist")
    if len(kyc):
        n_b = rng.poisson(KYC_BATCHES_PER_DAY * load[kyc])
        b_owner = np.repeat(kyc, n_b)
        b_ticket = counter.take(len(b_owner))
        b_start = _in_shift(shift[b_owner], rng, tail_ms=60 * 60_000)
        per_batch = 6 + rng.poisson(6, size=len(b_owner))
        c_batch = np.repeat(np.arange(len(b_owner)), per_batch)
        c_customer = world.contacting(len(c_batch), rng)
        c_pos = np.arange(len(c_batch)) - np.repeat(np.cumsum(per_batch) - per_batch, per_batch)
        c_start = b_start[c_batch] + c_pos * 150_000
        probs = np.zeros((len(c_batch), len(KINDS)))
        probs[:, 4] = 1.0  # id document
        probs[:, 1] = 0.8
        probs[:, 5] = 0.35
        probs[:, 7] = 0.5  # KYC status update
        parts.append(_expand(working[b_owner][c_batch].astype(np.int32), b_ticket[c_batch], c_customer, c_start, probs, rng, gap_ms=20_000.0))

    # --- team leads review their team's tickets of the day -------------------------------
    leads = np.flatnonzero(role == "team_lead")
    if len(leads) and T:
        team_of_ticket = desk.team[t_agent]
        order = np.argsort(team_of_ticket, kind="stable")
        sorted_team = team_of_ticket[order]
        lead_team = desk.team[working[leads]]
        lo = np.searchsorted(sorted_team, lead_team, "left")
        hi = np.searchsorted(sorted_team, lead_team, "right")
        n_r = np.where(hi > lo, rng.poisson(TL_REVIEWS_PER_DAY * np.sqrt(mult[leads])), 0)
        r_lead = np.repeat(np.arange(len(leads)), n_r)
        pick = order[np.repeat(lo, n_r) + np.floor(rng.random(len(r_lead)) * np.repeat(hi - lo, n_r)).astype(np.int64)]
        probs = np.zeros((len(r_lead), len(KINDS)))
        probs[:, 8] = 1.0  # reviews read the ticket
        probs[:, 1] = 0.6
        ev = _expand(
            working[leads][r_lead].astype(np.int32),
            t_ticket[pick],
            t_customer[pick],
            _in_shift(shift[leads][r_lead], rng),
            probs,
            rng,
        )
        parts.append(ev)

    # --- QA reviewers open customers from other agents' tickets of their vendor ------------
    qa = np.flatnonzero(role == "qa_reviewer")
    pool = previous if len(previous.agent) else today
    if len(qa) and len(pool.agent):
        pool_vendor = desk.vendor[pool.agent]
        for v in sorted(set(desk.vendor[working[qa]])):
            mine = qa[desk.vendor[working[qa]] == v]
            candidates = np.flatnonzero(pool_vendor == v)
            if len(candidates) == 0:
                candidates = np.arange(len(pool.agent))
            n_r = rng.poisson(QA_REVIEWS_PER_DAY * desk.workload[working[mine]] * np.sqrt(mult[mine]))
            r_qa = np.repeat(mine, n_r)
            pick = candidates[rng.integers(0, len(candidates), size=len(r_qa))]
            probs = np.zeros((len(r_qa), len(KINDS)))
            probs[:, 8] = 1.0
            probs[:, 1] = 0.8
            probs[:, 3] = 0.4
            parts.append(_expand(working[r_qa].astype(np.int32), pool.ticket[pick], pool.customer[pick], _in_shift(shift[r_qa], rng), probs, rng))

    # --- legitimate ticketless look-ups: phone calls, quick checks ----------------------
    n_l = rng.poisson(LOOKUPS_PER_DAY * np.sqrt(desk.workload[working]) * np.minimum(mult, 2.0))
    l_owner = np.repeat(np.arange(len(working)), n_l)
    probs = np.zeros((len(l_owner), len(KINDS)))
    probs[:, 0] = 0.5
    probs[:, 1] = 1.0
    probs[:, 2] = 0.5
    parts.append(
        _expand(
            working[l_owner].astype(np.int32),
            np.full(len(l_owner), NONE, np.int64),
            world.contacting(len(l_owner), rng),
            _in_shift(shift[l_owner], rng),
            probs,
            rng,
            gap_ms=20_000.0,
        )
    )
    return EventArrays.concat(parts), today
