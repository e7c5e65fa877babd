"""Features of one scored day: each agent against their own lagged baseline and against their
peers that same day.

Why these. Harvesting shows in two ways. Volume: more record views and more distinct
customers than the person's own normal. Composition: a larger part of the day's views being
of the kinds that matter (no ticket, customers unrelated to the ticket used, identity
documents, addresses, high-value balances, consecutive ids, outside the day's working
block). Composition is judged against what the person's own volume that day would lead one
to expect, so a heavy but ordinary day (covering for a colleague, a market-crash day) moves
the volume features only, and a heavy worker is not suspicious for being heavy.

The reference is the agent's own lagged past when there is enough of it, else people doing
the same job that day (a new hire leans on peers). What a team or role shows together on a
day (a queue's backlog week, a desk-wide busy day) is taken out of each person's deviation;
what a kind of work does normally (KYC opens many id documents) is taken out by comparing
with the people who do that work: the roster role, refined by what each agent's own past
shows (a coarse roster calls KYC reviewers and phone staff alike "agent").

Pure: agent-day frames in, a feature frame out. No I/O.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

import numpy as np
import pandas as pd

from detector import evidence
from detector import schema as s
from detector.aggregate import DAY, outside_shift_events
from detector.days import shift_day
from detector.history import baseline_window
from detector.metrics import METRIC_TABLE
from detector.novelty import NOVELTY_COUNTS

#: volume measures: compared directly with their reference
VOLUME_METRICS: dict[str, str] = {m.name: m.meaning for m in METRIC_TABLE if m.part_of is None}
#: composition measures and the volume they are a part of
COMPOSITION_METRICS: dict[str, tuple[str, str]] = {m.name: (m.part_of, m.meaning) for m in METRIC_TABLE if m.part_of is not None}
METRICS: dict[str, str] = {m.name: m.meaning for m in METRIC_TABLE}
#: how a metric's kind of work reads in a peer group's name
METRIC_PHRASES: dict[str, str] = {m.name: m.phrase for m in METRIC_TABLE}
#: metrics that ordinary busy work does not drive up, only harvesting
HARVEST_METRICS = tuple(m.name for m in METRIC_TABLE if m.harvest)
#: feature families, for ablation (``leave_out``); "persistence" is the evidence accumulated
#: over days (:mod:`detector.evidence`)
FAMILIES: dict[str, tuple[str, ...]] = {
    **{family: tuple(m.name for m in METRIC_TABLE if m.family == family) for family in dict.fromkeys(m.family for m in METRIC_TABLE)},
    "persistence": ("persistence",),
}
#: counts added to numerator and denominator of every ratio, so that going from 0 to 2
#: of something rare is not an anomaly
PSEUDO_COUNT = 5.0
UNKNOWN = s.UNKNOWN
#: smallest spread (log units) a z-score divides by
MIN_SPREAD = 0.1


@dataclass(frozen=True)
class FeatureSettings:
    """How baselines and peers are formed.

    window : days in the personal baseline window
    lag : days between the end of that window and the scored day, so that a ramp of a few
        days cannot pull its own baseline up
    min_history : active days an agent needs in the window for a personal baseline; with
        fewer, only peer comparisons count (a new hire leans on peers)
    min_team : active team members needed the same day to use the team as the reference
        for a shared rise; with fewer the role is used
    novelty_window : days before the scored day over which a customer counts as already
        touched (by the agent, or by anyone in their team) for the first-time-seen counts
    leave_out : feature families (:data:`FAMILIES`) or metrics kept out of the model, for
        ablation: what detection loses without them. They are still computed and explained.
    baseline_skip_above : when above 0, an agent's days that scored at least this much are
        left out of their own baseline (:func:`detector.history.personal_baseline`), so a harvest that goes on
        for weeks does not become the agent's normal; 0 keeps every day
    windows : the multi-day windows (calendar days, today included) over which an excess is
        accumulated (:mod:`detector.evidence`); empty: none
    reference_days : the days just before each window that form its reference
    freeze_above : an agent-day whose accumulated evidence (``accum__max``) reached this is
        left out of the agent's baseline and of every later reference, so a sustained rise is
        compared with the quiet period before it; 0 keeps every day
    """

    window: int = 28
    lag: int = 7
    min_history: int = 5
    min_team: int = 4
    novelty_window: int = 28
    leave_out: tuple = ()
    baseline_skip_above: float = 0.0
    windows: tuple = (3, 7, 14)
    reference_days: int = 28
    freeze_above: float = 4.0

    def left_out(self) -> set[str]:
        """The metrics (and ``persistence``) named by ``leave_out``."""
        out: set[str] = set()
        for name in self.leave_out:
            out.update(FAMILIES.get(name, (name,)))
        return out


def with_metrics(agent_days: pd.DataFrame) -> pd.DataFrame:
    """Agent-days with outside_shift_events, computed from the hour columns when the frame
    does not carry it already, and the first-time-seen counts (NaN: not computed, which
    counts as no excess) when it lacks them."""
    missing = [c for c in NOVELTY_COUNTS if c not in agent_days]
    if "outside_shift_events" in agent_days and not missing:
        return agent_days
    out = agent_days.copy()
    if "outside_shift_events" not in out:
        out["outside_shift_events"] = outside_shift_events(out) if len(out) else pd.Series(dtype="int64")
    for c in missing:
        out[c] = np.nan
    return out


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


def shared_groups(frame: pd.DataFrame, settings: FeatureSettings) -> np.ndarray:
    """The group each agent of a day (``frame``: agent_id, team, role, and ``peer_group``
    when known) shares a rise with: their team when at least ``min_team`` of it are active
    that day, else the people who do the same work (:func:`work_groups`; else their role)."""
    team_size = frame.groupby(s.TEAM)[s.AGENT_ID].transform("size").to_numpy()
    use_team = (team_size >= settings.min_team) & (frame[s.TEAM] != UNKNOWN).to_numpy()
    peers = frame[PEER_GROUP] if PEER_GROUP in frame else frame[s.ROLE]
    return np.where(use_team, frame[s.TEAM], "role:" + peers)


#: the features' column naming each agent's peers: their roster role, refined by the kind of
#: work their own past shows (:func:`work_groups`)
PEER_GROUP = "peer_group"
#: days of the baseline window from which an agent's kind of work counts as known (fewer:
#: their roster role alone). A share pooled over a few days is steadier than the day-to-day
#: spread a personal baseline needs, hence fewer than ``min_history``.
PROFILE_DAYS = 3
#: the kinds of work agents are grouped by: what the records their job needs are, and how
#: much of it has no ticket (phone duty). Never the signs that only harvesting drives up
#: (customers unrelated to the ticket, runs of consecutive ids, hours, exports).
PROFILE_METRICS = ("ticketless_views", "id_document_views", "address_views", "financial_views", "high_value_views")
#: a specialty: a share of at least this many times the role's median share ...
SPECIALTY_RATIO = 2.0
#: ... and at least this much above it
SPECIALTY_MARGIN = 0.05
#: the strongest specialties that name a group (more would split a desk into crumbs)
MAX_SPECIALTIES = 2
#: separates the roster role from the specialties in a peer group's key
SPECIALTY_MARK = " | "


def work_groups(hist: pd.DataFrame, frame: pd.DataFrame, settings: FeatureSettings) -> np.ndarray:
    """Each of today's agents' peers (``frame``: agent_id, role): people who do the same work.

    A roster's roles are often coarse ("agent" for KYC reviewers, dispute handlers and phone
    staff alike), and a role's median is then nobody's normal. An agent whose past days
    (``hist``, the baseline window: frozen and alerted days are already out of it, so a
    harvest does not define anyone's work) give some kind of record or ticketless work a
    share of at least :data:`SPECIALTY_RATIO` times their role's median share is a specialist
    in it; the specialists of a role with the same (up to :data:`MAX_SPECIALTIES` strongest)
    specialties are each other's peers, when at least ``min_team`` of them work that day.
    A new hire (too few days to know their work) does the work of the team they joined:
    the peers of most of its known members of the same role. Everyone else (a lone
    specialist) is compared with the role's generalists. The key reads ``role | id_document_views+ticketless_views`` (:func:`peer_words`).

    A harvester cannot make themselves a group: they would need ``min_team`` others with the
    same specialties, and a harvester who copies a group's work is then compared with what
    that group does, on volume and on every sign the grouping does not use."""
    roles = frame[s.ROLE].to_numpy(dtype=object)
    if not len(hist) or not len(frame):
        return roles
    metrics = [m for m in PROFILE_METRICS if m in hist]
    volumes = sorted({COMPOSITION_METRICS[m][0] for m in metrics})
    sums = hist.groupby(s.AGENT_ID)[metrics + volumes].sum()
    days = hist.groupby(s.AGENT_ID).size()
    at = sums.index.get_indexer(frame[s.AGENT_ID].to_numpy())
    known = at >= 0
    known[known] = days.to_numpy()[at[known]] >= PROFILE_DAYS
    if not known.any():
        return roles
    ratios = np.zeros((len(frame), len(metrics)))
    for j, m in enumerate(metrics):
        share = sums[m].to_numpy(float) / np.maximum(sums[COMPOSITION_METRICS[m][0]].to_numpy(float), 1.0)
        mine = np.where(known, share[np.maximum(at, 0)], np.nan)
        role_med = pd.Series(mine).groupby(roles).transform("median").to_numpy(float)
        special = known & (mine >= SPECIALTY_RATIO * role_med) & (mine >= role_med + SPECIALTY_MARGIN)
        ratios[:, j] = np.where(special, mine / np.maximum(role_med, 1e-3), 0.0)
    keys = roles.copy()
    for i in np.flatnonzero((ratios > 0).any(axis=1)):
        top = [metrics[j] for j in np.argsort(-ratios[i])[:MAX_SPECIALTIES] if ratios[i, j] > 0]
        keys[i] = f"{roles[i]}{SPECIALTY_MARK}{'+'.join(sorted(top))}"
    if s.TEAM in frame and not known.all():
        # a new hire does the work of the team they joined: the work most of its known
        # members (of the same role) do, when they are at least two
        teams = frame[s.TEAM].to_numpy(dtype=object)
        mates = pd.DataFrame({"team": teams[known], "role": roles[known], "key": keys[known]})
        mates = mates[mates["team"] != UNKNOWN]
        if len(mates):
            counts = mates.groupby(["team", "role", "key"]).size().rename("n").reset_index()
            totals = counts.groupby(["team", "role"])["n"].transform("sum")
            top = counts[(counts["n"] * 2 > totals) & (totals >= 2)].set_index(["team", "role"])["key"]
            unknown = np.flatnonzero(~known)
            inherited = top.reindex(pd.MultiIndex.from_arrays([teams[unknown], roles[unknown]])).to_numpy(dtype=object)
            found = pd.notna(inherited)
            keys[unknown[found]] = inherited[found]
    size = pd.Series(keys).groupby(keys).transform("size").to_numpy()
    return np.where(size >= settings.min_team, keys, roles)


def peer_words(key: str) -> str:
    """A peer group's key in words: "their role (agent)", or "agents of their role (agent)
    whose work is mostly identity documents and views without a ticket"."""
    role, _, specialties = str(key).partition(SPECIALTY_MARK)
    if role == UNKNOWN and not specialties:
        return "the desk"
    who = f"their role ({role})" if role != UNKNOWN else "the desk"
    if not specialties:
        return who
    kinds = " and ".join(METRIC_PHRASES.get(m, m) for m in specialties.split("+"))
    return f"the people of {who} whose work is also mostly {kinds}"


def _count_noise(count) -> np.ndarray:
    """Spread of log(count + PSEUDO_COUNT) that Poisson counting noise alone produces."""
    c = np.nan_to_num(np.asarray(count, float), nan=0.0).clip(min=0.0)
    return np.maximum(MIN_SPREAD, np.sqrt(c + 1.0) / (c + PSEUDO_COUNT))


#: records over the expected from which an excess counts in full (a smaller one in proportion)
MIN_EXCESS = 10.0


def _at_scale(z: np.ndarray, excess: np.ndarray) -> np.ndarray:
    """Positive ``z`` scaled down in proportion while ``excess`` is under :data:`MIN_EXCESS`
    records; negative and missing ones as they are."""
    weight = np.clip(np.asarray(excess, float) / MIN_EXCESS, 0.0, 1.0)
    return np.where(z > 0, z * weight, z)


def _log(x) -> np.ndarray:
    return np.log(np.asarray(x, float) + PSEUDO_COUNT)


def _group_median(values: np.ndarray, keys: np.ndarray) -> np.ndarray:
    return pd.Series(values).groupby(keys).transform("median").to_numpy()


def compute(
    history: pd.DataFrame,
    today: pd.DataFrame,
    *,
    day: str,
    roster: pd.DataFrame | None = None,
    settings: FeatureSettings = FeatureSettings(),
    columns: Collection[str] | None = None,
    rows: np.ndarray | None = None,
    work: np.ndarray | None = None,
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
        One row per agent active that day: ``day``, ``agent_id``, peer-group columns,
        ``history_days`` and, for each metric m in :data:`METRICS`:

        - ``m``: today's value; ``m__expected``: what the reference predicts for today
          (volume: the reference median; composition: the reference share times today's
          volume);
        - ``m__base``/``m__base_hi``: the agent's own median and 90th percentile over the
          baseline window (NaN without enough history);
        - ``m__team_med``/``m__team_p95``, ``m__role_med``/``m__role_p95``: peer bands today
          (``role``: the agent's ``peer_group``, their roster role refined by the kind of
          work they do, :func:`work_groups`);
        - ``m__own``: robust z of today against the agent's own past, less what the team
          shows together today (NaN without history); ``m__peer``: robust z against the
          role today; ``m__z``: the one the model sees (own if there is a past, else peer).

        Plus ``harvest__max`` and ``harvest__sum`` of the positive harvesting z's.

        ``columns``: only these of the columns above (the day, agent, peer-group and
        ``history_days`` columns always), the bands not asked for are not computed;
        ``rows``: only the agents at these positions of the day's agents (in the order of
        the agent-days; the peer bands and medians are still those of the whole day);
        ``work``: the day's peer groups as an earlier call gave them (``peer_group``, every
        agent of the day in that order), when ``history`` holds only some agents' past. A
        night of a million agents scores on :data:`SCORING_COLUMNS` and explains its
        alerted few in full (:func:`detector.scoring.score_day`).
    """
    today = with_metrics(today[today[DAY] == day] if len(today) else today).reset_index(drop=True)
    first, last = baseline_window(day, settings)
    hist = history[(history[DAY] >= first) & (history[DAY] < last)] if len(history) else history
    hist = with_metrics(hist).reset_index(drop=True)

    out = peer_groups(today[s.AGENT_ID], roster)
    out.insert(0, DAY, day)
    out[PEER_GROUP] = work_groups(hist, out, settings) if work is None else np.asarray(work, dtype=object)
    agents = out[s.AGENT_ID]
    active = hist.groupby(s.AGENT_ID).size() if len(hist) else pd.Series(dtype="int64")
    out["history_days"] = agents.map(active).fillna(0).astype("int64").to_numpy()
    enough = out["history_days"].to_numpy() >= settings.min_history
    shared_key = shared_groups(out, settings)
    role_key = out[PEER_GROUP].to_numpy()
    hist_agents = hist[s.AGENT_ID].to_numpy() if len(hist) else np.array([], dtype=object)
    # agents as integer codes once: every per-agent statistic below groups by them
    hist_code, code_agents = pd.factorize(hist_agents)
    today_code = pd.Index(code_agents).get_indexer(agents.to_numpy())
    n_codes = len(code_agents)

    def per_agent_median(values: np.ndarray) -> np.ndarray:
        return pd.Series(values).groupby(hist_code).median().reindex(range(n_codes)).to_numpy(float)

    def own_stats(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
        """Median and MAD over each agent's baseline days, aligned with today's agents."""
        if not len(hist):
            nan = np.full(len(out), np.nan)
            return nan, nan.copy()
        v = np.asarray(values, float)
        med = per_agent_median(v)
        mad = per_agent_median(np.abs(v - med[hist_code]))
        return to_today(med), to_today(mad)

    def to_today(per_code: np.ndarray) -> np.ndarray:
        """A per-agent-code array aligned with today's agents (NaN for agents with no past)."""
        return np.where(today_code >= 0, per_code[np.maximum(today_code, 0)], np.nan) if n_codes else np.full(len(out), np.nan)

    def to_history(per_today: np.ndarray) -> np.ndarray:
        """A today-aligned array spread onto the history rows of the same agents."""
        per_code = np.full(n_codes, np.nan)
        found = today_code >= 0
        per_code[today_code[found]] = per_today[found]
        return per_code[hist_code]

    wanted = None if columns is None else set(columns)
    cols: dict[str, np.ndarray] = {}

    def wants(name: str) -> bool:
        return wanted is None or name in wanted

    def put(name: str, values: np.ndarray) -> None:
        if wants(name):
            cols[name] = values if rows is None else np.asarray(values)[rows]

    harvest_wanted = wants("harvest__max") or wants("harvest__sum")
    harvest_z: dict[str, np.ndarray] = {}
    for m in METRICS:
        x = today[m].to_numpy(float)
        put(m, today[m].to_numpy())
        if wants(f"{m}__base"):
            base, _ = own_stats(hist[m].astype(float)) if len(hist) else own_stats(None)
            base[~enough] = np.nan
            put(f"{m}__base", base)
        if wants(f"{m}__base_hi"):
            base_hi = to_today(pd.Series(hist[m].to_numpy(float)).groupby(hist_code).quantile(0.9).reindex(range(n_codes)).to_numpy(float)) if len(hist) else np.full(len(out), np.nan)
            base_hi[~enough] = np.nan
            put(f"{m}__base_hi", base_hi)
        for group, name in ((s.TEAM, "team"), (PEER_GROUP, "role")):
            if wants(f"{m}__{name}_med") or wants(f"{m}__{name}_p95"):
                g = pd.Series(x).groupby(out[group].to_numpy())
                if wants(f"{m}__{name}_med"):
                    put(f"{m}__{name}_med", g.transform("median").to_numpy())
                if wants(f"{m}__{name}_p95"):
                    put(f"{m}__{name}_p95", g.transform("quantile", 0.95).to_numpy())
        if not (m in HARVEST_METRICS and harvest_wanted) and not any(wants(f"{m}__{k}") for k in ("expected", "own", "peer", "z")):
            continue

        if m in VOLUME_METRICS:
            # own: today's log volume against the agent's own past days
            own_med, own_mad = own_stats(pd.Series(_log(hist[m]))) if len(hist) else own_stats(None)
            own_dev = _log(x) - own_med
            own_expected = np.exp(own_med) - PSEUDO_COUNT
            peer_med = _group_median(_log(x), role_key)
            peer_dev = _log(x) - peer_med
            peer_expected = np.exp(peer_med) - PSEUDO_COUNT
        else:
            denom_name = COMPOSITION_METRICS[m][0]
            denom = today[denom_name].to_numpy(float)
            # own: the share of the day's volume this kind takes, against the agent's own past
            if len(hist):
                hist_share = pd.Series(hist[m].to_numpy(float) / np.maximum(hist[denom_name].to_numpy(float), 1.0))
                share_med, _ = own_stats(hist_share)
                # each past day's deviation from what that share predicted, for the spread
                past_expected = to_history(share_med) * hist[denom_name].to_numpy(float)
                past_dev = pd.Series(_log(hist[m]) - _log(past_expected))
                _, own_mad = own_stats(past_dev)
                own_med_dev, _ = own_stats(past_dev)
            else:
                share_med = own_mad = own_med_dev = np.full(len(out), np.nan)
            own_expected = share_med * denom
            own_dev = _log(x) - _log(own_expected) - np.nan_to_num(own_med_dev, nan=0.0)
            # peers: the role's median share today
            share_today = x / np.maximum(denom, 1.0)
            peer_share = _group_median(share_today, role_key)
            peer_expected = peer_share * denom
            peer_dev = _log(x) - _log(peer_expected)
        own_z = own_dev / np.maximum(1.4826 * own_mad, _count_noise(own_expected))
        own_z = own_z - np.nan_to_num(_group_median(own_z, shared_key), nan=0.0)
        peer_mad = _group_median(np.abs(peer_dev - _group_median(peer_dev, role_key)), role_key)
        peer_z = peer_dev / np.maximum(1.4826 * peer_mad, _count_noise(peer_expected))
        # a rise of a few records is not a harvest, however rare the kind: a positive z
        # counts in full only from MIN_EXCESS records over what was expected
        own_z = _at_scale(own_z, x - np.nan_to_num(own_expected, nan=0.0))
        peer_z = _at_scale(peer_z, x - np.nan_to_num(peer_expected, nan=0.0))
        own_z[~enough] = np.nan
        z = np.where(enough, own_z, peer_z)
        put(f"{m}__expected", np.where(enough, own_expected, peer_expected))
        put(f"{m}__own", own_z)
        put(f"{m}__peer", peer_z)
        put(f"{m}__z", z)
        if m in HARVEST_METRICS:
            harvest_z[m] = z

    # one axis for "the strongest harvesting sign", one for "how many signs at once": an
    # isolation forest splits one feature at a time, so a single extreme sign among many
    # quiet features is found faster along these
    if harvest_wanted:
        left_out = settings.left_out()
        harvesting = [np.clip(harvest_z[m], 0, None) for m in HARVEST_METRICS if m not in left_out]
        harvest = np.nan_to_num(np.column_stack(harvesting), nan=0.0) if harvesting else np.zeros((len(out), 1))
        del harvesting, harvest_z
        put("harvest__max", harvest.max(axis=1) if len(harvest) else np.zeros(0))
        put("harvest__sum", harvest.sum(axis=1) if len(harvest) else np.zeros(0))
    if rows is not None:
        out = out.iloc[rows].reset_index(drop=True)
    return pd.concat([out, _frame_of(cols, out.index)], axis=1)


def _frame_of(cols: dict[str, np.ndarray], index: pd.Index) -> pd.DataFrame:
    """``pd.DataFrame(cols)``, built without a second copy of the day's features: the columns
    of each dtype are moved one at a time into one block (emptying ``cols``), then put back in
    their order (a view). A day of a million agents holds its features once."""
    names = list(cols)
    dtypes = {n: np.asarray(v).dtype for n, v in cols.items()}
    parts = []
    for dtype in dict.fromkeys(dtypes.values()):
        group = [n for n in names if dtypes[n] == dtype]
        block = np.empty((len(group), len(index)), dtype)
        for j, n in enumerate(group):
            block[j] = cols.pop(n)
        parts.append(pd.DataFrame(block.T, columns=group, index=index, copy=False))
    return pd.concat(parts, axis=1)[names] if parts else pd.DataFrame(index=index)


def add_accumulation(
    features: pd.DataFrame,
    history: pd.DataFrame,
    today: pd.DataFrame,
    *,
    day: str,
    settings: FeatureSettings = FeatureSettings(),
    frozen: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Add the evidence accumulated over the last days (:func:`detector.evidence.accumulate`):
    ``m__acc`` per metric and the ``accum__*`` summary of the strongest harvesting one.

    ``history``: agent-days before ``day`` covering :func:`detector.evidence.span` days (not
    cut to the baseline window); ``frozen``: agent-days kept out of the references
    (:func:`detector.evidence.frozen_days`)."""
    left_out = settings.left_out()
    today = with_metrics(today[today[DAY] == day] if len(today) else today)
    at = pd.Index(today[s.AGENT_ID]).get_indexer(features[s.AGENT_ID])
    today = evidence.with_derived(today.iloc[at].reset_index(drop=True))
    first = shift_day(day, -(evidence.span(settings) - 1))
    hist = history[(history[DAY] >= first) & (history[DAY] < day)] if len(history) else history
    hist = evidence.with_derived(with_metrics(hist))
    metrics = {m: (COMPOSITION_METRICS[m][0] if m in COMPOSITION_METRICS else None) for m in METRICS if m not in CONTEXT_METRICS}
    summarise = () if "persistence" in left_out else tuple(m for m in HARVEST_METRICS if m not in left_out)
    for name, (volume, parts, _) in evidence.DERIVED.items():
        if summarise and not set(parts) & left_out:
            metrics[name] = volume
            summarise += (name,)
    acc = evidence.accumulate(
        hist,
        today,
        day=day,
        metrics=metrics,
        groups=shared_groups(features, settings),
        roles=features[PEER_GROUP if PEER_GROUP in features else s.ROLE].to_numpy(),
        settings=settings,
        summarise=summarise,
        frozen=frozen,
    )
    out = features.copy(deep=False)  # copy-on-write: the new columns do not touch ``features``
    for c in acc.columns:
        out[c] = acc[c].to_numpy()
    return out


#: metrics computed, stored and explained but not given to the model. First-time-seen
#: customers: on the simulated desks (new customers are most of any agent's day, harvested
#: ones a little more) they moved no insider's detection and made borderline ones rarer,
#: since every extra input dilutes an isolation forest's splits; see BENCHMARKS.md. They
#: are in every explanation and report, for the investigator.
CONTEXT_METRICS = ("new_customers", "team_new_customers")


def model_input_names(settings: FeatureSettings = FeatureSettings()) -> list[str]:
    """Names of the model's input columns, in order: one per metric, then the summaries
    (less what ``settings.leave_out`` names)."""
    left_out = settings.left_out()
    names = [f"{m}__z" for m in METRICS if m not in CONTEXT_METRICS and m not in left_out]
    if any(m not in left_out for m in HARVEST_METRICS):
        names += ["harvest__max", "harvest__sum"]
    if "persistence" not in left_out:
        names.append("accum__max")
    return names


def model_inputs(features: pd.DataFrame, settings: FeatureSettings = FeatureSettings()) -> pd.DataFrame:
    """The model's inputs: excesses only (a quiet day is not suspicious), missing values as
    no excess. ``accum__max`` comes from :func:`add_accumulation` (zero when not added)."""
    cols = model_input_names(settings)
    if "accum__max" not in features:
        features = features.assign(accum__max=0.0)
    return features[cols].astype(float).fillna(0.0).clip(lower=0.0)
