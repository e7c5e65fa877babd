#!/usr/bin/env python3
"""Independent support-desk access-log generator ("foreign desk") for insiderwatch.

Written from the canonical schema only (README / DESIGN.md), not from detector/simulator.

Usage: python gen.py --seed 1 --out DIR [--days 45] [--no-insiders] [--scale 5]   (about 300 agents, 1,500 at --scale 5)

Writes OUT/events.csv.gz, OUT/roster.csv, OUT/labels.csv (agent_id, scenario, start_day,
end_day, first_day), OUT/label_days.csv (agent_id, day, exfil_events).
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

P = argparse.ArgumentParser()
P.add_argument("--seed", type=int, default=1)
P.add_argument("--out", required=True)
P.add_argument("--days", type=int, default=45)
P.add_argument("--start", default="2025-10-20")
P.add_argument("--no-insiders", action="store_true")
P.add_argument("--scale", type=int, default=1, help="teams of every desk times this (5: about 1,500 agents)")
A = P.parse_args()
rng = np.random.default_rng(A.seed)
START = pd.Timestamp(A.start)
NDAYS = A.days
DATES = [START + pd.Timedelta(days=i) for i in range(NDAYS)]

# ---------------------------------------------------------------- customers
N_CUST = 600_000
CUST_BASE = 40_000_000  # ids "CU" + 8 digits, allocated in signup order
hv = rng.random(N_CUST) < 0.03  # high_value tier
# contact propensity: heavy tailed, recent signups and high value contact more
prop = rng.lognormal(0, 1.3, N_CUST)
prop[-60_000:] *= 3.0
prop[hv] *= 2.0
prop /= prop.sum()
cdf = np.cumsum(prop)
# joint accounts / linked households: 10% of customers have a partner
partner = np.full(N_CUST, -1)
idx = rng.choice(N_CUST, 60_000, replace=False)
partner[idx[:30_000]] = idx[30_000:]
partner[idx[30_000:]] = idx[:30_000]
# newest signups awaiting KYC: a moving window of ids
NEW_SIGNUP_START = N_CUST - 40_000
HV_IDX = np.flatnonzero(hv)


def contacts(n):
    return np.searchsorted(cdf, rng.random(n) * cdf[-1]).clip(0, N_CUST - 1)


def uniform_customers(n):
    return rng.integers(0, N_CUST, n)


RES = ["profile", "id_document", "balance", "transactions", "address", "ticket", ""]
R = {r: i for i, r in enumerate(RES)}
ACT = ["view", "search", "note", "update", "export"]
AC = {a: i for i, a in enumerate(ACT)}

# ---------------------------------------------------------------- desks
SITES = {
    "manila": ("Asia/Manila", "bluewave_bpo", "10.31"),
    "cdmx": ("America/Mexico_City", "atlas_contact", "10.52"),
    "lisbon": ("Europe/Lisbon", "inhouse", "10.11"),
    "nairobi": ("Africa/Nairobi", "savanna_support", "10.77"),
}
# desk: (site, teams, size, role, days-per-week pattern, shift kinds)
DESKS = [
    ("chat", "manila", 8, 12, "chat_agent", "7d", ["day", "day", "eve"]),
    ("voice", "manila", 4, 12, "voice_agent", "7d", ["day", "eve"]),
    ("chat", "cdmx", 3, 12, "chat_agent", "7d", ["day", "eve"]),
    ("nightchat", "nairobi", 1, 8, "chat_agent", "7d", ["night"]),
    ("email", "cdmx", 2, 12, "email_agent", "wk", ["day"]),
    ("email", "lisbon", 3, 12, "email_agent", "wk", ["day"]),
    ("kyc", "lisbon", 2, 12, "kyc_analyst", "wk", ["day"]),
    ("disputes", "lisbon", 2, 10, "disputes_analyst", "6d", ["day"]),
    ("qa", "lisbon", 1, 8, "qa_auditor", "wk", ["day"]),
]
SHIFT_START = {"day": 8.0, "eve": 15.0, "night": 22.0}
HOLIDAYS = {  # local-date holidays per site: most staff off, the rest busier
    "manila": ["2025-10-31", "2025-11-01", "2025-11-30"],
    "cdmx": ["2025-11-02", "2025-11-17"],
    "lisbon": ["2025-11-01", "2025-12-01"],
    "nairobi": ["2025-10-20"],
}
OUTAGE_DAY = "2025-11-24"  # ticketing outage: 2x contacts, tickets missing for 6 UTC hours
OUTAGE_HOURS = (9, 15)
BLACK_FRIDAY = "2025-11-28"  # 1.5x chat/voice
KYC_REMEDIATION = ("2025-11-10", "2025-11-14")  # regulator-driven re-verification week


@dataclass
class Agent:
    aid: str
    desk: str
    site: str
    team: str
    role: str
    tz: str
    vendor: str
    pattern: str
    shift: str
    rate: float
    ticketless: float
    start: int = -999  # first day index working
    end: int = 999
    parttime: bool = False
    offdays: tuple = ()
    shift_change: tuple | None = None  # (day, new shift)
    vacation: tuple = ()
    recent: list = field(default_factory=list)  # (day, ticket, customer)


DESK_RATE = {"chat": 85, "voice": 50, "nightchat": 55, "email": 28, "kyc": 55, "disputes": 14, "qa": 45, "lead": 30}
DESK_TL = {"chat": 0.05, "voice": 0.14, "nightchat": 0.07, "email": 0.04, "kyc": 0.03, "disputes": 0.12, "qa": 0.02, "lead": 0.08}

agents: list[Agent] = []
used_ids = set()


def new_id():
    while True:
        x = f"u{rng.integers(1000, 99999):05d}"
        if x not in used_ids:
            used_ids.add(x)
            return x


for desk, site, nteams, size, role, pattern, shifts in DESKS:
    tz, vendor, _ = SITES[site]
    for t in range(nteams * A.scale):
        team = f"{site[:3]}-{desk}-{chr(97 + t % 26)}{t // 26 if t >= 26 else ''}"
        shift = shifts[t % len(shifts)]
        for k in range(size):
            is_lead = k == 0
            d = "lead" if is_lead else desk
            a = Agent(
                new_id(),
                desk,
                site,
                team,
                "supervisor" if is_lead else role,
                tz,
                vendor,
                pattern,
                shift,
                rate=DESK_RATE[d] * rng.lognormal(0, 0.28),
                ticketless=min(0.4, DESK_TL[d] * rng.lognormal(0, 0.5)),
            )
            if not is_lead and desk in ("chat", "voice", "email") and rng.random() < 0.10:
                a.parttime = True
            if pattern == "7d":
                o = rng.integers(0, 7)
                a.offdays = (o, (o + 1) % 7)
            elif pattern == "6d":
                a.offdays = (6, int(rng.integers(0, 6)))
            else:
                a.offdays = (5, 6)
            if a.parttime:
                a.offdays = tuple(rng.choice(7, 4, replace=False))
            if rng.random() < 0.2:
                v0 = int(rng.integers(0, NDAYS - 5))
                a.vacation = tuple(range(v0, v0 + int(rng.integers(4, 8))))
            if desk in ("chat", "voice") and not is_lead and rng.random() < 0.10:
                a.shift_change = (int(rng.integers(10, 38)), "eve" if shift == "day" else "day")
            agents.append(a)

# joiners and leavers (not leads)
plain = [a for a in agents if a.role != "supervisor"]
for a in rng.choice(plain, 16, replace=False):
    if rng.random() < 0.5:
        a.start = int(rng.integers(3, 36))
    else:
        a.end = int(rng.integers(12, 42))
AG = {a.aid: a for a in agents}
AIDX = {a.aid: i for i, a in enumerate(agents)}
teams: dict[str, list[Agent]] = {}
for a in agents:
    teams.setdefault(a.team, []).append(a)


def works(a: Agent, di: int, local_date: pd.Timestamp) -> bool:
    if di < a.start or di > a.end or di in a.vacation:
        return False
    if local_date.weekday() in a.offdays:
        return False
    if rng.random() < 0.025:  # sick
        return False
    if str(local_date.date()) in HOLIDAYS[a.site] and rng.random() < 0.75:
        return False
    return True


# ---------------------------------------------------------------- event buffers
B = {k: [] for k in ("ts", "ag", "cu", "ac", "tk", "rs", "ins")}
TICKET = [5_000_000]


def new_ticket():
    TICKET[0] += int(rng.integers(1, 4))
    return TICKET[0]


def emit(ts, ag, cu, ac, tk, rs, ins=0):
    n = len(ts)
    B["ts"].append(np.asarray(ts, np.int64))
    B["ag"].append(np.full(n, ag, np.int32))
    B["cu"].append(np.asarray(cu, np.int64))
    B["ac"].append(np.asarray(ac, np.int8))
    B["tk"].append(np.asarray(tk, np.int64))
    B["rs"].append(np.asarray(rs, np.int8))
    B["ins"].append(np.full(n, ins, np.int8))


NS = 1_000_000_000


def shift_window(a: Agent, local_date, di):
    shift = a.shift
    if a.shift_change and di >= a.shift_change[0]:
        shift = a.shift_change[1]
    h = SHIFT_START[shift] + rng.normal(0, 0.3)
    length = (4.5 if a.parttime else 8.5) + (rng.uniform(0.5, 2.0) if rng.random() < 0.06 else 0.0)  # overtime
    t0 = pd.Timestamp(local_date) + pd.Timedelta(hours=h)
    t0 = t0.tz_localize(a.tz, nonexistent="shift_forward", ambiguous=False).tz_convert("UTC").value
    return t0, int(length * 3600 * NS)


def ticket_times(t0, length, n):
    """ticket start times across the shift, with a lunch gap and a mid-shift peak"""
    u = np.sort(rng.beta(1.6, 1.6, n))
    t = t0 + (u * length).astype(np.int64)
    lunch = t0 + int(length * rng.uniform(0.4, 0.6))
    t = np.where(t > lunch, t + 45 * 60 * NS, t)
    return t


def desk_day_factor(desk, day):
    d = str(day.date())
    f = 1.0
    if desk in ("chat", "voice", "nightchat") and d == BLACK_FRIDAY:
        f *= 1.5
    if desk in ("chat", "voice", "nightchat", "email") and d == OUTAGE_DAY:
        f *= 2.0
    if desk == "kyc" and KYC_REMEDIATION[0] <= d <= KYC_REMEDIATION[1]:
        f *= 1.8
    if day.weekday() == 0:
        f *= 1.15
    return f


DESK_NOISE = {(d, i): rng.lognormal(0, 0.1) for d in DESK_RATE for i in range(-1, NDAYS + 2)}
prev_day_tickets: dict[str, list] = {}  # team -> list of (ticket, customer) worked the previous day
all_prev_tickets: list = []


def gen_day(a: Agent, di: int, local_date, t0, length, ai, today_team_tickets, today_all):
    """benign work of one agent-day"""
    ramp = 1.0
    if a.start > -999 and di - a.start < 10:
        ramp = 0.35 + 0.065 * (di - a.start)
    dayf = rng.gamma(8, 1 / 8) * desk_day_factor(a.desk, local_date) * DESK_NOISE[(a.desk if a.role != "supervisor" else "lead", di)]
    if str(local_date.date()) in HOLIDAYS[a.site]:
        dayf *= 1.5
    if rng.random() < 0.03:
        dayf *= 0.2  # training / system problems
    part = 0.55 if a.parttime else 1.0
    kind = "lead" if a.role == "supervisor" else a.desk
    n = rng.poisson(max(1.0, a.rate * ramp * dayf * part))
    if n == 0:
        return
    starts = ticket_times(t0, length, n)
    ts, cu, ac, tk, rs = [], [], [], [], []

    def add(t, c, act, tick, res):
        ts.append(t)
        cu.append(c)
        ac.append(AC[act])
        tk.append(tick)
        rs.append(R[res])

    gap = {"chat": 35, "voice": 50, "nightchat": 40, "email": 110, "kyc": 60, "disputes": 120, "qa": 70, "lead": 80}[kind]
    recent = [x for x in a.recent if di - x[0] <= 10]
    a.recent = recent
    if kind == "kyc":
        # batch review tickets over pending signups, worked in id order with gaps
        remaining = n
        base = NEW_SIGNUP_START + int(rng.integers(0, 38_000)) + di * 300
        i = 0
        while remaining > 0:
            k = min(remaining, int(rng.integers(15, 35)))
            tick = new_ticket()
            if rng.random() < 0.6:
                ids = base + np.cumsum(rng.geometric(0.45, k))  # consecutive-ish queue
                base = int(ids[-1]) + int(rng.integers(50, 3000))
            else:
                ids = contacts(k)  # periodic re-verification of existing customers
            ids = np.clip(ids, 0, N_CUST - 1)
            for c in ids:
                t = int(starts[min(i, n - 1)])
                i += 1
                add(t, c, "view", tick, "profile")
                for _ in range(rng.integers(1, 4)):
                    t += int(rng.exponential(gap) * NS)
                    add(t, c, "view", tick, "id_document")
                if rng.random() < 0.6:
                    t += int(rng.exponential(gap) * NS)
                    add(t, c, "view", tick, "address")
                if rng.random() < 0.8:
                    t += int(rng.exponential(gap) * NS)
                    add(t, c, "update", tick, "id_document")
            remaining -= k
    else:
        for i in range(n):
            t = int(starts[i])
            _ = rng.random()  # drawn and unused: kept so the seeds give the same desks
            ticketless = rng.random() < a.ticketless
            if kind == "lead":
                # review a team member's ticket from yesterday, or own escalation
                if today_team_tickets and rng.random() < 0.7:
                    tick, c = today_team_tickets[int(rng.integers(len(today_team_tickets)))]
                    add(t, c, "view", tick, "ticket")
                    t += int(rng.exponential(gap) * NS)
                    add(t, c, "view", tick, "profile")
                    if rng.random() < 0.4:
                        t += int(rng.exponential(gap) * NS)
                        add(t, c, "view", tick, "transactions")
                    continue
            if kind == "qa":
                if today_all:
                    tick, c = today_all[int(rng.integers(len(today_all)))]
                    add(t, c, "view", tick, "ticket")
                    t += int(rng.exponential(gap) * NS)
                    add(t, c, "view", tick, "profile")
                    if rng.random() < 0.3:
                        t += int(rng.exponential(gap) * NS)
                        add(t, c, "view", tick, rng.choice(["balance", "transactions", "id_document"]))
                    continue
            # follow-up on own recent ticket?
            fu = {"email": 0.3, "disputes": 0.35, "lead": 0.2}.get(kind, 0.08)
            if recent and rng.random() < fu and not ticketless:
                _, tick, c = recent[int(rng.integers(len(recent)))]
            else:
                c = int(contacts(1)[0])
                tick = -1 if ticketless else new_ticket()
            if ticketless:
                tick = -1
            if kind in ("chat", "nightchat", "voice") and rng.random() < 0.4:
                add(t, c, "search", tick, "")
                t += int(rng.exponential(10) * NS)
            add(t, c, "view", tick, "profile")
            mix = {
                "chat": [("balance", 0.5), ("transactions", 0.4), ("address", 0.1), ("id_document", 0.04)],
                "nightchat": [("balance", 0.5), ("transactions", 0.4), ("address", 0.1), ("id_document", 0.04)],
                "voice": [("balance", 0.6), ("transactions", 0.3), ("address", 0.2), ("id_document", 0.06)],
                "email": [("transactions", 0.8), ("transactions", 0.5), ("address", 0.4), ("id_document", 0.12), ("balance", 0.4)],
                "disputes": [("transactions", 1.0), ("transactions", 0.8), ("transactions", 0.6), ("balance", 0.7), ("id_document", 0.2), ("address", 0.2)],
                "lead": [("transactions", 0.5), ("balance", 0.4), ("id_document", 0.1)],
            }[kind]
            for res, p in mix:
                if rng.random() < p:
                    t += int(rng.exponential(gap) * NS)
                    add(t, c, "view", tick, res)
            # linked customers: joint account, counterparties of a dispute, merged tickets
            linked = []
            if partner[c] >= 0 and rng.random() < (0.5 if kind == "disputes" else 0.25):
                linked.append(int(partner[c]))
            if kind == "disputes" and tick >= 0:
                linked += list(contacts(int(rng.integers(1, 7))))
            elif kind == "email" and rng.random() < 0.08:
                linked += list(contacts(int(rng.integers(1, 3))))  # merged ticket
            for lc in linked:
                t += int(rng.exponential(gap) * NS)
                add(t, lc, "view", tick, "profile")
                t += int(rng.exponential(gap) * NS)
                add(t, lc, "view", tick, "transactions" if kind == "disputes" else "balance")
            if tick >= 0:
                if rng.random() < (0.9 if kind in ("email", "disputes") else 0.6):
                    t += int(rng.exponential(gap) * NS)
                    add(t, c, "note", tick, "ticket")
                if rng.random() < 0.1:
                    t += int(rng.exponential(gap) * NS)
                    add(t, c, "update", tick, rng.choice(["profile", "address"]))
                recent.append((di, tick, c))
                today_team_tickets_next.setdefault(a.team, []).append((tick, c))
                today_all_next.append((tick, c))
    # exports: leads' team reports, disputes' statements
    if kind in ("lead", "disputes") and ts and rng.random() < 0.5:
        for _ in range(rng.integers(1, 3)):
            j = int(rng.integers(len(ts)))
            add(ts[j] + 30 * NS, cu[j], "export", tk[j], "transactions" if kind == "disputes" else "ticket")
    emit(ts, ai, cu, ac, tk, rs)


# ---------------------------------------------------------------- insiders
@dataclass
class Insider:
    aid: str
    scenario: str
    start: int
    per_day: tuple
    tickets: list = field(default_factory=list)


insiders: list[Insider] = []


def pick(desk=None, role=None, site=None, exclude=(), shift=None):
    pool = [
        a
        for a in agents
        if (desk is None or a.desk == desk)
        and (role is None or a.role == role)
        and (site is None or a.site == site)
        and a.aid not in exclude
        and a.start < 0
        and a.end > NDAYS
        and not a.parttime
        and a.shift_change is None
        and (shift is None or a.shift == shift)
    ]
    return pool[int(rng.integers(len(pool)))]


if not A.no_insiders:
    taken = set()

    def mk(a, scen, start, per_day):
        taken.add(a.aid)
        insiders.append(Insider(a.aid, scen, start, per_day))

    mk(pick("chat", "chat_agent", exclude=taken), "photographer", int(rng.integers(15, 25)), (150, 200))
    # ring: a team (voice desk, cdmx chat...) with 3 agents + the lead, recruited one by one
    ring_team = rng.choice([t for t, m in teams.items() if m[0].desk in ("chat", "voice") and m[0].site in ("manila", "cdmx")])
    members = [m for m in teams[ring_team] if m.role != "supervisor" and m.start < 0 and m.end > NDAYS and not m.parttime]
    rs0 = int(rng.integers(16, 24))
    for j, m in enumerate(rng.choice(members, 3, replace=False)):
        mk(m, "ring", rs0 + 2 * j, (60, 100))
    mk(teams[ring_team][0], "ring_lead", rs0 + 3, (60, 100))
    mk(pick("email", "email_agent", exclude=taken), "low_slow", int(rng.integers(15, 22)), (20, 30))
    mk(pick("nightchat", "chat_agent", exclude=taken), "night_2to4", int(rng.integers(18, 30)), (60, 90))
    mk(pick("chat", "chat_agent", exclude=taken), "hv_search", int(rng.integers(16, 30)), (35, 50))
    mk(pick("voice", "voice_agent", exclude=taken), "fake_tickets", int(rng.integers(16, 30)), (50, 70))
    mk(pick("kyc", "kyc_analyst", exclude=taken), "kyc_docs", int(rng.integers(16, 30)), (50, 70))
    mk(pick("disputes", "disputes_analyst", exclude=taken), "dispute_links", int(rng.integers(16, 30)), (35, 50))
INS = {i.aid: i for i in insiders}


def gen_harvest(ins: Insider, a: Agent, di, local_date, t0, length, ai):
    n = int(rng.integers(*ins.per_day))
    if ins.scenario == "night_2to4":
        # 02:00-04:00 local, i.e. 4-6h into a 22:00 shift
        starts = np.sort(t0 + int(4 * 3600 * NS) + rng.integers(0, 2 * 3600 * NS, n))
    else:
        starts = np.sort(t0 + rng.integers(0, length, n))
    own = [x for x in a.recent if x[0] == di] or a.recent[-5:]
    ts, cu, ac, tk, rs = [], [], [], [], []

    def add(t, c, act, tick, res):
        ts.append(t)
        cu.append(c)
        ac.append(AC[act])
        tk.append(tick)
        rs.append(R[res])

    sc = ins.scenario
    if sc == "photographer" and (not ins.tickets or rng.random() < 0.2):
        ins.tickets = [new_ticket() for _ in range(3)]
    for i in range(n):
        t = int(starts[i])

        def step() -> int:
            return int(rng.uniform(8, 30) * NS)

        if sc == "photographer":
            c = int(uniform_customers(1)[0])
            tick = ins.tickets[int(rng.integers(3))] if rng.random() < 0.3 else -1
            add(t, c, "view", tick, "profile")
            t += step()
            add(t, c, "view", tick, "id_document")
            t += step()
            if rng.random() < 0.6:
                add(t, c, "view", tick, "address")
        elif sc in ("ring", "ring_lead"):
            c = int(uniform_customers(1)[0])
            tick = own[int(rng.integers(len(own)))][1] if own and rng.random() < 0.5 else -1
            add(t, c, "view", tick, "profile")
            t += step()
            add(t, c, "view", tick, rng.choice(["id_document", "address", "balance"]))
        elif sc == "low_slow":
            c = int(uniform_customers(1)[0])
            tick = own[int(rng.integers(len(own)))][1] if own and rng.random() < 0.6 else -1
            add(t, c, "view", tick, "profile")
            t += step()
            if rng.random() < 0.5:
                add(t, c, "view", tick, "address")
        elif sc == "night_2to4":
            c = int(uniform_customers(1)[0])
            add(t, c, "view", -1, "profile")
            t += step()
            add(t, c, "view", -1, "id_document")
        elif sc == "hv_search":
            c = int(HV_IDX[rng.integers(len(HV_IDX))])
            tick = own[int(rng.integers(len(own)))][1] if own and rng.random() < 0.4 else -1
            add(t, c, "search", tick, "")
            t += step()
            add(t, c, "view", tick, "balance")
            t += step()
            add(t, c, "view", tick, "transactions")
        elif sc == "fake_tickets":
            c = int(uniform_customers(1)[0])
            tick = new_ticket() if rng.random() > 0.12 else -1  # keeps their normal ticketless share
            add(t, c, "search", tick, "")
            t += step()
            add(t, c, "view", tick, "profile")
            t += step()
            add(t, c, "view", tick, "id_document")
            t += step()
            add(t, c, "view", tick, "address")
            t += step()
            if tick >= 0:
                add(t, c, "note", tick, "ticket")
        elif sc == "kyc_docs":
            c = int(uniform_customers(1)[0])
            tick = own[int(rng.integers(len(own)))][1] if own else new_ticket()
            add(t, c, "view", tick, "profile")
            t += step()
            add(t, c, "view", tick, "id_document")
        elif sc == "dispute_links":
            c = int(HV_IDX[rng.integers(len(HV_IDX))]) if rng.random() < 0.5 else int(uniform_customers(1)[0])
            tick = own[int(rng.integers(len(own)))][1] if own else new_ticket()
            add(t, c, "view", tick, "profile")
            t += step()
            add(t, c, "view", tick, "transactions")
            t += step()
            add(t, c, "view", tick, "balance")
    emit(ts, ai, cu, ac, tk, rs, ins=1)


# ---------------------------------------------------------------- main loop
today_team_tickets_next: dict = {}
today_all_next: list = []
# local dates from one day before START so every UTC day of the period is complete
for di in range(-1, NDAYS + 1):
    local_date = START + pd.Timedelta(days=di)
    team_prev = today_team_tickets_next
    all_prev = today_all_next
    today_team_tickets_next = {}
    today_all_next = []
    for a in agents:
        if not works(a, di, local_date):
            continue
        t0, length = shift_window(a, local_date, di)
        ai = AIDX[a.aid]
        gen_day(a, di, local_date, t0, length, ai, team_prev.get(a.team, []), all_prev)
        ins = INS.get(a.aid)
        if ins and di >= ins.start and di < NDAYS:
            gen_harvest(ins, a, di, local_date, t0, length, ai)

# ---------------------------------------------------------------- assemble
ev = pd.DataFrame({k: np.concatenate(v) for k, v in B.items()})
lo = pd.Timestamp(START, tz="UTC").value
hi = (pd.Timestamp(START, tz="UTC") + pd.Timedelta(days=NDAYS)).value
ev = ev[(ev.ts >= lo) & (ev.ts < hi)]
# OUTAGE: ticketing system down -> ticket ids missing in the window
out_lo = pd.Timestamp(OUTAGE_DAY, tz="UTC").value + OUTAGE_HOURS[0] * 3600 * NS
out_hi = pd.Timestamp(OUTAGE_DAY, tz="UTC").value + OUTAGE_HOURS[1] * 3600 * NS
ev.loc[(ev.ts >= out_lo) & (ev.ts < out_hi), "tk"] = -1
# exporter jitter: nearly time-ordered
ev = ev.iloc[np.argsort(ev.ts.to_numpy() + rng.integers(0, 5 * NS, len(ev)), kind="stable")].reset_index(drop=True)
ev["eid"] = np.arange(len(ev))
dup = ev.sample(frac=0.002, random_state=A.seed)
ev = pd.concat([ev, dup]).sort_values("eid", kind="stable").reset_index(drop=True)

aids = np.array([a.aid for a in agents], dtype=object)
site_ip = np.array([SITES[a.site][2] for a in agents], dtype=object)
day_of = (ev.ts.to_numpy() - lo) // (86400 * NS)
out = pd.DataFrame(
    {
        "timestamp": pd.to_datetime(ev.ts.to_numpy(), utc=True).strftime("%Y-%m-%dT%H:%M:%S.%f").str[:-3] + "Z",
        "agent_id": aids[ev.ag.to_numpy()],
        "customer_id": "CU" + (ev.cu.to_numpy() + CUST_BASE).astype(str),
        "action": np.array(ACT, dtype=object)[ev.ac.to_numpy()],
        "ticket_id": np.where(ev.tk.to_numpy() >= 0, "T-" + ev.tk.astype(str), ""),
        "resource": np.array(RES, dtype=object)[ev.rs.to_numpy()],
        "customer_tier": np.where(hv[ev.cu.to_numpy()], "high_value", "standard"),
        "session_id": "s" + (ev.ag.to_numpy().astype(np.int64) * 1000 + day_of).astype(str),
        "source_ip": site_ip[ev.ag.to_numpy()] + "." + (ev.ag.to_numpy() // 200).astype(str) + "." + (ev.ag.to_numpy() % 200 + 10).astype(str),
        "event_id": "ev" + ev.eid.astype(str).str.zfill(9),
    }
)
os.makedirs(A.out, exist_ok=True)
out.to_csv(os.path.join(A.out, "events.csv.gz"), index=False, compression="gzip")

roster = pd.DataFrame(
    [
        {
            "agent_id": a.aid,
            "vendor": a.vendor,
            "team": a.team,
            "site": a.site,
            "role": a.role,
            "start_date": str((START + pd.Timedelta(days=a.start)).date()) if a.start > -999 else str((START - pd.Timedelta(days=int(rng.integers(60, 1500)))).date()),
            "end_date": str((START + pd.Timedelta(days=a.end)).date()) if a.end < 999 else "",
            "timezone": a.tz,
        }
        for a in agents
    ]
)
roster.to_csv(os.path.join(A.out, "roster.csv"), index=False)

# labels from the actual harvesting events (UTC days)
h = ev[ev.ins == 1].drop_duplicates("eid")
h = h[h.ac == AC["view"]]
hd = pd.DataFrame({"agent_id": aids[h.ag.to_numpy()], "day": pd.to_datetime(h.ts.to_numpy(), utc=True).strftime("%Y-%m-%d")})
label_days = hd.groupby(["agent_id", "day"]).size().rename("exfil_events").reset_index()
label_days.to_csv(os.path.join(A.out, "label_days.csv"), index=False)
rows = []
for i in insiders:
    d = label_days[label_days.agent_id == i.aid]
    if len(d):
        a = AG[i.aid]
        rows.append(
            {"agent_id": i.aid, "scenario": i.scenario, "start_day": d.day.min(), "end_day": d.day.max(), "desk": a.desk, "role": a.role, "team": a.team, "per_day": f"{i.per_day[0]}-{i.per_day[1]}"}
        )
pd.DataFrame(rows).to_csv(os.path.join(A.out, "labels.csv"), index=False)
print(f"{len(out):,} events, {len(agents)} agents, {len(rows)} insiders -> {A.out}")
print(pd.DataFrame(rows).to_string())
