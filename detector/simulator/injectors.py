"""Insider scenarios: named injectors that add harvesting accesses on top of benign work.

Each injector chooses its insiders (``plan``) and writes their extra accesses for one day
(``inject``). Unless a scenario says otherwise, harvesting happens on the agent's working
days, inside their shift. Registered by name in :data:`INJECTORS`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from detector.errors import UsageError
from detector.simulator.desk import HOUR_MS, SHIFT_MS, Calendar, Tickets, World
from detector.simulator.events import (
    ADDRESS,
    BALANCE,
    CUSTOMER_BASE,
    ID_DOCUMENT,
    NONE,
    PROFILE,
    SEARCH,
    TICKET_BASE,
    TRANSACTIONS,
    VIEW,
    EventArrays,
)
from detector.simulator.roster import Desk


@dataclass
class Plan:
    """One insider: who, which scenario, first and last day index of harvesting."""

    scenario: str
    agent: int
    start: int
    end: int


@dataclass
class DayContext:
    desk: Desk
    cal: Calendar
    world: World
    k: int
    tickets: Tickets  # own tickets worked today


INJECTORS: dict[str, Injector] = {}


def register(cls):
    INJECTORS[cls.name] = cls()
    return cls


def burst_times(start_ms: int, n: int, rng: np.random.Generator, *, span_ms: int = SHIFT_MS, gap_ms: float = 30_000.0) -> np.ndarray:
    """``n`` times in a few bursts inside [start, start + span): how someone photographs
    records between calls."""
    if n == 0:
        return np.empty(0, np.int64)
    n_bursts = 1 + int(rng.poisson(3))
    centers = start_ms + rng.random(n_bursts) * max(1, span_ms - 45 * 60_000)
    which = np.sort(rng.integers(0, n_bursts, size=n))
    gaps = rng.exponential(gap_ms, size=n)
    cs = np.cumsum(gaps)
    starts = np.flatnonzero(np.r_[True, which[1:] != which[:-1]])
    offset = cs - np.repeat(cs[starts], np.diff(np.r_[starts, n]))
    return (centers[which] + offset).astype(np.int64)


class Injector:
    """Base: subclasses set ``name``, ``per_day`` (low, high extra accesses a day) and
    ``duration`` (low, high days) and implement :meth:`inject`."""

    name: ClassVar[str]
    per_day: ClassVar[tuple[int, int]]
    duration: ClassVar[tuple[int, int]]
    roles: ClassVar[tuple[str, ...]] = ("agent",)
    #: latest start as days before the end of the period
    min_days_left: ClassVar[int] = 4

    def eligible(self, desk: Desk, cal: Calendar, taken: set) -> np.ndarray:
        """Tenured people of the right role who stay and keep their shift during the period."""
        ok = np.isin(desk.role, self.roles) & (desk.start_day <= -30) & (desk.end_day >= cal.days) & (desk.shift_change_day < 0)
        ok[list(taken)] = False
        return np.flatnonzero(ok)

    def start_window(self, days: int) -> tuple[int, int]:
        lo = max(3, min(21, days // 3))
        hi = max(lo, days - self.min_days_left)
        return lo, hi

    def plan(self, desk: Desk, cal: Calendar, count: int, rng: np.random.Generator, taken: set) -> list[Plan]:
        pool = self.eligible(desk, cal, taken)
        lo, hi = self.start_window(cal.days)
        plans: list[Plan] = []
        candidates = iter(rng.permutation(pool))
        while len(plans) < count:
            # spread the starts over the window; skip anyone away for the rest of the period
            start = lo + int((hi - lo) * (len(plans) + rng.random()) / max(1, count))
            for agent in candidates:
                plan = self._working_plan(int(agent), start, cal, rng, need=min(3, cal.days - start))
                if plan:
                    plans.append(plan)
                    taken.add(int(agent))
                    break
            else:
                break  # nobody left who can carry this scenario
        return plans

    def _working_plan(self, agent: int, start: int, cal: Calendar, rng: np.random.Generator, *, need: int = 1) -> Plan | None:
        """A plan from the agent's first working day on or after ``start``, or None when
        they work fewer than ``need`` days of the scenario's duration from there."""
        working = np.flatnonzero(cal.works[agent, start:]) + start
        if len(working) < max(1, need):
            return None
        first = int(working[0])
        end = min(cal.days - 1, first + int(rng.integers(self.duration[0], self.duration[1] + 1)) - 1)
        return Plan(self.name, agent, first, end)

    def count(self, rng: np.random.Generator) -> int:
        return int(rng.integers(self.per_day[0], self.per_day[1] + 1))

    def inject(self, plan: Plan, ctx: DayContext, rng: np.random.Generator) -> EventArrays:
        """The day's extra accesses. By default the wholesale harvest: :meth:`count` views in
        a few bursts during the shift, of customers drawn across the whole customer base."""
        n = self.count(rng)
        return self._views(plan, burst_times(self._shift(plan, ctx), n, rng), ctx.world.uniform(n, rng), rng)

    # helpers -------------------------------------------------------------------------
    #: resources harvested and their shares, for the scenarios that take records wholesale
    harvested: ClassVar[tuple[tuple[int, ...], tuple[float, ...]]] = ((ID_DOCUMENT, PROFILE, ADDRESS), (0.4, 0.4, 0.2))

    def _views(self, plan: Plan, ts: np.ndarray, customers: np.ndarray, rng, ticket=NONE) -> EventArrays:
        """Views at ``ts`` of ``customers``, resources drawn from :attr:`harvested`."""
        resources, shares = self.harvested
        return EventArrays.build(ts=ts, agent=plan.agent, customer=customers, action=VIEW, resource=_resources(rng, len(ts), resources, shares), ticket=ticket)

    def _partly_ticketed(self, plan: Plan, ctx: DayContext, rng: np.random.Generator, *, share: float, gap_ms: float, customers: Callable) -> EventArrays:
        """:meth:`count` views in bursts during the shift, about ``share`` of them under one
        of the agent's own tickets of the day (cover), of ``customers(n, rng)``."""
        n = self.count(rng)
        ticket = np.where(rng.random(n) < share, self._own_tickets(plan, ctx, n, rng), NONE)
        return self._views(plan, burst_times(self._shift(plan, ctx), n, rng, gap_ms=gap_ms), customers(n, rng), rng, ticket=ticket)

    def _shift(self, plan: Plan, ctx: DayContext) -> int:
        return int(ctx.cal.shift_start_ms[plan.agent, ctx.k])

    @staticmethod
    def _own_tickets(plan: Plan, ctx: DayContext, n: int, rng: np.random.Generator) -> np.ndarray:
        mine = np.flatnonzero(ctx.tickets.agent == plan.agent)
        if len(mine) == 0:
            return np.full(n, NONE, np.int64)
        return ctx.tickets.ticket[mine[rng.integers(0, len(mine), size=n)]]


def _resources(rng, n, choices, p) -> np.ndarray:
    return np.asarray(choices, np.int8)[rng.choice(len(choices), size=n, p=p)]


@register
class Bulk(Injector):
    """150-220 extra ticketless views a day of unrelated customers' id documents, profiles
    and addresses: the 2025 case."""

    name = "bulk"
    per_day = (150, 220)
    duration = (8, 15)
    harvested = ((ID_DOCUMENT, PROFILE, ADDRESS), (0.45, 0.35, 0.2))


@register
class Drip(Injector):
    """10-20 extra views a day for weeks, half of them under the agent's own ticket ids."""

    name = "drip"
    per_day = (10, 20)
    duration = (21, 40)
    min_days_left = 10

    harvested = ((PROFILE, ID_DOCUMENT, BALANCE), (0.4, 0.4, 0.2))

    def inject(self, plan, ctx, rng):
        return self._partly_ticketed(plan, ctx, rng, share=0.5, gap_ms=90_000.0, customers=ctx.world.uniform)


@register
class Ring(Injector):
    """A team lead and several agents of the same team, 40-80 extra views a day each, with
    staggered starts: recruited one after another."""

    name = "ring"
    per_day = (40, 80)
    duration = (10, 20)
    min_days_left = 6

    def plan(self, desk, cal, count, rng, taken):
        pool = set(Injector.eligible(self, desk, cal, taken).tolist())
        leads_ok = (desk.role == "team_lead") & (desk.start_day <= -30) & (desk.end_day >= cal.days)
        lo, hi = self.start_window(cal.days)
        plans: list[Plan] = []
        teams = [t for t in rng.permutation(len(desk.team_names)) if desk.team_kind[t] == "general"]
        rings = 0
        for t in teams:
            if rings >= count:
                break
            lead = int(desk.team_lead_of[t])
            members = [a for a in np.flatnonzero(desk.team == t) if a in pool]
            if not leads_ok[lead] or lead in taken or len(members) < 3:
                continue
            size = min(len(members), int(rng.integers(3, 5)))
            crew = [lead] + [int(a) for a in rng.permutation(members)[:size]]
            start = lo + int((hi - lo) * (rings + rng.random()) / max(1, count) * 0.7)
            # staggered recruitment: each member starts 1-3 days after the previous one
            for member in crew:
                plan = self._working_plan(member, min(start, cal.days - 1), cal, rng)
                if plan:
                    plans.append(plan)
                    taken.add(member)
                start += int(rng.integers(1, 4))
            rings += 1
        return plans

    def inject(self, plan, ctx, rng):
        n = self.count(rng)
        ticket = np.where(rng.random(n) < 0.3, self._own_tickets(plan, ctx, n, rng), NONE)
        return self._views(plan, burst_times(self._shift(plan, ctx), n, rng), ctx.world.uniform(n, rng), rng, ticket=ticket)


@register
class Covered(Injector):
    """About 100 extra views a day, every one under one of the agent's own tickets, of
    customers unrelated to those tickets."""

    name = "covered"
    per_day = (85, 115)
    duration = (7, 14)

    def inject(self, plan, ctx, rng):
        n = self.count(rng)
        ticket = self._own_tickets(plan, ctx, n, rng)
        keep = ticket != NONE  # never ticketless: no own ticket that day, no cover
        n = int(keep.sum())
        return EventArrays.build(
            ts=burst_times(self._shift(plan, ctx), n, rng, gap_ms=60_000.0),
            agent=plan.agent,
            customer=ctx.world.uniform(n, rng),
            action=VIEW,
            resource=_resources(rng, n, (PROFILE, ID_DOCUMENT, BALANCE, ADDRESS), (0.35, 0.35, 0.15, 0.15)),
            ticket=ticket[keep],
        )


@register
class Targeted(Injector):
    """25-35 extra views a day of high-value customers' balances and transactions."""

    name = "targeted"
    per_day = (25, 35)
    duration = (7, 14)

    harvested = ((BALANCE, TRANSACTIONS), (0.5, 0.5))

    def inject(self, plan, ctx, rng):
        return self._partly_ticketed(plan, ctx, rng, share=0.4, gap_ms=60_000.0, customers=ctx.world.valuable)


@register
class OffHours(Injector):
    """60-100 extra ticketless views a day in the hours after the agent's shift ends."""

    name = "off_hours"
    per_day = (60, 100)
    duration = (7, 14)
    harvested = ((PROFILE, ID_DOCUMENT, ADDRESS), (0.4, 0.4, 0.2))

    def inject(self, plan, ctx, rng):
        n = self.count(rng)
        after = self._shift(plan, ctx) + SHIFT_MS + int(rng.uniform(0.25, 1.0) * HOUR_MS)
        return self._views(plan, burst_times(after, n, rng, span_ms=3 * HOUR_MS), ctx.world.uniform(n, rng), rng)


@register
class NewHire(Injector):
    """A new agent harvesting from their first working days, with no personal history."""

    name = "new_hire"
    per_day = (60, 120)
    duration = (10, 15)

    def plan(self, desk, cal, count, rng, taken):
        hires = np.flatnonzero((desk.role == "agent") & (desk.start_day >= 3) & (desk.start_day <= cal.days - 5) & (desk.end_day >= cal.days))
        hires = [int(a) for a in rng.permutation(hires) if int(a) not in taken][:count]
        plans = []
        for agent in hires:
            plan = self._working_plan(agent, int(desk.start_day[agent]) + int(rng.integers(0, 3)), cal, rng)
            if plan:
                plans.append(plan)
                taken.add(agent)
        return plans


@register
class Enumeration(Injector):
    """A search followed by views of consecutive customer ids, about 80 a day."""

    name = "enumeration"
    per_day = (70, 90)
    duration = (5, 10)

    def inject(self, plan, ctx, rng):
        n = self.count(rng)
        first = ctx.world.uniform(1, rng)[0]
        first = min(first, ctx.world.n_customers + CUSTOMER_BASE - n)
        customers = np.r_[first, first + np.arange(n - 1)]
        start = self._shift(plan, ctx) + int(rng.random() * (SHIFT_MS - 2 * HOUR_MS))
        ts = start + np.cumsum(rng.exponential(15_000.0, size=n)).astype(np.int64)
        action = np.full(n, VIEW, np.int8)
        action[0] = SEARCH
        resource = np.full(n, PROFILE, np.int8)
        resource[0] = NONE
        return EventArrays.build(ts=ts, agent=plan.agent, customer=customers, action=action, resource=resource, ticket=NONE)


# adversaries who know how the detector works (issue 16) --------------------------------


#: where fake tickets' numbers start: as many digits as the desk's own, never the same ones
FAKE_TICKET_BASE = TICKET_BASE + 70_000_000


@register
class FakeTickets(Injector):
    """A harvester who opens a ticket for every customer they harvest, so that no view is
    ticketless or unrelated to its ticket: 50-80 extra customers a day, each under a ticket
    of its own (a search, then two or three of profile, id document and address)."""

    name = "fake_tickets"
    per_day = (50, 80)
    duration = (10, 20)
    min_days_left = 6

    def inject(self, plan, ctx, rng):
        n = self.count(rng)
        customers = ctx.world.uniform(n, rng)
        # numbers like the ticket system's, from a range of their own: the benign desk's
        # tickets stay exactly what they are without this insider
        tickets = FAKE_TICKET_BASE + (ctx.k * 2_000 + plan.agent) * 100 + np.arange(n, dtype=np.int64)
        per = rng.integers(2, 4, size=n)  # views after the search
        idx = np.repeat(np.arange(n), per + 1)
        first = np.r_[0, np.cumsum(per + 1)[:-1]]
        is_search = np.zeros(len(idx), bool)
        is_search[first] = True
        ts = np.repeat(burst_times(self._shift(plan, ctx), n, rng, gap_ms=120_000.0), per + 1)
        ts = ts + (np.arange(len(idx)) - np.repeat(first, per + 1)) * rng.integers(8_000, 30_000, size=len(idx))
        resource = _resources(rng, len(idx), (PROFILE, ID_DOCUMENT, ADDRESS), (0.4, 0.4, 0.2))
        resource[is_search] = NONE
        action = np.where(is_search, SEARCH, VIEW).astype(np.int8)
        return EventArrays.build(ts=ts, agent=plan.agent, customer=customers[idx], action=action, resource=resource, ticket=tickets[idx])


@register
class Decoy(Injector):
    """Two accomplices: a loud one who makes an obvious spike (250-350 ticketless views) on
    the nights the quiet one harvests (40-60 a day, partly under their own tickets), to take
    the single alert slot of a small desk. Both are labelled: "decoy" and "decoyed"."""

    name = "decoy"
    per_day = (250, 350)
    duration = (8, 14)
    min_days_left = 6

    def plan(self, desk, cal, count, rng, taken):
        plans: list[Plan] = []
        for quiet in Injector.plan(self, desk, cal, count, rng, taken):
            loud_pool = [int(a) for a in self.eligible(desk, cal, taken) if cal.works[a, quiet.start : quiet.end + 1].mean() >= 0.6]
            if not loud_pool:
                taken.discard(quiet.agent)
                continue
            loud = int(rng.choice(loud_pool))
            taken.add(loud)
            plans += [Plan("decoyed", quiet.agent, quiet.start, quiet.end), Plan("decoy", loud, quiet.start, quiet.end)]
        return plans

    def inject(self, plan, ctx, rng):
        if plan.scenario == "decoyed":
            n = int(rng.integers(40, 61))
            ticket = np.where(rng.random(n) < 0.5, self._own_tickets(plan, ctx, n, rng), NONE)
            return self._views(plan, burst_times(self._shift(plan, ctx), n, rng, gap_ms=60_000.0), ctx.world.uniform(n, rng), rng, ticket=ticket)
        return super().inject(plan, ctx, rng)


class Decoyed(Decoy):
    """The quiet half of :class:`Decoy` (planned with it, not on its own)."""

    name = "decoyed"


INJECTORS["decoyed"] = Decoyed()


@register
class Ramp(Injector):
    """A harvester who ramps up by 2-3 extra views a day, every working day, for weeks (from
    a handful to 60-90 a day), half under their own tickets, so that no day differs much
    from the days before it."""

    name = "ramp"
    per_day = (2, 3)  # the daily step
    duration = (21, 35)
    min_days_left = 14

    def inject(self, plan, ctx, rng):
        worked = int(ctx.cal.works[plan.agent, plan.start : ctx.k + 1].sum())
        n = int(round(worked * rng.uniform(*self.per_day)))
        ticket = np.where(rng.random(n) < 0.5, self._own_tickets(plan, ctx, n, rng), NONE)
        return self._views(plan, burst_times(self._shift(plan, ctx), n, rng, gap_ms=90_000.0), ctx.world.uniform(n, rng), rng, ticket=ticket)


#: scenarios that join the default mix only from this many agents up (issue 16's adversaries:
#: the committed 200-agent sample desk stays as it was)
ADVERSARIES_FROM = 300
ADVERSARIES = ("fake_tickets", "decoy", "ramp")


def default_counts(n_agents: int, days: int) -> dict[str, int]:
    """Every scenario at least once from 100 agents and 30 days up (the adversaries from
    :data:`ADVERSARIES_FROM`), several times when the desk allows; smaller runs get one of
    each where they can hold it."""
    if days < 10 or n_agents < 20:
        return {}
    each = max(1, n_agents // 300)
    counts = {name: each for name in INJECTORS if name not in ADVERSARIES and name != "decoyed"}
    counts["ring"] = max(1, n_agents // 750)
    if n_agents >= ADVERSARIES_FROM:
        counts.update(dict.fromkeys(ADVERSARIES, each))
    return counts


def parse_spec(spec: str | None, n_agents: int, days: int) -> dict[str, int]:
    """``--insiders`` text to counts: ``default``, ``none``, or ``name[=count],...``."""
    if spec is None or spec.strip().lower() in ("", "default", "all"):
        return default_counts(n_agents, days)
    if spec.strip().lower() == "none":
        return {}
    counts: dict[str, int] = {}
    for item in spec.split(","):
        item = item.strip()
        if not item:
            continue
        name, _, number = item.partition("=")
        name = name.strip()
        if name not in INJECTORS or name == "decoyed":
            raise UsageError(f"unknown insider scenario {name!r}; known: {', '.join(n for n in INJECTORS if n != 'decoyed')}")
        try:
            n = int(number) if number.strip() else 1
        except ValueError:
            raise UsageError(f"count for {name!r} must be a whole number, got {number!r}") from None
        if n < 0:
            raise UsageError(f"count for {name!r} must not be negative")
        counts[name] = n
    return counts
