#!/usr/bin/env python3
"""Second independent simulated support desk with labelled insiders.

Written from the threat description and the published log/roster formats only (see README.md
in this folder). Usage:

    python gen.py --seed S --agents N --days D --out DIR [--start YYYY-MM-DD]

Writes DIR/events.csv.gz, roster.csv, labels.csv, label_days.csv.
Same seed and options give byte-identical files.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gzip
import os
import sys
import time
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

# --------------------------------------------------------------------------- the desk

SITES = ["lisbon", "kuala_lumpur", "nairobi", "cairo", "mexico_city", "pune"]
SITE_CODE = ["LIS", "KUL", "NBO", "CAI", "MEX", "PNQ"]
SITE_TZ = ["Europe/Lisbon", "Asia/Kuala_Lumpur", "Africa/Nairobi", "Africa/Cairo", "America/Mexico_City", "Asia/Kolkata"]
SITE_VENDOR = ["inhouse", "harbourline_bpo", "savanna_support", "nilegate_services", "altiplano_cx", "deccan_outsourcing"]
NEW_VENDOR = "kavach_cx"  # takes over the pune contract mid-period
LIS, KUL, NBO, CAI, MEX, PNQ = range(6)
VENDOR_PREFIX = {"inhouse": "u", "harbourline_bpo": "hb", "savanna_support": "sv", "nilegate_services": "ng", "altiplano_cx": "al", "deccan_outsourcing": "dk", NEW_VENDOR: "kv"}

# customer regions (language queues): 0 global/English, 1 SE Asia, 2 East Africa,
# 3 MENA/Arabic, 4 LatAm/Spanish, 5 South Asia
REGION_SHARE = np.array([0.30, 0.15, 0.10, 0.12, 0.15, 0.18])
SITE_REGION = np.array(
    [
        REGION_SHARE,
        [0.22, 0.78, 0, 0, 0, 0],
        [0.35, 0, 0.65, 0, 0, 0],
        [0.12, 0, 0.03, 0.85, 0, 0],
        [0.10, 0, 0, 0, 0.90, 0],
        [0.25, 0.05, 0, 0, 0, 0.70],
    ]
)

# functions (what a team does); roster roles are coarser than this
CHAT, VOICE, SEC, RECOV, PAYINV, SOCIAL, PRIORITY, FRAUD, TIER2, QA = range(10)
REVIEW = 10  # pseudo-function: reviewing someone else's ticket (QA, team leads, nesting)
FN_CODE = ["CHAT", "VOICE", "SECURE", "RECOVERY", "PAYINV", "SOCIAL", "PRIORITY", "FRAUDOPS", "TIER2", "QA"]
FN_ROLE = ["agent", "agent", "agent", "agent", "agent", "agent", "relationship_manager", "fraud_analyst", "senior_agent", "qa_analyst"]
FRONTLINE = [CHAT, VOICE, SEC, SOCIAL, TIER2]

# tasks per 8 worked hours at full productivity
RATE = np.array([30, 24, 40, 58, 7, 9, 10, 22, 12, 42], float)
# record views per customer in a task (mean)
VPC = np.array([3.0, 3.3, 3.4, 2.1, 5.0, 2.6, 3.6, 4.0, 3.2, 2.6, 2.4])
P_NOTICKET = np.array([0.05, 0.33, 0.12, 0.04, 0.15, 0.25, 0.35, 0.50, 0.08, 0, 0])
P_FOLLOW = np.array([0.20, 0.22, 0.30, 0.10, 0.40, 0.20, 0, 0.10, 0.45, 0, 0])
P_LINK = np.array([0.04, 0.06, 0.09, 0.03, 0.45, 0.10, 0.25, 0.40, 0.30, 0, 0])
LINK_RANDOM = np.array([0, 0, 0, 0, 1, 1, 0, 1, 1, 0, 0], bool)  # counterparties / merged tickets
P_SEARCH = np.array([0.15, 0.60, 0.30, 0.05, 0.20, 0.80, 0.10, 0.30, 0.30, 0.05, 0.05])
P_NOTE = np.array([0.50, 0.60, 0.55, 0.30, 0.70, 0.50, 0.30, 0.40, 0.70, 0.60, 0.50])
P_UPDATE = np.array([0.04, 0.05, 0.12, 0.06, 0.05, 0.02, 0.03, 0.08, 0.05, 0, 0])
P_EXPORT = np.array([0, 0, 0, 0, 0.05, 0, 0.02, 0.05, 0, 0, 0])
P_HV = np.array([0, 0, 0, 0, 0.05, 0.20, 0, 0.05, 0.10, 0, 0])
GAP_S = np.array([35, 45, 30, 20, 60, 50, 45, 30, 50, 40, 40], float)

RESOURCES = ["profile", "id_document", "balance", "transactions", "address", "ticket"]
R_PROFILE, R_ID, R_BAL, R_TX, R_ADDR, R_TICKET = range(6)
RES_MIX = np.array(
    [
        [0.35, 0.08, 0.17, 0.18, 0.05, 0.17],  # chat
        [0.40, 0.08, 0.18, 0.17, 0.07, 0.10],  # voice
        [0.30, 0.35, 0.05, 0.08, 0.07, 0.15],  # account security / unlock
        [0.22, 0.02, 0.30, 0.26, 0.15, 0.05],  # recovery / collections
        [0.12, 0.03, 0.20, 0.55, 0.02, 0.08],  # payments investigations
        [0.45, 0.05, 0.15, 0.15, 0.02, 0.18],  # social escalations
        [0.15, 0.02, 0.38, 0.38, 0.02, 0.05],  # priority (VIP) desk
        [0.25, 0.18, 0.12, 0.35, 0.06, 0.04],  # fraud ops
        [0.25, 0.12, 0.16, 0.22, 0.07, 0.18],  # tier 2
        [0.30, 0.08, 0.08, 0.08, 0.03, 0.43],  # qa (unused: QA work is review)
        [0.35, 0.05, 0.08, 0.08, 0.02, 0.42],  # review
    ]
)
RES_CUM = np.cumsum(RES_MIX, axis=1)
ACTIONS = ["view", "search", "note", "update", "export"]
A_VIEW, A_SEARCH, A_NOTE, A_UPDATE, A_EXPORT = range(5)

# ticket systems: code = kind * 10**10 + number; -1 = no ticket
TK_OLD, TK_NEW, TK_CMP, TK_FRD, TK_CHG = range(5)
TK_PREFIX = ["T", "SR-", "CMP-", "FRD-", "CHG-"]
TKM = 10**10

CUST_BASE = 210_000_000  # customer ids are dense 9-digit numbers in signup order

# approximate public holidays and Ramadan, for periods that overlap them
HOLIDAYS = {
    LIS: ["2026-02-17", "2026-04-03", "2025-03-04", "2025-04-18", "2027-02-09"],
    KUL: ["2026-02-17", "2026-02-18", "2026-03-21", "2026-03-22", "2025-01-29", "2025-03-31", "2027-02-06", "2027-03-10"],
    NBO: ["2026-04-03", "2026-04-06", "2025-04-18", "2025-04-21"],
    CAI: ["2026-03-20", "2026-03-21", "2026-03-22", "2025-03-30", "2025-03-31", "2027-03-10"],
    MEX: ["2026-02-02", "2026-03-16", "2026-04-02", "2026-04-03", "2025-02-03", "2025-03-17", "2027-02-01", "2027-03-15"],
    PNQ: ["2026-02-15", "2026-03-04", "2026-03-19", "2025-03-14", "2027-03-22"],
}
RAMADAN = [("2025-03-01", "2025-03-29"), ("2026-02-18", "2026-03-19"), ("2027-02-08", "2027-03-09")]


class NS(dict):
    __getattr__ = dict.__getitem__
    __setattr__ = dict.__setitem__


def log(msg):
    print(msg, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- helpers


def cat_sample(rng, cum_rows):
    """One categorical draw per row from per-row cumulative probabilities."""
    u = rng.random(cum_rows.shape[0])[:, None] * cum_rows[:, -1:]
    return np.minimum((u >= cum_rows).sum(axis=1), cum_rows.shape[1] - 1)


def group_sample(rng, pool_key, query_key):
    """For each query, a random pool index with the same key (-1 when none)."""
    if len(query_key) == 0:
        return np.zeros(0, np.int64)
    if len(pool_key) == 0:
        return np.full(len(query_key), -1, np.int64)
    order = np.argsort(pool_key, kind="stable")
    sk = pool_key[order]
    left = np.searchsorted(sk, query_key, "left")
    right = np.searchsorted(sk, query_key, "right")
    cnt = right - left
    pick = left + (rng.random(len(query_key)) * cnt).astype(np.int64)
    pick = np.minimum(pick, len(order) - 1)
    return np.where(cnt > 0, order[pick], -1)


def group_cumsum(values, group_start_flag):
    """Cumulative sum restarting where group_start_flag is True (rows sorted by group)."""
    cs = np.cumsum(values)
    starts = np.flatnonzero(group_start_flag)
    base = np.zeros(len(values), values.dtype)
    if len(starts):
        seg = np.cumsum(group_start_flag) - 1
        before = cs[starts] - values[starts]
        base = before[seg]
    return cs - base


def mix64(x):
    x = np.asarray(x, dtype=np.uint64)
    with np.errstate(over="ignore"):
        z = x + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)


def hex_strings(u64, prefix: bytes, ndigits: int):
    """pyarrow string array: prefix + first ndigits hex digits of each uint64."""
    n = len(u64)
    b = np.ascontiguousarray(u64.astype(">u8")).view(np.uint8).reshape(n, 8)
    hx = np.empty((n, 16), np.uint8)
    hx[:, 0::2] = _HEX[b >> 4]
    hx[:, 1::2] = _HEX[b & 15]
    p = np.frombuffer(prefix, np.uint8)
    w = len(p) + ndigits
    out = np.empty((n, w), np.uint8)
    out[:, : len(p)] = p
    out[:, len(p) :] = hx[:, :ndigits]
    offs = np.arange(0, w * (n + 1), w, dtype=np.int64)
    if offs[-1] < 2**31:
        return pa.Array.from_buffers(pa.string(), n, [None, pa.py_buffer(offs.astype(np.int32)), pa.py_buffer(out.tobytes())])
    return pa.Array.from_buffers(pa.large_string(), n, [None, pa.py_buffer(offs), pa.py_buffer(out.tobytes())])


def day_index(start: dt.date, s: str) -> int:
    return (dt.date.fromisoformat(s) - start).days


# --------------------------------------------------------------------------- customers


def build_customers(rng, N):
    M = max(120_000, 2000 * N)
    idx = np.arange(M)
    region = cat_sample(rng, np.tile(np.cumsum(REGION_SHARE), (M, 1))).astype(np.int8)
    p_hv = np.where(idx < M // 2, 0.05, 0.02)
    hv = rng.random(M) < p_hv
    w = rng.lognormal(0, 1.0, M)
    w *= np.where(idx > 0.85 * M, 2.0, 1.0)  # recent sign-ups need more help
    w *= np.where(hv, 2.5, 1.0)
    delinquent = rng.random(M) < 0.05
    # link groups: joint accounts, family and business sub-accounts (random, not adjacent ids)
    linked = rng.permutation(M)[: int(0.12 * M)]
    sizes = rng.choice([2, 2, 2, 3, 3, 4], size=len(linked))
    cs = np.cumsum(sizes)
    cut = np.searchsorted(cs, len(linked), "right")
    sizes = sizes[:cut]
    linked = linked[: sizes.sum()]
    gstart = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    grp = np.full(M, -1, np.int64)
    gpos = np.zeros(M, np.int64)
    gid = np.repeat(np.arange(len(sizes)), sizes)
    grp[linked] = gid
    gpos[linked] = np.arange(len(linked)) - gstart[gid]
    # per-region cumulative weights for sampling
    order = np.argsort(region, kind="stable")
    cw = np.cumsum(w[order])
    rcount = np.bincount(region, minlength=6)
    rend = np.cumsum(rcount)
    rstart = rend - rcount
    cw_lo = np.where(rstart > 0, cw[np.maximum(rstart - 1, 0)], 0.0)
    cw_hi = cw[np.maximum(rend - 1, 0)]
    dl = np.flatnonzero(delinquent)
    dl = dl[np.argsort(region[dl], kind="stable")]
    dcount = np.bincount(region[dl], minlength=6)
    dend = np.cumsum(dcount)
    return NS(
        M=M,
        region=region,
        hv=hv,
        grp=grp,
        gpos=gpos,
        gstart=gstart,
        gsize=sizes,
        members=linked,
        order=order,
        cw=cw,
        cw_lo=cw_lo,
        cw_hi=cw_hi,
        dl=dl,
        dstart=dend - dcount,
        dcount=dcount,
        hv_ids=np.flatnonzero(hv),
    )


def sample_customers(rng, C, region):
    u = C.cw_lo[region] + rng.random(len(region)) * (C.cw_hi[region] - C.cw_lo[region])
    pos = np.minimum(np.searchsorted(C.cw, u, "right"), C.M - 1)
    return C.order[pos].astype(np.int64)


def sample_delinquent(rng, C, region):
    cnt = C.dcount[region]
    pick = C.dstart[region] + (rng.random(len(region)) * cnt).astype(np.int64)
    return C.dl[np.minimum(pick, len(C.dl) - 1)].astype(np.int64)


# --------------------------------------------------------------------------- organisation

ALLOC = [
    (LIS, TIER2, 0.05),
    (LIS, PAYINV, 0.03),
    (LIS, FRAUD, 0.03),
    (LIS, PRIORITY, 0.025),
    (LIS, QA, 0.02),
    (LIS, SOCIAL, 0.02),
    (KUL, CHAT, 0.09),
    (KUL, SEC, 0.06),
    (KUL, VOICE, 0.05),
    (NBO, CHAT, 0.07),
    (NBO, RECOV, 0.05),
    (NBO, VOICE, 0.05),
    (CAI, CHAT, 0.07),
    (CAI, SEC, 0.04),
    (CAI, RECOV, 0.04),
    (MEX, CHAT, 0.07),
    (MEX, VOICE, 0.05),
    (MEX, SOCIAL, 0.02),
    (PNQ, CHAT, 0.05),
    (PNQ, SEC, 0.04),
    (PNQ, RECOV, 0.02),
    (PNQ, QA, 0.015),
]


def team_shift(site, fn, k):
    """(pattern, start minute local, two weekdays off) of the k-th team of a kind.
    pattern: 0 = 5 on 2 off, 1 = 4 on 4 off (12 h), 2 = split shift."""
    if site == CAI:
        off = (4, 5)
    elif site == LIS:
        off = (5, 6)
    else:
        off = [(5, 6), (6, 0), (0, 1), (2, 3), (3, 4), (5, 6), (4, 5)][k % 7]
    if fn == CHAT:
        return 0, [420, 600, 900, 1380][(k + site) % 4], off
    if fn == VOICE:
        if site == MEX:
            return 2, 420, (5, 6)
        return 0, [480, 840][k % 2], off
    if fn == SEC:
        if site == PNQ:
            return 1, [420, 1140][k % 2], off
        return 0, [480, 840][k % 2], off
    if fn == RECOV:
        return 0, [540, 660][k % 2], (5, 6) if site != CAI else (4, 5)
    if fn == FRAUD:
        return 1, [480, 1200][k % 2], off
    if fn == SOCIAL:
        return 0, [540, 780, 960][k % 3], off
    return 0, 540, off


def largest_remainder(total, weights):
    w = np.asarray(weights, float)
    raw = total * w / w.sum()
    base = np.floor(raw).astype(int)
    rem = total - base.sum()
    order = np.argsort(-(raw - base), kind="stable")
    base[order[:rem]] += 1
    return base


def build_org(rng, N, D, start):
    """Teams, agents and their per-day team, role and employment."""
    n_coh = 1 + int(round(N / 300))
    coh_size = int(np.clip(round(N * 0.025), 3, 14))
    pune_frac = sum(w for s, f, w in ALLOC if s == PNQ) / sum(w for s, f, w in ALLOC)
    C_target = n_coh * coh_size
    N0 = int(round((N - C_target) / (1 + pune_frac)))
    counts = largest_remainder(N0, [w for _, _, w in ALLOC])
    pune0 = int(sum(c for (s, f, w), c in zip(ALLOC, counts) if s == PNQ))
    C_total = N - N0 - pune0
    if C_total < 0:
        raise SystemExit("too few agents")
    coh_sizes = largest_remainder(C_total, np.ones(n_coh)) if C_total else np.zeros(n_coh, int)

    S = switch_day(D, start)  # vendor switchover day index (Monday)

    teams = NS(site=[], fn=[], name=[], pattern=[], start=[], off1=[], off2=[])
    kind_count = {}
    ag = NS(site=[], vendor=[], team0=[], lead0=[], start_idx=[], end_idx=[], kind=[])
    # kind: 0 existing, 1 cohort new hire, 2 switchover rehire, 3 switchover new hire

    def new_team(site, fn):
        k = kind_count.get((site, fn), 0)
        kind_count[(site, fn)] = k + 1
        pat, st, off = team_shift(site, fn, k)
        teams.site.append(site)
        teams.fn.append(fn)
        teams.name.append(f"{SITE_CODE[site]}-{FN_CODE[fn]}-{k + 1:02d}")
        teams.pattern.append(pat)
        teams.start.append(st)
        teams.off1.append(off[0])
        teams.off2.append(off[1])
        return len(teams.site) - 1

    for (site, fn, _), n in zip(ALLOC, counts):
        if n <= 0:
            continue
        nt = max(1, int(round(n / 11)))
        sizes = largest_remainder(n, np.ones(nt))
        for sz in sizes:
            t = new_team(site, fn)
            for j in range(sz):
                ag.site.append(site)
                ag.vendor.append(SITE_VENDOR[site])
                ag.team0.append(t)
                ag.lead0.append(j == 0)
                ag.start_idx.append(-int(rng.integers(30, 1500)))
                ag.end_idx.append(D + 5)
                ag.kind.append(0)
    # switchover: every pune position gets a kavach successor
    deccan = [i for i, v in enumerate(ag.vendor) if v == SITE_VENDOR[PNQ]]
    for i in deccan:
        ag.end_idx[i] = S - 1
        rehire = rng.random() < 0.65 or ag.lead0[i]
        ag.site.append(PNQ)
        ag.vendor.append(NEW_VENDOR)
        ag.team0.append(ag.team0[i])
        ag.lead0.append(ag.lead0[i])
        ag.start_idx.append(S if rehire else S + 7)
        ag.end_idx.append(D + 5)
        ag.kind.append(2 if rehire else 3)
    # new-hire cohorts join after training, spread over teams of one kind at one site
    coh_kinds = [(KUL, CHAT), (MEX, CHAT), (NBO, VOICE), (CAI, CHAT), (KUL, SEC), (MEX, VOICE), (NBO, CHAT), (CAI, SEC)]
    cohorts = []
    for c in range(n_coh):
        site, fn = coh_kinds[c % len(coh_kinds)]
        tlist = [t for t in range(len(teams.site)) if teams.site[t] == site and teams.fn[t] == fn]
        if not tlist:
            tlist = [t for t in range(len(teams.site)) if teams.fn[t] in (CHAT, VOICE)]
        frac = 0.25 + (0.4 * c / max(1, n_coh - 1) if n_coh > 1 else 0.1)
        sd = int(np.clip(round(frac * D), 1, max(1, D - 6)))
        sd = next_weekday(start, sd, 0, D)
        members = []
        for j in range(coh_sizes[c]):
            ag.site.append(site)
            ag.vendor.append(SITE_VENDOR[site])
            ag.team0.append(tlist[j % len(tlist)])
            ag.lead0.append(False)
            ag.start_idx.append(sd)
            ag.end_idx.append(D + 5)
            ag.kind.append(1)
            members.append(len(ag.site) - 1)
        cohorts.append((site, fn, sd, members))

    n = len(ag.site)
    assert n == N, (n, N)
    for k in list(ag.keys()):
        ag[k] = np.array(ag[k])
    for k in list(teams.keys()):
        teams[k] = np.array(teams[k])
    T = len(teams.site)

    team_day = np.repeat(ag.team0[:, None], D, axis=1).astype(np.int64)
    lead_day = np.repeat(ag.lead0[:, None], D, axis=1)
    moved = np.zeros(n, bool)
    promoted = np.zeros(n, bool)
    # attrition: about 5% of the existing staff leave during the period (not pune: switchover)
    existing = np.flatnonzero((ag.kind == 0) & (ag.site != PNQ))
    leavers = rng.choice(existing, size=int(round(0.05 * len(existing))), replace=False)
    for i in leavers:
        ag.end_idx[i] = int(rng.integers(max(2, D // 5), D))
    # a departing lead is replaced by a promoted member of the team
    for i in leavers:
        if ag.lead0[i] and ag.end_idx[i] < D - 1:
            mates = [j for j in np.flatnonzero(ag.team0 == ag.team0[i]) if j != i and ag.kind[j] == 0 and not ag.lead0[j] and ag.end_idx[j] > D]
            if mates:
                j = mates[int(rng.integers(len(mates)))]
                lead_day[j, ag.end_idx[i] + 1 :] = True
                promoted[j] = True
    # about 3% move to another team of another kind at their site (roster shows the new one)
    cand = np.flatnonzero((ag.kind == 0) & ~ag.lead0 & (ag.end_idx > D) & ~promoted & (ag.site != PNQ))
    movers = rng.choice(cand, size=int(round(0.03 * n)), replace=False) if len(cand) else []
    for i in movers:
        other = [t for t in range(T) if teams.site[t] == ag.site[i] and teams.fn[t] != teams.fn[ag.team0[i]]]
        if not other:
            continue
        t2 = other[int(rng.integers(len(other)))]
        md = int(rng.integers(max(3, D // 6), max(4, D - 3)))
        team_day[i, md:] = t2
        moved[i] = True
    return NS(n=n, T=T, teams=teams, ag=ag, team_day=team_day, lead_day=lead_day, moved=moved, promoted=promoted, S=S, cohorts=cohorts, leavers=leavers)


def next_weekday(start, d, weekday, D):
    """First day index >= d falling on weekday (0 = Monday), clipped to the period."""
    wd0 = start.weekday()
    for k in range(7):
        if (wd0 + d + k) % 7 == weekday:
            return min(d + k, max(0, D - 1))
    return d


def switch_day(D, start):
    return next_weekday(start, int(round(0.55 * D)), 0, D)


# --------------------------------------------------------------------------- calendar


def build_calendar(rng, org, D, start):
    """Working days and shift blocks (local minutes from the shift day's midnight)."""
    n = org.n
    ag, teams = org.ag, org.teams
    wd = (start.weekday() + np.arange(D)) % 7
    days = np.arange(D)
    # site-level calendar
    hol = np.zeros((6, D), bool)
    for s, lst in HOLIDAYS.items():
        for x in lst:
            k = day_index(start, x)
            if 0 <= k < D:
                hol[s, k] = True
    ram = np.zeros(D, bool)
    for a, b in RAMADAN:
        ka, kb = day_index(start, a), day_index(start, b)
        ram[max(0, ka) : max(0, min(D, kb + 1))] = True
    ev = NS()
    ev.crash = next_weekday(start, int(round(0.45 * D)), 1, D)  # a Tuesday
    ev.busy2 = next_weekday(start, int(round(0.8 * D)), 3, D)

    def clear_day(d0, weekday, site):
        """First day from d0 on that weekday that is no holiday at the site."""
        for k in range(0, 28, 7):
            x = next_weekday(start, min(D - 1, d0 + k), weekday, D)
            if not hol[site, x]:
                return x
        return next_weekday(start, d0, weekday, D)

    ev.phish_site = KUL
    ev.phish = clear_day(int(round(0.33 * D)), 2, KUL)
    ev.backlog = (int(round(0.6 * D)), min(D, int(round(0.6 * D)) + 6))
    ev.closure_site = NBO
    ev.closure = clear_day(int(round(0.7 * D)), 3, NBO)
    ev.outage = (MEX, clear_day(int(round(0.25 * D)), 0, MEX), 600, 780)
    sat = next_weekday(start, int(round(0.5 * D)), 5, D)
    ev.mig_sat = sat
    ev.project = (int(round(0.3 * D)), min(D, int(round(0.3 * D)) + 12))
    n_sw = max(2, int(round(D / 20)))
    ev.sweeps = sorted(set(int(x) for x in rng.choice(np.arange(2, max(3, D - 1)), n_sw, replace=False)))
    fac = np.exp(rng.normal(0, 0.07, (6, 1, D))) * np.ones((6, 10, D))
    fac[:, FRONTLINE, ev.crash] *= 2.3
    if ev.crash + 1 < D:
        fac[:, FRONTLINE, ev.crash + 1] *= 1.6
    fac[:, RECOV, ev.crash + 1 : ev.crash + 7] *= 1.5
    fac[:, FRAUD, ev.crash : ev.crash + 3] *= 1.4
    fac[:, PAYINV, ev.crash : ev.crash + 3] *= 1.3
    fac[:, [CHAT, VOICE, SEC], ev.busy2] *= 1.6
    for k, m in enumerate([3.0, 2.0, 1.35]):
        if ev.phish + k < D:
            fac[ev.phish_site, SEC, ev.phish + k] *= m
            fac[ev.phish_site, CHAT, ev.phish + k] *= 1 + (m - 1) / 4
    fac[PNQ, SEC, ev.backlog[0] : ev.backlog[1]] *= 1.5
    others = [s for s in range(6) if s != ev.closure_site]
    fac[np.ix_(others, [CHAT, VOICE], [ev.closure])] *= 1.12

    works = np.zeros((n, D), bool)
    b1s = np.zeros((n, D), np.int32)
    b1l = np.zeros((n, D), np.int32)
    b2s = np.zeros((n, D), np.int32)
    b2l = np.zeros((n, D), np.int32)
    ramp = np.ones((n, D))
    nesting = np.zeros((n, D), bool)
    wfh = np.zeros((n, D), bool)
    parttime = np.zeros(n, bool)
    shift_change = np.full(n, -1)
    for i in range(n):
        site = ag.site[i]
        t = org.team_day[i]
        pat = teams.pattern[t]
        fn = teams.fn[t]
        student = site in (NBO, MEX) and teams.fn[ag.team0[i]] in (CHAT, VOICE) and not ag.lead0[i] and rng.random() < 0.15
        parttime[i] = student
        phase = int(rng.integers(2)) * 4
        # staggered weekends: each person's two days off (a 24/7 desk needs weekend cover)
        if site == LIS:
            pairs, pw = [(5, 6), (6, 0), (4, 5)], [0.8, 0.1, 0.1]
        elif site == CAI:
            pairs, pw = [(4, 5), (5, 6), (3, 4), (6, 0), (0, 1)], [0.6, 0.1, 0.1, 0.1, 0.1]
        elif teams.fn[ag.team0[i]] in (RECOV, QA):
            pairs, pw = [(5, 6), (6, 0), (4, 5)], [0.7, 0.15, 0.15]
        else:
            pairs = [(5, 6), (6, 0), (0, 1), (1, 2), (2, 3), (3, 4), (4, 5)]
            pw = [0.4, 0.15, 0.1, 0.1, 0.1, 0.1, 0.05]
        off1, off2 = pairs[int(rng.choice(len(pairs), p=pw))]
        if pat[0] == 2:
            off1, off2 = teams.off1[t[0]], teams.off2[t[0]]
        on = np.where(pat == 1, ((days + phase) % 8) < 4, (wd != off1) & (wd != off2))
        if student:
            on = rng.random(D) < 0.5
        emp = (days >= ag.start_idx[i]) & (days <= ag.end_idx[i])
        on &= emp
        if rng.random() < 0.18:  # a vacation block
            a = int(rng.integers(0, D))
            on[a : a + int(rng.integers(5, 10))] = False
        on &= rng.random(D) >= 0.02  # sick days
        h = hol[site]
        on &= ~(h & ((pat != 1) | (rng.random(D) < 0.5)))
        if site == ev.closure_site:
            on[ev.closure] = False
        # shift start, with a personal offset and a shift change for some
        st = teams.start[t] + int(rng.choice([-30, -15, 0, 0, 15, 30]))
        st = st + np.round(rng.normal(0, 8, D)).astype(int)
        if pat[0] != 1 and rng.random() < 0.08 and not student:
            cd = int(rng.integers(D // 4, max(D // 4 + 1, D - 2)))
            shift_change[i] = cd
            st[cd:] += int(rng.choice([-300, 360, 420]))
        if student:
            st = np.where(wd >= 5, 540, 960) + np.round(rng.normal(0, 10, D)).astype(int)
        work = np.where(pat == 1, 660, 480)
        lunch = np.where(pat == 1, 60, 45)
        if student:
            work = np.full(D, 270)
            lunch = np.zeros(D, int)
        obs = site in (CAI, KUL) and rng.random() < (0.9 if site == CAI else 0.6)
        if obs:
            rmask = ram & (pat != 1)
            work = np.where(rmask, 360, work)
            lunch = np.where(rmask, 0, lunch)
        ot = np.where(rng.random(D) < 0.07, rng.integers(30, 121, D), 0)
        bl = (site == PNQ) & (fn == SEC) & (days >= ev.backlog[0]) & (days < ev.backlog[1])
        ot = ot + np.where(bl, 120, 0)
        half = work // 2
        split = (pat == 2) & ~student
        has_lunch = lunch > 0
        b1s[i] = st
        b1l[i] = np.where(split, 240, np.where(has_lunch, half, work))
        b2s[i] = np.where(split, st + 540, np.where(has_lunch, st + half + lunch, st + work))
        b2l[i] = np.where(split, 240, np.where(has_lunch, work - half, 0)) + ot
        works[i] = on
        # ramp-up for new people, nesting days for cohort hires, notice period for leavers
        k = np.cumsum(on) - 1
        if ag.kind[i] in (1, 3):
            ramp[i] = np.where(on, np.minimum(1.0, 0.35 + 0.65 * np.maximum(k, 0) / 12), 1.0)
            nesting[i] = on & (k < 3)
        elif ag.kind[i] == 2:
            ramp[i] = np.where(on, np.minimum(1.0, 0.8 + 0.2 * np.maximum(k, 0) / 5), 1.0)
        if ag.end_idx[i] < D:
            ramp[i] *= np.where(days > ag.end_idx[i] - 10, 0.85, 1.0)
        if site == LIS and ag.vendor[i] == "inhouse":
            w1, w2 = rng.choice(5, 2, replace=False)
            wfh[i] = (wd == w1) | (wd == w2)
    # the data-correction project: agents of one queue seconded for two weeks
    prj_cand = np.flatnonzero((ag.site == NBO) & (teams.fn[ag.team0] == CHAT) & ~ag.lead0 & (ag.kind == 0) & ~parttime & ~org.moved & (ag.end_idx > D))
    k = min(len(prj_cand), max(2, int(round(org.n / 75))))
    project = rng.choice(prj_cand, k, replace=False) if k else np.zeros(0, int)
    prod = rng.lognormal(0, 0.35, n)
    review_intensity = rng.lognormal(0, 0.5, n)
    no_ticket_quirk = rng.lognormal(0, 0.5, n)
    return NS(
        works=works,
        b1s=b1s,
        b1l=b1l,
        b2s=b2s,
        b2l=b2l,
        ramp=ramp,
        nesting=nesting,
        wfh=wfh,
        parttime=parttime,
        shift_change=shift_change,
        fac=fac,
        ev=ev,
        hol=hol,
        ram=ram,
        project=np.sort(project),
        prod=prod,
        review_intensity=review_intensity,
        no_ticket_quirk=no_ticket_quirk,
        wd=wd,
    )


def site_midnights(start, D):
    """UTC epoch ms of each site's local midnight, for day indices -1 .. D+1 (offset 1)."""
    out = np.zeros((6, D + 3), np.int64)
    for s in range(6):
        tz = ZoneInfo(SITE_TZ[s])
        for k in range(-1, D + 2):
            date = start + dt.timedelta(days=k)
            noon = dt.datetime(date.year, date.month, date.day, 12, tzinfo=tz)
            off = noon.utcoffset().total_seconds()
            utc_mid = dt.datetime(date.year, date.month, date.day, tzinfo=dt.UTC)
            out[s, k + 1] = int(utc_mid.timestamp() * 1000 - off * 1000)
    return out


# --------------------------------------------------------------------------- benign work


class Events:
    """Column chunks of events, concatenated at the end."""

    COLS = ["t", "ag", "cu", "act", "tk", "rs", "blk", "vpn", "src", "uid"]

    def __init__(self):
        self.chunks = []

    def add(self, src, **cols):
        n = len(cols["t"])
        if n == 0:
            return
        c = {k: np.asarray(v) for k, v in cols.items()}
        c.setdefault("blk", np.zeros(n, np.int8))
        c.setdefault("vpn", np.zeros(n, bool))
        c["sd"] = np.broadcast_to(np.asarray(c["sd"]), (n,))
        c["src"] = np.full(n, src, np.int32)
        self.chunks.append(c)

    def concat(self):
        out = {}
        for k in ["t", "ag", "cu", "act", "tk", "rs", "blk", "vpn", "src", "sd"]:
            dtp = {"t": np.int64, "ag": np.int32, "cu": np.int64, "act": np.int8, "tk": np.int64, "rs": np.int8, "blk": np.int8, "vpn": bool, "src": np.int32, "sd": np.int32}[k]
            out[k] = np.concatenate([c[k].astype(dtp) for c in self.chunks])
        # a stable id per event, from its source chunk and position in it
        seq = np.concatenate([np.arange(len(c["t"])) for c in self.chunks]).astype(np.uint64)
        out["uid"] = (out["src"].astype(np.uint64) << np.uint64(32)) | seq
        return out


def minutes_in_blocks(u, b1s, b1l, b2s, b2l):
    """Map u in [0,1) to a local minute inside the two shift blocks."""
    tot = b1l + b2l
    x = u * tot
    return np.where(x < b1l, b1s + x, b2s + (x - b1l))


def gen_benign(seed, org, cal, C, D, start, mids, ins_agents):
    ag, teams = org.ag, org.teams
    ev = Events()
    pool = []  # recent ticketed contacts: per day dict of arrays
    own_tickets = {}  # (agent, day) -> (minutes, ticket codes), insider agents only
    own_tickets["numbers"] = {}  # day -> ticket codes the desk created that day
    tnum = 4_310_000
    snum = 10_052_000
    fnum = 7_340
    chg_num = 4_418_220
    mig_day = cal.ev.mig_sat + 2
    ins_mask = np.zeros(org.n, bool)
    ins_mask[list(ins_agents)] = True
    prj_mask = np.zeros(org.n, bool)
    prj_mask[cal.project] = True
    p0, p1 = cal.ev.project
    team_fn = teams.fn
    src_id = 0
    for d in range(D):
        rng = np.random.default_rng([seed, 1000 + d])
        act = np.flatnonzero(cal.works[:, d])
        A = len(act)
        tm = org.team_day[act, d]
        fn = team_fn[tm]
        site = ag.site[act]
        lead = org.lead_day[act, d]
        b1s, b1l, b2s, b2l = (cal.b1s[act, d], cal.b1l[act, d], cal.b2s[act, d], cal.b2l[act, d])
        worked = (b1l + b2l) / 480.0
        base = RATE[fn] * cal.prod[act] * np.exp(rng.normal(0, 0.2, A)) * cal.ramp[act, d] * cal.fac[site, fn, d] * worked
        own_rate = base.copy()
        rev_rate = np.zeros(A)
        own_rate[lead] *= 0.25
        rev_rate[lead] = 28 * cal.review_intensity[act[lead]] * worked[lead]
        nest = cal.nesting[act, d]
        rev_rate[nest] = 0.5 * own_rate[nest]
        own_rate[nest] *= 0.5
        isqa = fn == QA  # QA reviewers (and their lead) only review other people's tickets
        rev_rate[isqa] = np.where(lead[isqa], rev_rate[isqa], base[isqa])
        own_rate[isqa] = 0
        inprj = prj_mask[act] & (d >= p0) & (d < p1)
        own_rate[inprj] *= 0.3
        n_own = rng.poisson(own_rate)
        n_rev = rng.poisson(rev_rate)

        # ---- own tasks
        ta = np.repeat(np.arange(A), n_own)
        T = len(ta)
        tfn = fn[ta]
        tsite = site[ta]
        ttm = tm[ta]
        reg_cum = np.cumsum(SITE_REGION[tsite], axis=1)
        glob = np.isin(tfn, [TIER2, PAYINV, FRAUD, PRIORITY]) | (tsite == LIS)
        reg_cum[glob] = np.cumsum(REGION_SHARE)
        reg = cat_sample(rng, reg_cum)
        cust = sample_customers(rng, C, reg)
        hvpick = rng.random(T) < P_HV[tfn]
        if len(C.hv_ids):
            cust[hvpick] = C.hv_ids[rng.integers(0, len(C.hv_ids), hvpick.sum())]
        tk = np.full(T, -1, np.int64)
        newtk = np.ones(T, bool)
        # VIP desk: the relationship manager's own book of high-value customers
        vip = tfn == PRIORITY
        if vip.any() and len(C.hv_ids):
            book_seed = mix64(act[ta[vip]].astype(np.uint64) * np.uint64(1_000_003))
            book_k = rng.integers(0, 160, vip.sum()).astype(np.uint64)
            pick = mix64(book_seed ^ (book_k * np.uint64(7919))) % np.uint64(len(C.hv_ids))
            inbook = rng.random(vip.sum()) < 0.85
            cv = cust[vip]
            cv[inbook] = C.hv_ids[pick[inbook].astype(np.int64)]
            cust[vip] = cv
        # recovery: outbound calls on the day's campaign worklist, one batch ticket per team
        batch = (tfn == RECOV) & (rng.random(T) < 0.7)
        if batch.any():
            cust[batch] = sample_delinquent(rng, C, reg[batch])
            tk[batch] = TK_CMP * TKM + 20000 + d * 500 + ttm[batch]
            newtk[batch] = False
        # follow-ups: a customer the team handled in the last two weeks
        fol = ~batch & ~vip & (rng.random(T) < P_FOLLOW[tfn])
        if pool and fol.any():
            P = {k: np.concatenate([p[k] for p in pool]) for k in pool[0]}
            j = group_sample(rng, P["team"], ttm[fol])
            ok = j >= 0
            fi = np.flatnonzero(fol)[ok]
            cust[fi] = P["cu"][j[ok]]
            reuse = rng.random(len(fi)) < 0.5
            tk[fi[reuse]] = P["tk"][j[ok]][reuse]
            newtk[fi[reuse]] = False
        quirk = cal.no_ticket_quirk[act[ta]]
        nt = ~batch & (rng.random(T) < np.minimum(0.9, P_NOTICKET[tfn] * quirk))
        newtk &= ~nt
        tk[nt] = -1
        # start minute of each task
        tmin = minutes_in_blocks(rng.random(T), b1s[ta], b1l[ta], b2s[ta], b2l[ta])
        o = cal.ev.outage
        if o[1] == d:
            m = (tsite == o[0]) & (tmin >= o[2]) & (tmin < o[3])
            tmin[m] = o[3] + (tmin[m] - o[2]) * 0.6
        # number the new tickets in time order
        nti = np.flatnonzero(newtk)
        utc_min = mids[tsite[nti], d + 1] / 60_000 + tmin[nti]
        nti = nti[np.argsort(utc_min, kind="stable")]
        gaps = rng.integers(1, 4, len(nti))
        if d < mig_day:
            tk[nti] = TK_OLD * TKM + tnum + np.cumsum(gaps)
            tnum += int(gaps.sum()) + 7
        else:
            tk[nti] = TK_NEW * TKM + snum + np.cumsum(gaps)
            snum += int(gaps.sum()) + 11
        own_tickets["numbers"][d] = tk[nti].copy()
        # linked customers: joint accounts, counterparties, merged tickets
        nx = np.where(rng.random(T) < P_LINK[tfn], 1 + rng.poisson(np.where(np.isin(tfn, [FRAUD, TIER2]), 1.5, 0.4)), 0)
        g = C.grp[cust]
        in_g = g >= 0
        gsz = np.where(in_g, C.gsize[np.maximum(g, 0)], 1)
        nx = np.where(in_g, np.minimum(nx, gsz - 1), np.where(LINK_RANDOM[tfn], nx, 0))
        xt = np.repeat(np.arange(T), nx)
        xk = np.arange(len(xt)) - np.repeat(np.cumsum(nx) - nx, nx) + 1
        xg = g[xt]
        xc = np.where(xg >= 0, C.members[C.gstart[np.maximum(xg, 0)] + (C.gpos[cust[xt]] + xk) % np.maximum(gsz[xt], 1)], rng.integers(0, C.M, len(xt)))

        # ---- review tasks (team leads, QA, new hires in nesting)
        ra = np.repeat(np.arange(A), n_rev)
        rcu = np.zeros(len(ra), np.int64)
        rtk = np.full(len(ra), -1, np.int64)
        rok = np.zeros(len(ra), bool)
        if pool and len(ra):
            recent = [p for p in pool if p["day"][0] >= d - 3] if pool else []
            if recent:
                P = {k: np.concatenate([p[k] for p in recent]) for k in recent[0]}
                rfn = fn[ra]
                by_team = rfn != QA
                qa_site = ~by_team & (site[ra] == PNQ)
                qa_glob = ~by_team & ~qa_site
                j = np.full(len(ra), -1, np.int64)
                j[by_team] = group_sample(rng, P["team"], tm[ra[by_team]])
                j[qa_site] = group_sample(rng, P["site"], site[ra[qa_site]])
                j[qa_glob] = rng.integers(0, len(P["cu"]), qa_glob.sum())
                rok = j >= 0
                rcu[rok] = P["cu"][j[rok]]
                rtk[rok] = P["tk"][j[rok]]
        ra, rcu, rtk = ra[rok], rcu[rok], rtk[rok]
        rmin = minutes_in_blocks(rng.random(len(ra)), b1s[ra], b1l[ra], b2s[ra], b2l[ra])

        # ---- all tasks -> customer rows -> events
        task_a = np.concatenate([ta, ra])
        task_mix = np.concatenate([tfn, np.full(len(ra), REVIEW)])
        task_tk = np.concatenate([tk, rtk])
        task_min = np.concatenate([tmin, rmin])
        task_cu = np.concatenate([cust, rcu])
        isrev = np.concatenate([np.zeros(T, bool), np.ones(len(ra), bool)])
        NT = len(task_a)
        # customer rows: primary of each task, then its linked customers
        cr_task = np.concatenate([np.arange(NT), xt])
        cr_cu = np.concatenate([task_cu, xc])
        cr_k = np.concatenate([np.zeros(NT, np.int64), xk])
        vmean = VPC[task_mix[cr_task]] * np.where(cr_k > 0, 0.6, 1.0)
        cr_n = 1 + rng.poisson(np.maximum(vmean - 1, 0.05))
        e_cr = np.repeat(np.arange(len(cr_task)), cr_n)
        e_task = cr_task[e_cr]
        e_first = np.ones(len(e_cr), bool)
        e_first[1:] = e_cr[1:] != e_cr[:-1]
        e_ord = np.arange(len(e_cr)) - np.repeat(np.cumsum(cr_n) - cr_n, cr_n)
        mixr = task_mix[e_task]
        rs = cat_sample(rng, RES_CUM[mixr])
        firstres = np.where(isrev[e_task], R_TICKET, np.where(rng.random(len(rs)) < 0.55, R_PROFILE, rs))
        rs = np.where(e_first, firstres, rs)
        has_tk = task_tk[e_task] >= 0
        rs = np.where((rs == R_TICKET) & ~has_tk, R_PROFILE, rs)
        actn = np.zeros(len(rs), np.int8)
        upd = rng.random(len(rs)) < P_UPDATE[mixr]
        actn[upd] = A_UPDATE
        rs = np.where(upd & ~np.isin(rs, [R_PROFILE, R_ADDR]), R_PROFILE, rs)
        exp_ = ~upd & (rng.random(len(rs)) < P_EXPORT[mixr] / 3)
        actn[exp_] = A_EXPORT
        rs = np.where(exp_, R_TX, rs)
        key = cr_k[e_cr] * 1000 + e_ord + 1
        # searches before, notes after
        srch = rng.random(NT) < P_SEARCH[task_mix]
        srch &= ~isrev
        note = (rng.random(NT) < P_NOTE[task_mix]) & (task_tk >= 0)
        si = np.flatnonzero(srch)
        ni = np.flatnonzero(note)
        all_task = np.concatenate([e_task, si, ni])
        all_cu = np.concatenate([cr_cu[e_cr], task_cu[si], task_cu[ni]])
        all_act = np.concatenate([actn, np.full(len(si), A_SEARCH, np.int8), np.full(len(ni), A_NOTE, np.int8)])
        all_rs = np.concatenate([rs, np.full(len(si), -1), np.full(len(ni), R_TICKET)])
        all_key = np.concatenate([key, np.zeros(len(si), np.int64), np.full(len(ni), 10**9, np.int64)])
        order = np.lexsort((all_key, all_task))
        all_task, all_cu, all_act, all_rs = (all_task[order], all_cu[order], all_act[order], all_rs[order])
        gap = rng.exponential(GAP_S[task_mix[all_task]]) + 3.0
        gstart = np.ones(len(all_task), bool)
        gstart[1:] = all_task[1:] != all_task[:-1]
        gap[gstart] = 0.0
        off_s = group_cumsum(gap, gstart)
        a_idx = task_a[all_task]
        minute = task_min[all_task]
        t = mids[site[a_idx], d + 1] + (minute * 60_000).astype(np.int64) + (off_s * 1000).astype(np.int64)
        split_second = (b1l[a_idx] == 240) & (b2l[a_idx] >= 240) & (minute >= b2s[a_idx])
        blk = np.where(split_second & (b2s[a_idx] - b1s[a_idx] == 540), 1, 0)
        agent = act[a_idx]
        ev.add(src_id, sd=d, t=t, ag=agent, cu=all_cu, act=all_act, tk=task_tk[all_task], rs=all_rs, blk=blk, vpn=cal.wfh[agent, d])
        src_id += 1

        # ---- remember tickets: team pool, and insiders' own tickets
        own_tk = (np.arange(NT) < T) & (task_tk >= 0) & ~np.isin(task_tk // TKM, [TK_CMP])
        pool.append(dict(team=tm[task_a[own_tk]].astype(np.int64), site=site[task_a[own_tk]].astype(np.int64), cu=task_cu[own_tk], tk=task_tk[own_tk], day=np.full(own_tk.sum(), d)))
        if len(pool) > 14:
            pool.pop(0)
        if len(pool[-1]["day"]) == 0:
            pool.pop()
        mine = own_tk & ins_mask[act[task_a]]
        for a in np.unique(act[task_a[mine]]):
            sel = mine & (act[task_a] == a)
            o = np.argsort(task_min[sel], kind="stable")
            own_tickets[(int(a), d)] = (task_min[sel][o], task_tk[sel][o])

        # ---- honest but odd: a short look-in on a day off (follow-up, from home)
        off_emp = np.flatnonzero(~cal.works[:, d] & (ag.start_idx <= d) & (ag.end_idx >= d))
        look = off_emp[rng.random(len(off_emp)) < 0.004]
        if len(look) and pool:
            P = {k: np.concatenate([p[k] for p in pool]) for k in pool[0]}
            nl = rng.integers(3, 11, len(look))
            la = np.repeat(look, nl)
            j = group_sample(rng, P["team"], org.team_day[la, d].astype(np.int64))
            ok = j >= 0
            la, j = la[ok], j[ok]
            tmn = np.repeat(rng.uniform(600, 1260, len(look)), nl)[ok]
            seq = np.arange(len(la)) - np.repeat(np.cumsum(nl) - nl, nl)[ok]
            tt = mids[ag.site[la], d + 1] + (tmn * 60_000).astype(np.int64) + seq * 40_000
            ev.add(
                src_id, sd=d, t=tt, ag=la, cu=P["cu"][j], act=np.zeros(len(la), np.int8), tk=P["tk"][j], rs=np.where(seq == 0, R_TICKET, R_PROFILE), blk=np.full(len(la), 3), vpn=np.ones(len(la), bool)
            )
        src_id += 1

        # ---- the data-correction project: consecutive customer ids, under one change ticket
        if p0 <= d < p1 and len(cal.project):
            prng = np.random.default_rng([seed, 3000 + d])
            span = C.M // 40
            for r, a in enumerate(cal.project):
                if not cal.works[a, d]:
                    continue
                ncu = int(prng.integers(90, 141) * cal.ramp[a, d])
                lo = int(0.1 * C.M) + r * span
                pos = lo + ((d - p0) * 140 + np.arange(ncu)) % span
                pos = pos[prng.random(ncu) < 0.88]
                kinds = np.stack([np.full(len(pos), R_ADDR), np.where(prng.random(len(pos)) < 0.7, R_ADDR, -2), np.where(prng.random(len(pos)) < 0.25, R_PROFILE, -2)], 1)
                acts = np.array([A_VIEW, A_UPDATE, A_VIEW])
                cu = np.repeat(pos, 3)
                rr = kinds.ravel()
                aa = np.tile(acts, len(pos))
                keep = rr != -2
                cu, rr, aa = cu[keep], rr[keep], aa[keep]
                u = np.sort(prng.random(len(cu))) * 0.7 + 0.15
                mn = minutes_in_blocks(u, cal.b1s[a, d], cal.b1l[a, d], cal.b2s[a, d], cal.b2l[a, d])
                tt = mids[ag.site[a], d + 1] + (mn * 60_000).astype(np.int64)
                ev.add(src_id, sd=d, t=tt, ag=np.full(len(cu), a), cu=cu, act=aa, tk=np.full(len(cu), TK_CHG * TKM + chg_num), rs=rr, vpn=np.full(len(cu), cal.wfh[a, d]))
                src_id += 1
        # ---- fraud incident sweeps: hundreds of linked accounts in a few hours
        if d in cal.ev.sweeps:
            srng = np.random.default_rng([seed, 4000 + d])
            fr = act[(fn == FRAUD) & ~lead]
            if len(fr):
                who = srng.choice(fr, min(len(fr), int(srng.integers(1, 3))), replace=False)
                fnum += 1
                for a in who:
                    size = int(srng.integers(200, 601))
                    nrun = int(size * 0.4)
                    lo = int(srng.integers(0, C.M - 3 * nrun))
                    run = lo + np.flatnonzero(srng.random(3 * nrun) < 0.6)[:nrun]
                    rnd = srng.integers(0, C.M, size - len(run))
                    accts = srng.permutation(np.concatenate([run, rnd]))
                    per = np.stack(
                        [
                            np.full(len(accts), R_PROFILE),
                            np.where(srng.random(len(accts)) < 0.7, R_TX, -2),
                            np.where(srng.random(len(accts)) < 0.35, R_ID, -2),
                            np.where(srng.random(len(accts)) < 0.2, R_BAL, -2),
                        ],
                        1,
                    )
                    cu = np.repeat(accts, 4)
                    rr = per.ravel()
                    keep = rr != -2
                    cu, rr = cu[keep], rr[keep]
                    st = cal.b1s[a, d] + srng.uniform(20, 120)
                    dur = srng.uniform(180, 360)
                    mn = st + np.sort(srng.random(len(cu))) * dur
                    tt = mids[ag.site[a], d + 1] + (mn * 60_000).astype(np.int64)
                    tkk = np.where(srng.random(len(cu)) < 0.75, TK_FRD * TKM + fnum, -1)
                    ev.add(src_id, sd=d, t=tt, ag=np.full(len(cu), a), cu=cu, act=np.zeros(len(cu), np.int8), tk=tkk, rs=rr, vpn=np.full(len(cu), cal.wfh[a, d]))
                    src_id += 1
        src_id = (src_id // 1000 + 1) * 1000
    return ev, own_tickets


# --------------------------------------------------------------------------- insiders

SCENARIO_BASE = [
    ("bulk", 1),
    ("drip", 2),
    ("ring", 1),
    ("covered", 1),
    ("targeted", 1),
    ("off_hours", 1),
    ("new_hire", 1),
    ("enumeration", 1),
    ("fake_tickets", 1),
    ("ramp", 1),
    ("mimic", 1),
    ("decoy", 1),
]


def choose_insiders(seed, org, cal, D):
    """Pick insiders and their harvesting windows (independent of the benign draws)."""
    rng = np.random.default_rng([seed, 4])
    ag, teams = org.ag, org.teams
    n = org.n
    k = max(1.0, 0.6 * n / 300)
    used = np.zeros(n, bool)
    fn0 = teams.fn[ag.team0]
    stable = (ag.kind == 0) & ~org.moved & ~org.promoted & ~np.isin(np.arange(n), cal.project) & (cal.shift_change < 0)
    lo = max(6, int(round(0.2 * D)))
    hi = max(lo + 1, int(round(0.6 * D)))
    out = []

    def start_for(a, lo_=None, hi_=None, min_hist=6, earliest=False):
        lo_ = lo if lo_ is None else lo_
        hi_ = hi if hi_ is None else hi_
        w = np.flatnonzero(cal.works[a])
        hist_ok = [x for x in w if lo_ <= x <= hi_ and (cal.works[a, :x].sum() >= min_hist) and ag.end_idx[a] > x + 5]
        if not hist_ok:
            return None
        if earliest:
            return int(hist_ok[0])
        return int(hist_ok[int(rng.integers(len(hist_ok)))])

    def pick(mask, **kw):
        cand = np.flatnonzero(mask & ~used)
        cand = cand[rng.permutation(len(cand))]
        for a in cand:
            s = start_for(a, **kw)
            if s is not None and ag.end_idx[a] > s + 5:
                used[a] = True
                return int(a), s
        return None, None

    def add(a, scen, s, e=None, **p):
        e = min(D - 1, ag.end_idx[a]) if e is None else min(e, D - 1, ag.end_idx[a])
        out.append(dict(agent=a, scenario=scen, s=s, e=e, **p))

    vendor_site = ag.site != LIS
    lead_any = ag.lead0
    dayshift = teams.start[ag.team0] < 1000
    for scen, base in SCENARIO_BASE:
        cnt = max(base, int(round(base * k)))
        for c in range(cnt):
            if scen == "bulk":
                a, s = pick(stable & vendor_site & np.isin(fn0, [CHAT, VOICE]) & ~lead_any)
                if a is not None:
                    e = s + int(rng.integers(10, 21)) if rng.random() < 0.5 else None
                    add(a, scen, s, e, lo_n=150, hi_n=220)
            elif scen == "drip":
                low = c % 2 == 0
                a, s = pick(stable & vendor_site & (fn0 == (CHAT if low else VOICE)) & ~lead_any, lo_=lo, hi_=max(lo + 1, int(round(0.4 * D))))
                if a is not None:
                    add(a, scen, s, None, lo_n=8 if low else 10, hi_n=12 if low else 15, style="own" if low else "phone")
            elif scen == "ring":
                tlist = [t for t in range(org.T) if teams.fn[t] in (CHAT, SEC, VOICE) and teams.site[t] not in (LIS, PNQ)]
                tlist = [tlist[i] for i in rng.permutation(len(tlist))]
                for t in tlist:
                    mem = np.flatnonzero((ag.team0 == t) & stable & ~used)
                    leads = mem[ag.lead0[mem]]
                    agents_ = mem[~ag.lead0[mem]]
                    size = 3 if k < 2 else int(rng.integers(3, 5))
                    if len(leads) == 0 or len(agents_) < size:
                        continue
                    shuffled = [int(x) for x in rng.permutation(agents_)]
                    s0 = start_for(shuffled[0], lo_=lo, hi_=max(lo + 1, int(0.45 * D)))
                    if s0 is None:
                        continue
                    # recruited one after another: two agents, the team lead, then the rest
                    slots = ["agent", "agent", "lead"] + ["agent"] * (size - 2)
                    spare = shuffled[1:]
                    s, first = s0, True
                    for slot in slots:
                        tries = [int(leads[0])] if slot == "lead" else list(spare)
                        for a in tries:
                            ss = s0 if first else start_for(a, lo_=s, hi_=min(D - 3, s + 10), min_hist=3, earliest=True)
                            if first:
                                a = shuffled[0]
                            if ss is None:
                                continue
                            used[a] = True
                            if a in spare:
                                spare.remove(a)
                            add(int(a), scen, ss, None, lo_n=40, hi_n=80, ring=t)
                            s = ss + int(rng.integers(3, 7))
                            first = False
                            break
                    break
            elif scen == "covered":
                a, s = pick(stable & np.isin(fn0, [TIER2, CHAT]) & ~lead_any)
                if a is not None:
                    add(a, scen, s, None, lo_n=85, hi_n=115)
            elif scen == "targeted":
                a, s = pick(stable & np.isin(fn0, [SOCIAL, TIER2, VOICE]) & ~lead_any)
                if a is not None:
                    add(a, scen, s, None, lo_n=25, hi_n=35)
            elif scen == "off_hours":
                a, s = pick(stable & np.isin(fn0, [CHAT, VOICE, SEC, RECOV]) & dayshift & ~cal.parttime & (teams.pattern[ag.team0] == 0) & ~lead_any)
                if a is not None:
                    add(a, scen, s, None, lo_n=60, hi_n=100)
            elif scen == "new_hire":
                cand = np.flatnonzero(np.isin(ag.kind, [1, 3]) & ~used & (ag.start_idx < D - 4))
                if len(cand):
                    a = int(cand[int(rng.integers(len(cand)))])
                    w = np.flatnonzero(cal.works[a])
                    if len(w) > 1:
                        used[a] = True
                        add(a, scen, int(w[min(1, len(w) - 1)]), None, lo_n=60, hi_n=120)
            elif scen == "enumeration":
                a, s = pick(stable & np.isin(fn0, [CHAT, SEC]) & ~lead_any)
                if a is not None:
                    add(a, scen, s, None, lo_n=75, hi_n=90)
            elif scen == "fake_tickets":
                a, s = pick(stable & np.isin(fn0, [CHAT, SEC]) & ~lead_any)
                if a is not None:
                    add(a, scen, s, None, lo_n=40, hi_n=60)
            elif scen == "ramp":
                a, s = pick(stable & np.isin(fn0, FRONTLINE) & ~lead_any, lo_=lo, hi_=max(lo + 1, int(round(0.35 * D))))
                if a is not None:
                    add(a, scen, s, None, lo_n=2, hi_n=3)
            elif scen == "mimic":
                a, s = pick(stable & (fn0 == RECOV) & ~lead_any)
                if a is not None:
                    add(a, scen, s, None, lo_n=90, hi_n=120)
            elif scen == "decoy":
                a, s = pick(stable & vendor_site & np.isin(fn0, [CHAT, VOICE, SEC]) & ~lead_any)
                if a is None:
                    continue
                mates = np.flatnonzero(stable & ~used & (ag.site == ag.site[a]) & ~lead_any & np.isin(fn0, [CHAT, VOICE, SEC]))
                mates = [m for m in mates[rng.permutation(len(mates))] if cal.works[m, s:].sum() >= 3]
                if not mates:
                    continue
                b = int(mates[0])
                used[b] = True
                add(a, "shielded", s, None, lo_n=40, hi_n=60)
                both = np.flatnonzero(cal.works[a] & cal.works[b] & (np.arange(D) >= s))
                nights = sorted(int(x) for x in rng.choice(both, min(len(both), 3), replace=False)) if len(both) else []
                out[-1]["spikes"] = nights
                if nights:
                    add(b, "decoy", nights[0], nights[-1], lo_n=300, hi_n=450, nights=nights)
    return out


def harvest_times(rng, cal, a, d, n, mode):
    """Local minutes (float) of n harvesting accesses."""
    b1s, b1l, b2s, b2l = cal.b1s[a, d], cal.b1l[a, d], cal.b2s[a, d], cal.b2l[a, d]
    if mode == "after":
        end = (b2s + b2l) if b2l > 0 else (b1s + b1l)
        st = end + rng.uniform(20, 90)
        dur = rng.uniform(90, 210)
        return st + np.sort(rng.random(n)) * dur
    if mode == "spike":
        st = minutes_in_blocks(rng.uniform(0.1, 0.8), b1s, b1l, b2s, b2l)
        return st + np.cumsum(rng.uniform(6, 14, n)) / 60.0
    if mode == "spread":
        return np.sort(minutes_in_blocks(rng.random(n), b1s, b1l, b2s, b2l))
    # bursts: a few records photographed at a time between genuine contacts
    nb = max(1, n // int(rng.integers(6, 16)))
    starts = np.sort(minutes_in_blocks(rng.random(nb), b1s, b1l, b2s, b2l))
    which = np.sort(rng.integers(0, nb, n))
    first = np.ones(n, bool)
    first[1:] = which[1:] != which[:-1]
    g = rng.uniform(8, 25, n)
    g[first] = 0
    return starts[which] + group_cumsum(g, first) / 60.0


def own_ticket_at(own, a, d, minutes, rng):
    x = own.get((a, d))
    if x is None or len(x[0]) == 0:
        return np.full(len(minutes), -1, np.int64)
    tm, tk = x
    i = np.searchsorted(tm, minutes, "right") - 1
    i = np.where(i < 0, 0, i)
    # now and then the ticket opened a little earlier
    i = np.maximum(0, i - (rng.random(len(i)) < 0.2) * rng.integers(0, 3, len(i)))
    return tk[i]


def gen_insiders(seed, org, cal, C, D, mids, plan, own):
    rng = np.random.default_rng([seed, 5])
    ag = org.ag
    ev = Events()
    fake_taken = {}
    src = 9_000_000
    ring_targets = {}
    for p in plan:
        a = p["agent"]
        site = ag.site[a]
        scen = p["scenario"]
        days = [d for d in range(p["s"], p["e"] + 1) if cal.works[a, d]]
        if scen == "decoy":
            days = [d for d in p["nights"] if cal.works[a, d]]
        for j, d in enumerate(days):
            lo_n, hi_n = p["lo_n"], p["hi_n"]
            n = int(rng.integers(lo_n, hi_n + 1))
            mode = "bursts"
            res_mix = np.array([0.35, 0.40, 0, 0, 0.25, 0])
            tkmode = "none"
            blk, vpn = 0, bool(cal.wfh[a, d])
            per_cust = 1.35
            searches = 0.0
            if scen == "bulk":
                tkmode = "own30"
                res_mix = np.array([0.35, 0.45, 0, 0, 0.20, 0])
            elif scen == "drip":
                mode = "spread"
                if p["style"] == "own":
                    tkmode, per_cust = "own50", 1.2
                    res_mix = np.array([0.35, 0.30, 0.15, 0, 0.20, 0])
                else:
                    searches, per_cust = 0.45, 1.0
                    res_mix = np.array([0.45, 0.25, 0.15, 0.0, 0.15, 0])
            elif scen == "ring":
                tkmode = "own50"
                res_mix = np.array([0.30, 0.45, 0, 0, 0.25, 0])
            elif scen == "covered":
                tkmode, mode, per_cust = "own", "spread", 1.1
                res_mix = np.array([0.35, 0.30, 0.15, 0, 0.20, 0])
            elif scen == "targeted":
                tkmode, mode, per_cust, searches = "own50", "spread", 2.0, 0.4
                res_mix = np.array([0, 0, 0.5, 0.5, 0, 0])
            elif scen == "off_hours":
                mode, blk, vpn = "after", 2, True
                res_mix = np.array([0.30, 0.35, 0.15, 0, 0.20, 0])
            elif scen == "new_hire":
                tkmode = "own50"
            elif scen == "enumeration":
                tkmode = "own40"
            elif scen == "fake_tickets":
                tkmode, mode = "fake", "spread"
            elif scen == "ramp":
                n = int(2 + round(j * rng.uniform(2.0, 3.0)) + rng.integers(-1, 2))
                n = max(1, n)
                tkmode, mode, per_cust = "own60", "spread", 1.2
                res_mix = np.array([0.35, 0.30, 0.15, 0, 0.20, 0])
            elif scen == "mimic":
                tkmode, mode, per_cust = "batch", "spread", 2.2
                res_mix = np.array([0.22, 0, 0.30, 0.26, 0.22, 0])
            elif scen == "shielded":
                tkmode, per_cust = "own70", 1.3
                if d in p.get("spikes", []):
                    n = int(rng.integers(110, 151))
            elif scen == "decoy":
                mode = "spike"
                res_mix = np.array([0.4, 0.6, 0, 0, 0, 0])
                per_cust = 1.0
            # customers
            if scen == "enumeration":
                cu = []
                while sum(len(x) for x in cu) < n:
                    L = int(rng.integers(12, 26))
                    st = int(rng.integers(0, C.M - 2 * L))
                    stride = 1 if rng.random() < 0.7 else 2
                    cu.append(st + stride * np.arange(L))
                cu = np.concatenate(cu)[:n]
                cu_ev = cu
                rs = cat_sample(rng, np.tile(np.cumsum([0.6, 0.25, 0, 0, 0.15, 0]), (n, 1)))
                chunk_start = np.r_[True, np.abs(np.diff(cu)) > 2]
            elif scen == "fake_tickets":
                ncu = n
                cu = rng.integers(0, C.M, ncu)
                parts = [np.full(ncu, R_TICKET), np.full(ncu, R_PROFILE), np.where(rng.random(ncu) < 0.8, R_ID, -2), np.where(rng.random(ncu) < 0.5, -3, -2)]  # -3: a note
                per = np.stack(parts, 1)
                cu_ev = np.repeat(cu, 4)
                rs = per.ravel()
                keep = rs != -2
                cu_ev, rs = cu_ev[keep], rs[keep]
            else:
                ncu = max(1, int(round(n / per_cust)))
                if scen == "targeted" and len(C.hv_ids):
                    cu = C.hv_ids[rng.integers(0, len(C.hv_ids), ncu)]
                elif scen == "ring":
                    # the ring works through one shared list, each member their own slice
                    key = p["ring"]
                    if key not in ring_targets:
                        ring_targets[key] = np.random.default_rng([seed, 77, key]).permutation(C.M)
                    lst = ring_targets[key]
                    off = (hash_small(a) * 7919 + d * 104729) % (len(lst) - ncu)
                    cu = lst[off : off + ncu]
                else:
                    cu = rng.integers(0, C.M, ncu)
                reps = np.ones(ncu, int)
                extra = n - ncu
                if extra > 0:
                    reps += np.bincount(rng.integers(0, ncu, extra), minlength=ncu)
                cu_ev = np.repeat(cu, reps)
                cu_ev = cu_ev[:n] if len(cu_ev) > n else cu_ev
                rs = cat_sample(rng, np.tile(np.cumsum(res_mix), (len(cu_ev), 1)))
            m = len(cu_ev)
            actn = np.zeros(m, np.int8)
            if scen == "fake_tickets":
                actn[rs == -3] = A_NOTE
                rs = np.where(rs == -3, R_TICKET, rs)
            # searches before some customers (phone-style look-ups)
            if searches > 0 or scen == "enumeration":
                if scen == "enumeration":
                    sflag = chunk_start
                else:
                    fst = np.r_[True, cu_ev[1:] != cu_ev[:-1]]
                    sflag = fst & (rng.random(m) < searches)
                idx = np.repeat(np.arange(m), 1 + sflag)
                is_s = np.zeros(len(idx), bool)
                is_s[np.flatnonzero(np.r_[True, idx[1:] != idx[:-1]] & sflag[idx])] = True
                cu_ev, rs, actn = cu_ev[idx], np.where(is_s, -1, rs[idx]), np.where(is_s, A_SEARCH, actn[idx]).astype(np.int8)
                m = len(cu_ev)
            mins = harvest_times(rng, cal, a, d, m, mode)
            # tickets
            if tkmode == "none":
                tk = np.full(m, -1, np.int64)
            elif tkmode == "own":
                tk = own_ticket_at(own, a, d, mins, rng)
            elif tkmode.startswith("own"):
                share = int(tkmode[3:]) / 100
                tk = own_ticket_at(own, a, d, mins, rng)
                cust_flag = rng.random(m) < share
                tk = np.where(cust_flag, tk, -1)
            elif tkmode == "batch":
                tk = np.full(m, TK_CMP * TKM + 20000 + d * 500 + org.team_day[a, d], np.int64)
            elif tkmode == "fake":
                # genuine-looking ticket numbers: free numbers of the day's own range
                newc = np.r_[True, cu_ev[1:] != cu_ev[:-1]]
                used = own["numbers"].get(d, np.zeros(0, np.int64))
                if len(used) < 2:
                    used = np.array([TK_OLD * TKM + 4_300_000, TK_OLD * TKM + 4_300_500])
                free = np.setdiff1d(np.arange(used.min(), used.max() + 1), used)
                free = np.setdiff1d(free, fake_taken.get(d, np.zeros(0, np.int64)))
                k_new = int(newc.sum())
                pickn = np.sort(rng.choice(free, min(k_new, len(free)), replace=False))
                if len(pickn) < k_new:
                    pickn = np.r_[pickn, used.max() + 1 + np.arange(k_new - len(pickn))]
                fake_taken[d] = np.r_[fake_taken.get(d, np.zeros(0, np.int64)), pickn]
                tk = pickn[np.cumsum(newc) - 1]
            t = mids[site, d + 1] + (mins * 60_000).astype(np.int64) + rng.integers(0, 1000, m)
            ev.add(src, sd=d, t=t, ag=np.full(m, a), cu=cu_ev.astype(np.int64), act=actn, tk=tk, rs=rs, blk=np.full(m, blk), vpn=np.full(m, vpn))
            src += 1
    return ev


def hash_small(a):
    return int(mix64(np.array([a], np.uint64))[0] % np.uint64(1_000_003))


# --------------------------------------------------------------------------- output


def write_events(path, E, org, C, seed, start, D, cal):
    n = len(E["t"])
    rng = np.random.default_rng([seed, 6])
    ag = org.ag
    site = ag.site[E["ag"]]
    # ticketing migration weekend: the audit log lost ticket links for ~33 hours
    mig_s = int(dt.datetime.combine(start + dt.timedelta(days=cal.ev.mig_sat), dt.time(18, 0), dt.UTC).timestamp() * 1000)
    mig_e = mig_s + 33 * 3600 * 1000
    tk = np.where((E["t"] >= mig_s) & (E["t"] < mig_e), -1, E["tk"])
    # delivery order: mostly by time, some rows late by minutes, one site-hour block a day late
    emit = E["t"].copy()
    late = rng.random(n) < 0.012
    emit[late] += rng.integers(60_000, 1_800_000, late.sum())
    lb_day = int(round(0.4 * D))
    lb_s = int(dt.datetime.combine(start + dt.timedelta(days=lb_day), dt.time(9, 0), dt.UTC).timestamp() * 1000)
    blockm = (site == CAI) & (E["t"] >= lb_s) & (E["t"] < lb_s + 2 * 3600_000)
    emit[blockm] += 20 * 3600_000
    order = np.lexsort((E["uid"], emit))
    # exact duplicate rows (exporter retries)
    dup = rng.random(n) < 0.003
    rows = np.repeat(order, 1 + dup[order])
    eid_all = mix64(E["uid"] ^ np.uint64(seed * 0x5851F42D4C957F2D % (2**64)))
    # one login session per agent, shift day and block (split shifts, off-hours, days off)
    sess_key = E["ag"].astype(np.uint64) * np.uint64(100_003) + E["sd"].astype(np.uint64) * np.uint64(17) + E["blk"].astype(np.uint64) + np.uint64(seed) * np.uint64(0x100000001B3)
    cust_str_base = CUST_BASE
    tiers = np.where(C.hv, 1, 0).astype(np.int8)
    header = b"timestamp,agent_id,customer_id,action,ticket_id,resource,customer_tier,session_id,source_ip,event_id\n"
    agent_ids = pa.array(org.agent_ids)
    tier_names = pa.array(["standard", "high_value"])
    act_names = pa.array(ACTIONS)
    res_names = pa.array(RESOURCES + [None])
    kav = np.array([v == NEW_VENDOR for v in ag.vendor])
    host = (np.arange(org.n) % 200 + 20).astype(np.int64)
    subnet = (np.arange(org.n) // 200).astype(np.int64)
    opts = pacsv.WriteOptions(include_header=False, quoting_style="none")
    CH = 500_000
    with open(path, "wb") as raw:
        with gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=4, mtime=0) as gz:
            gz.write(header)
            for lo in range(0, len(rows), CH):
                r = rows[lo : lo + CH]
                t = E["t"][r]
                a = E["ag"][r]
                k = kav[a]
                tl = np.where(k, t + 19_800_000, t)
                ts = pc.strftime(pa.array(tl, type=pa.timestamp("ms")), format="%Y-%m-%dT%H:%M:%S")
                ts = pc.binary_join_element_wise(ts, pa.array(np.where(k, "+05:30", "Z")), "")
                cu = pc.cast(pa.array(E["cu"][r] + cust_str_base), pa.string())
                tkr = tk[r]
                kind = np.where(tkr >= 0, tkr // TKM, 0)
                num = np.where(tkr >= 0, tkr % TKM, 0)
                tks = pc.binary_join_element_wise(pc.take(pa.array(TK_PREFIX), pa.array(kind)), pc.cast(pa.array(num), pa.string()), "")
                tks = pc.if_else(pa.array(tkr >= 0), tks, pa.nulls(len(r), pa.string()))
                rs = E["rs"][r].astype(np.int64)
                rs = np.where(rs < 0, len(RESOURCES), rs)
                vpn = E["vpn"][r]
                s = site[r]
                o1 = np.where(vpn, 100, 10)
                o2 = np.where(vpn, 64 + (a % 60), 20 + s * 10 + subnet[a])
                o3 = np.where(vpn, (a * 7 + t // 3_600_000) % 250, host[a])
                o4 = np.where(vpn, (a * 13 + t // 86_400_000) % 250 + 2, (a % 9) * 25 + 5)
                ip = pc.binary_join_element_wise(*[pc.cast(pa.array(x.astype(np.int64)), pa.string()) for x in (o1, o2, o3, o4)], ".")
                sk = sess_key[r]
                tb = pa.table(
                    {
                        "timestamp": ts,
                        "agent_id": pc.take(agent_ids, pa.array(a)),
                        "customer_id": cu,
                        "action": pc.take(act_names, pa.array(E["act"][r].astype(np.int64))),
                        "ticket_id": tks,
                        "resource": pc.take(res_names, pa.array(rs)),
                        "customer_tier": pc.take(tier_names, pa.array(tiers[E["cu"][r]].astype(np.int64))),
                        "session_id": hex_strings(mix64(sk ^ np.uint64(0xA5A5A5A5)), b"s-", 14),
                        "source_ip": ip,
                        "event_id": hex_strings(eid_all[r], b"", 16),
                    }
                )
                sink = pa.BufferOutputStream()
                pacsv.write_csv(tb, sink, opts)
                gz.write(sink.getvalue().to_pybytes())
    return len(rows), int(dup.sum())


# --------------------------------------------------------------------------- main


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--agents", type=int, default=300)
    ap.add_argument("--days", type=int, default=45)
    ap.add_argument("--out", required=True)
    ap.add_argument("--start", default="2026-02-02")
    args = ap.parse_args(argv)
    t0 = time.time()
    N, D, seed = args.agents, args.days, args.seed
    if N < 40 or D < 10:
        raise SystemExit("need at least 40 agents and 10 days")
    start = dt.date.fromisoformat(args.start)
    os.makedirs(args.out, exist_ok=True)

    org = build_org(np.random.default_rng([seed, 1]), N, D, start)
    # agent ids: vendor prefix and a unique 5-digit number
    nums = np.random.default_rng([seed, 11]).choice(90_000, org.n, replace=False) + 10_000
    org.agent_ids = [f"{VENDOR_PREFIX[v]}{x}" for v, x in zip(org.ag.vendor, nums)]
    cal = build_calendar(np.random.default_rng([seed, 2]), org, D, start)
    C = build_customers(np.random.default_rng([seed, 3]), N)
    mids = site_midnights(start, D)
    plan = choose_insiders(seed, org, cal, D)
    ins_agents = sorted({p["agent"] for p in plan})
    log(f"org, calendar, customers: {time.time() - t0:.1f}s ({org.n} agents, {org.T} teams, {C.M} customers, {len(plan)} insiders)")

    benign, own = gen_benign(seed, org, cal, C, D, start, mids, ins_agents)
    log(f"benign work: {time.time() - t0:.1f}s")
    insiders = gen_insiders(seed, org, cal, C, D, mids, plan, own)
    allev = Events()
    allev.chunks = benign.chunks + insiders.chunks
    E = allev.concat()
    n_ins = sum(len(c["t"]) for c in insiders.chunks)
    log(f"{len(E['t'])} events ({n_ins} harvesting): {time.time() - t0:.1f}s")

    nrows, ndup = write_events(os.path.join(args.out, "events.csv.gz"), E, org, C, seed, start, D, cal)
    log(f"events.csv.gz: {nrows} rows ({ndup} duplicates): {time.time() - t0:.1f}s")

    # roster: the HR view at the end of the period
    ag = org.ag
    final_team = org.team_day[:, -1]
    final_lead = org.lead_day[:, -1]
    role = [("team_lead" if final_lead[i] else FN_ROLE[org.teams.fn[final_team[i]]]) for i in range(org.n)]
    sd = [(start + dt.timedelta(days=int(x))).isoformat() for x in ag.start_idx]
    ed = [(start + dt.timedelta(days=int(x))).isoformat() if x < D else "" for x in ag.end_idx]
    roster = pd.DataFrame(
        {
            "agent_id": org.agent_ids,
            "vendor": ag.vendor,
            "team": org.teams.name[final_team],
            "site": [SITES[s] for s in ag.site],
            "role": role,
            "start_date": sd,
            "end_date": ed,
            "timezone": [SITE_TZ[s] for s in ag.site],
        }
    ).sort_values("agent_id", kind="stable")
    roster.to_csv(os.path.join(args.out, "roster.csv"), index=False, lineterminator="\n")

    # labels from the harvesting events themselves (UTC days)
    rows = []
    for c in insiders.chunks:
        rows.append(pd.DataFrame({"ag": c["ag"], "t": c["t"]}))
    H = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame({"ag": [], "t": []})
    H["day"] = pd.to_datetime(H["t"], unit="ms", utc=True).dt.strftime("%Y-%m-%d")
    scen = {p["agent"]: p["scenario"] for p in plan}
    ld = H.groupby(["ag", "day"]).size().rename("exfil_events").reset_index()
    ld["agent_id"] = [org.agent_ids[i] for i in ld["ag"]]
    ld = ld.sort_values(["agent_id", "day"], kind="stable")
    ld[["agent_id", "day", "exfil_events"]].to_csv(os.path.join(args.out, "label_days.csv"), index=False, lineterminator="\n")
    role_of = dict(zip(roster["agent_id"], roster["role"]))
    lab = ld.groupby("agent_id").agg(start_day=("day", "min"), end_day=("day", "max"))
    lab = lab.reset_index()
    aid2i = {x: i for i, x in enumerate(org.agent_ids)}
    lab["scenario"] = [scen[aid2i[x]] for x in lab["agent_id"]]
    lab["role"] = [role_of[x] for x in lab["agent_id"]]
    lab = lab.sort_values(["scenario", "start_day", "agent_id"], kind="stable")
    lab[["agent_id", "scenario", "role", "start_day", "end_day"]].to_csv(os.path.join(args.out, "labels.csv"), index=False, lineterminator="\n")
    log(f"done in {time.time() - t0:.1f}s: {len(lab)} insiders ({lab['scenario'].value_counts().sort_index().to_dict()})")


if __name__ == "__main__":
    main()
