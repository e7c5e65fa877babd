"""A realistic support-desk access-log simulator with labelled insiders.

``Simulation(SimulationSpec(...))`` builds a desk (vendors, sites, teams, roles, shifts),
its calendar and customers, plans the insiders, then :meth:`Simulation.chunks` yields the
canonical events as Arrow tables, one UTC day at a time, in bounded memory. Labels are
complete once every chunk has been consumed.

Determinism: every random draw comes from a generator seeded by (seed, purpose, day), so the
same spec gives the same bytes, and benign work does not depend on which insiders are
injected (``--insiders none`` gives exactly the benign events of the same seed).
Pure: writes nothing; pipelines/simulate.py does the I/O.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

import numpy as np
import pandas as pd
import pyarrow as pa

from detector.errors import UsageError
from detector.simulator.desk import DAY_MS, TicketCounter, Tickets, World, benign_day, build_calendar
from detector.simulator.events import TICKET_BASE, EventArrays, to_arrow
from detector.simulator.injectors import INJECTORS, DayContext, Plan, parse_spec
from detector.simulator.roster import build_desk

__all__ = ["Simulation", "SimulationSpec", "INJECTORS", "parse_spec"]

DUPLICATE_RATE = 0.002  # exact duplicate rows (an exporter's retries)
DISORDER_RATE = 0.01  # rows written a little out of time order
DISORDER_MS = 90_000

# purposes of the seeded generators
_ROSTER, _WORLD, _CALENDAR, _PLANS, _BENIGN, _INSIDER, _QUIRKS = range(7)


@dataclass(frozen=True)
class SimulationSpec:
    """What to simulate. ``insiders`` maps scenario name to count; None = the default mix."""

    agents: int
    days: int
    seed: int
    start: date = date(2026, 1, 5)
    insiders: dict | None = None
    customers: int | None = None

    def __post_init__(self):
        if self.agents < 1:
            raise UsageError("--agents must be at least 1")
        if self.days < 1:
            raise UsageError("--days must be at least 1")
        if self.seed < 0:
            raise UsageError("--seed must not be negative")


@dataclass
class _Labels:
    exfil: dict = field(default_factory=lambda: defaultdict(int))  # (agent index, utc day) -> events


class Simulation:
    """One simulated desk over a period. See the module docstring."""

    def __init__(self, spec: SimulationSpec) -> None:
        self.spec = spec
        counts = dict(spec.insiders) if spec.insiders is not None else parse_spec(None, spec.agents, spec.days)
        self.counts = counts
        self.desk = build_desk(spec.agents, spec.days, spec.start, self._rng(_ROSTER), min_hires=counts.get("new_hire", 0))
        n_customers = spec.customers or max(50_000, 400 * spec.agents)
        self.world = World.build(n_customers, self._rng(_WORLD))
        self.calendar = build_calendar(self.desk, spec.days, self._rng(_CALENDAR))
        self.plans = self._plan(counts)
        self._labels = _Labels()
        self._consumed = False
        ip_host = np.arange(self.desk.n)
        self._agent_ips = np.array([f"{net}.{(h // 250) % 250}.{h % 250 + 1}" for net, h in zip(self.desk.subnet, ip_host)], dtype=object)

    def _rng(self, purpose: int, k: int = 0) -> np.random.Generator:
        return np.random.default_rng([self.spec.seed, purpose, k])

    def _plan(self, counts: dict[str, int]) -> list[Plan]:
        rng = self._rng(_PLANS)
        taken: set[int] = set()
        plans: list[Plan] = []
        # the ring first: it needs a whole team free
        for name in sorted(counts, key=lambda n: (n != "ring", list(INJECTORS).index(n))):
            if counts[name] > 0:
                plans.extend(INJECTORS[name].plan(self.desk, self.calendar, counts[name], rng, taken))
        return plans

    # ------------------------------------------------------------------------------------
    @property
    def roster(self) -> pd.DataFrame:
        return self.desk.roster_frame()

    def chunks(self, *, typed_timestamps: bool = False) -> Iterator[pa.Table]:
        """Canonical events as Arrow tables, in (nearly) time order, one per UTC day.

        ``typed_timestamps`` gives a timestamp column (for Parquet) instead of ISO text.
        """
        if self._consumed:
            raise RuntimeError("a Simulation's events can be generated once; build a new one")
        self._consumed = True
        start_ms = int(datetime.combine(self.spec.start, time(0), tzinfo=UTC).timestamp() * 1000)
        counter = TicketCounter(TICKET_BASE)
        previous = Tickets.empty()
        carry = EventArrays.empty()
        next_event = 1
        for k in range(self.spec.days):
            benign, today = benign_day(self.desk, self.calendar, self.world, k, self._rng(_BENIGN, k), counter, previous)
            if len(today.agent):
                previous = today
            injected = self._inject(k, today, start_ms)
            carry = EventArrays.concat([carry, benign, injected])
            # events of later simulated days all fall at or after UTC midnight of day k
            cutoff = start_ms + k * DAY_MS
            final = carry.ts < cutoff
            if final.any():
                table, next_event = self._emit(carry.take(final), k, next_event, start_ms, typed_timestamps)
                yield table
            carry = carry.take(~final)
        while len(carry):
            day_end = (carry.ts.min() - start_ms) // DAY_MS * DAY_MS + DAY_MS + start_ms
            final = carry.ts < day_end
            table, next_event = self._emit(carry.take(final), self.spec.days, next_event, start_ms, typed_timestamps)
            yield table
            carry = carry.take(~final)

    def _inject(self, k: int, today: Tickets, start_ms: int) -> EventArrays:
        ctx = DayContext(self.desk, self.calendar, self.world, k, today)
        parts = []
        for i, plan in enumerate(self.plans):
            if plan.start <= k <= plan.end and self.calendar.works[plan.agent, k]:
                ev = INJECTORS[plan.scenario].inject(plan, ctx, self._rng(_INSIDER, k * 10_000 + i))
                day = (ev.ts - start_ms) // DAY_MS
                for d, c in zip(*np.unique(day, return_counts=True)):
                    self._labels.exfil[(plan.agent, int(d))] += int(c)
                parts.append(ev)
        return EventArrays.concat(parts)

    def _emit(self, ev: EventArrays, k: int, next_event: int, start_ms: int, typed: bool):
        rng = self._rng(_QUIRKS, k)
        n = len(ev)
        # order by time, with a few rows a little out of place (clock skew, late batches)
        key = ev.ts.astype(np.float64)
        late = rng.random(n) < DISORDER_RATE
        key[late] += rng.uniform(-DISORDER_MS, DISORDER_MS, size=int(late.sum()))
        order = np.lexsort((ev.customer, ev.agent, ev.ts, key))
        ev = ev.take(order)
        numbers = next_event + np.arange(n)
        # exact duplicates: the same row (same event id) delivered twice, right after itself
        dup = rng.random(n) < DUPLICATE_RATE
        index = np.repeat(np.arange(n), np.where(dup, 2, 1))
        ev = ev.take(index)
        day_number = (ev.ts - start_ms) // DAY_MS + 1
        table = to_arrow(
            ev,
            agent_ids=self.desk.agent_id,
            agent_ips=self._agent_ips,
            high_value=self.world.high_value,
            event_numbers=numbers[index],
            day_number=day_number,
            typed_timestamps=typed,
        )
        return table, next_event + n

    # ------------------------------------------------------------------------------------
    def labels(self) -> pd.DataFrame:
        """One row per insider: agent_id, scenario, start_day, end_day (UTC dates of their
        first and last harvesting event)."""
        self._require_consumed()
        by_agent = defaultdict(list)
        for (agent, d), _ in self._labels.exfil.items():
            by_agent[agent].append(d)
        rows = []
        for plan in self.plans:
            days = by_agent.get(plan.agent)
            if not days:
                continue
            rows.append(
                {
                    "agent_id": self.desk.agent_id[plan.agent],
                    "scenario": plan.scenario,
                    "start_day": (self.spec.start + timedelta(days=min(days))).isoformat(),
                    "end_day": (self.spec.start + timedelta(days=max(days))).isoformat(),
                }
            )
        frame = pd.DataFrame(rows, columns=["agent_id", "scenario", "start_day", "end_day"])
        return frame.sort_values(["start_day", "agent_id"], kind="stable").reset_index(drop=True)

    def label_days(self) -> pd.DataFrame:
        """One row per insider and UTC day with harvesting: agent_id, day, exfil_events."""
        self._require_consumed()
        rows = [
            {
                "agent_id": self.desk.agent_id[agent],
                "day": (self.spec.start + timedelta(days=d)).isoformat(),
                "exfil_events": c,
            }
            for (agent, d), c in self._labels.exfil.items()
        ]
        frame = pd.DataFrame(rows, columns=["agent_id", "day", "exfil_events"])
        return frame.sort_values(["day", "agent_id"], kind="stable").reset_index(drop=True)

    def calendar_notes(self) -> dict:
        """The benign desk-wide events of the period (busy days, backlog week), for tests and
        the sample's README."""
        cal = self.calendar
        day = lambda k: (self.spec.start + timedelta(days=int(k))).isoformat()  # noqa: E731
        notes: dict[str, object] = {"busy_days": [day(k) for k in cal.busy_days]}
        if cal.backlog:
            queue, b0, b1 = cal.backlog
            teams = sorted(self.desk.team_names[np.flatnonzero(self.desk.team_queue == queue)])
            notes["backlog"] = {"queue": queue, "first_day": day(b0), "last_day": day(b1), "teams": teams}
        return notes

    def _require_consumed(self) -> None:
        if not self._consumed:
            raise RuntimeError("labels are known once the events have been generated")
