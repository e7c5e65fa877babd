"""The nightly run and the replay: ingest, aggregate, score, store.

A replay is the nightly logic for each day in turn (``NightScorer.score``), each day seeing only
the store's data before it: there is no second code path. This module owns all reading and
writing; the detector package computes.
"""

from __future__ import annotations

import contextlib
import logging
import platform
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from detector import __version__
from detector import schema as s
from detector.aggregate import DAY, Deduplicator, Touched
from detector.alerts import ALERT_FIELDS
from detector.cases import open_agents
from detector.config import Config
from detector.days import DayRange, days_between, shift_day
from detector.engines import day_aggregator, engine_version
from detector.engines.query import QUERY_ENGINES, open_source
from detector.engines.relational import REJECTS_SAMPLE, DayCount, DayEngine, account, count_day
from detector.engines.relational import evidence as query_evidence
from detector.errors import InsiderwatchError, UsageError
from detector.features import METRICS
from detector.history import DayView, day_view, span_days, suppressions_in_force, training_inputs
from detector.novelty import novelty_counts
from detector.scoring import ScoredDay, score_day
from detector.sources import FileStats
from detector.store import DayResults, Store, StoreBusy
from detector.store.results import as_stored
from pipelines.digests import run_digests
from pipelines.ingest import MAX_REJECTS_KEPT, IngestSummary, file_dict, read_inputs
from pipelines.progress import progress_bar
from pipelines.spill import DayEvents, Spill

log = logging.getLogger("insiderwatch.run")

#: the agent-day counts the features read from history (not the hour buckets)
HISTORY_COLUMNS = sorted({"events", "views", "customers", *METRICS})


@dataclass
class NightSummary:
    day: str
    agents: int
    events: int
    alerts: pd.DataFrame
    peer_mode: bool
    history_days: int
    scored_agents: list = field(default_factory=list)
    duplicates: int = 0
    conflicting_ids: int = 0
    conflicting_rows: int = 0
    conflict_agents: Counter = field(default_factory=Counter)


@dataclass
class RunSummary:
    run_id: int
    kind: str
    ingest: IngestSummary
    nights: list = field(default_factory=list)
    seconds: float = 0.0
    #: (day, run id) of the days this run scored again: the earlier run's results are archived
    replaced: list = field(default_factory=list)
    #: suppression id -> (agent, created_at, [days]) of the suppressions not applied to a day
    #: scored because they were created after it (the as-of rule)
    not_applied: dict = field(default_factory=dict)

    def _all_alerts(self) -> pd.DataFrame:
        frames = [n.alerts for n in self.nights if len(n.alerts)]
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()

    @property
    def alerts(self) -> pd.DataFrame:
        """The alerts raised (not those a suppression covered, nor the days kept on open cases)."""
        frame = self._all_alerts()
        if len(frame) and "suppressed_by" in frame:
            frame = frame[frame["suppressed_by"].isna() & ~frame["ongoing"].astype(bool)].reset_index(drop=True)
        return frame

    @property
    def ongoing(self) -> pd.DataFrame:
        """The days kept on open cases: agents whose case is open who stood out again, stored
        with reasons and evidence, not raised (the budget goes to new subjects)."""
        frame = self._all_alerts()
        return frame[frame["ongoing"].astype(bool) & frame["suppressed_by"].isna()].reset_index(drop=True) if len(frame) and "ongoing" in frame else pd.DataFrame()

    @property
    def suppressed(self) -> pd.DataFrame:
        """Alerts stored but not raised, because a suppression covered the agent."""
        frame = self._all_alerts()
        return frame[frame["suppressed_by"].notna()].reset_index(drop=True) if len(frame) and "suppressed_by" in frame else pd.DataFrame()


def library_versions() -> dict[str, str]:
    """The versions of the libraries that decide the scores, as run manifests record them."""
    import numpy
    import pyod
    import sklearn

    return {"pandas": pd.__version__, "numpy": numpy.__version__, "scikit-learn": sklearn.__version__, "pyod": pyod.__version__, "pyarrow": pa.__version__}


def _manifest(cfg: Config, ingest: IngestSummary, extra: dict, roster: pd.DataFrame | None = None, history: list | None = None) -> dict:
    return {
        "insiderwatch": __version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "versions": library_versions(),
        "inputs": [file_dict(f) for f in ingest.files],
        # a query engine's source as given (verify reads it again), else None
        "source": ingest.source,
        "rows": ingest.as_dict(),
        "model": {"name": cfg.model.name, "params": cfg.model.params, "seed": cfg.model.seed},
        # what counted the events into agent-days (verify recomputes with the same engine)
        "engine": {"name": cfg.engine.name, "version": engine_version(cfg.engine.name)},
        "roster": roster.attrs.get("source") if roster is not None else None,
        # the stored days (and the runs that wrote them) this run read as history
        "history": history or [],
        **extra,
    }


@dataclass
class QueryDay:
    """One day of a query engine's checked rows (:mod:`detector.engines.relational`),
    counted in the engine; only the counts and the flagged agents' evidence come back."""

    day: str
    table: object  # an Ibis table of the engine
    engine: DayEngine  # what holds the day's rows and runs the counts

    def count(self, timezones: dict[str, str]) -> tuple[DayCount, Callable[[set[str]], pd.DataFrame]]:
        return count_day(self.table, self.day, timezones, engine=self.engine), lambda agents: query_evidence(self.table, self.day, agents)


#: days of a window's start without stored results still read as a full history (a weekend
#: and a holiday without logs)
SHORT_SLACK_DAYS = 3


class NightScorer:
    """Scores one day after another against the store, keeping the history it needs in
    memory (loaded once, then extended by each day it scores). What each day sees is
    :mod:`detector.history`'s rule; this class only reads, caches and writes.

    ``suppressions``: the mode of :func:`detector.history.suppressions_in_force`;
    ``known_by``: ignore suppressions created after this time (a verify recomputing a run).
    """

    def __init__(
        self,
        store: Store,
        cfg: Config,
        roster: pd.DataFrame | None,
        run_id: int,
        *,
        suppressions: str = "as-of",
        known_by: str | None = None,
    ) -> None:
        self.store = store
        self.suppression_mode = suppressions
        self.known_by = known_by
        self._suppressions = store.suppressions()
        self._decisions = store.decisions()
        self.cfg = cfg
        self.roster = roster
        self.run_id = run_id
        self.timezones = dict(zip(roster[s.AGENT_ID], roster[s.TIMEZONE])) if roster is not None and s.TIMEZONE in roster else {}
        # the agent-days, model inputs and scores kept at hand (loaded on the first day scored)
        self._history = pd.DataFrame()
        self._inputs = pd.DataFrame()
        self._scores = pd.DataFrame()
        self._touched: list[Touched] = []
        # the last day scored, added to the three above when the next day needs them
        self._pending: tuple[str, pd.DataFrame, pd.DataFrame, pd.DataFrame] | None = None
        self.history_read: list = []  # (day, run_id) of the stored days read as history
        self.team_of = dict(zip(roster[s.AGENT_ID], roster[s.TEAM])) if roster is not None and s.TEAM in roster else {}
        self._loaded_before: str | None = None
        self._told_short_history = False

    def _load(self, view: DayView) -> None:
        day = view.day
        self._history = self.store.agent_days(view.span_first, day, columns=HISTORY_COLUMNS)
        _, self._inputs = self.store.model_inputs(view.train_first, day)
        self._scores = self.store.scores(view.span_first, shift_day(day, -1))[[DAY, s.AGENT_ID, "score", "flagged"]]
        self._touched = self.store.touched(view.novelty_first, day)
        self._pending = None  # written before: read back with the rest
        self.history_read = sorted(set(map(tuple, self.history_read)) | set(self.store.day_runs(view.first_read, day)))
        self._loaded_before = day

    def _window(self, view: DayView) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
        """The agent-days, training inputs and scores ``view.day`` sees."""
        day = view.day
        if self._loaded_before is None or day < self._loaded_before:
            self._load(view)
        else:
            self._fold()
        hist = self._history[(self._history[DAY] >= view.span_first) & (self._history[DAY] < day)]
        scores = self._scores[self._scores[DAY] < day]
        return hist, training_inputs(self._inputs, scores, day, self.cfg.model), scores

    def score(self, day: str, source: DayEvents | QueryDay) -> NightSummary:
        """Count the day's events (de-duplicated), score and store them.

        ``source``: the day's events spilled by this process, counted batch by batch by the
        configured engine (memory holds one batch of events at a time plus the day's partial
        aggregates; the events are read a second time only for the flagged agents'
        evidence), or a query engine's day (:class:`QueryDay`), counted where the logs are."""
        counted, evidence = source.count(self.timezones) if isinstance(source, QueryDay) else self._count_spilled(day, source)
        night = self.score_agent_days(day, counted.agent_days, counted.touched, events=counted.events, evidence=evidence)
        night.duplicates = counted.duplicates
        night.conflicting_ids, night.conflicting_rows, night.conflict_agents = counted.conflicting_ids, counted.conflicting_rows, counted.conflict_agents
        return night

    def _count_spilled(self, day: str, source: DayEvents) -> tuple[DayCount, Callable[[set[str]], pd.DataFrame]]:
        dedup = Deduplicator()
        agg = day_aggregator(self.cfg.engine, day, self.timezones)
        masks: list[np.ndarray] = []
        for batch in source.batches():
            keep = dedup.keep(batch)
            masks.append(np.packbits(keep))
            agg.add(batch[keep] if not keep.all() else batch)
        duplicates, n_events = dedup.dropped, agg.events
        conflicts = (dedup.conflicting_ids, dedup.conflicting_rows, dedup.conflict_agents)
        del dedup  # its event hashes are not needed for scoring
        agent_days, day_touched = agg.finish()
        del agg  # nor the partial aggregates, once counted

        def evidence(agents: set[str]) -> pd.DataFrame:
            parts = []
            for batch, packed in zip(source.batches(), masks):
                keep = np.unpackbits(packed, count=len(batch)).astype(bool)
                rows = batch[keep]
                parts.append(rows[rows[s.AGENT_ID].isin(agents)])
            return pd.concat(parts, ignore_index=True) if parts else s.empty_events()

        return DayCount(agent_days, day_touched, n_events, duplicates, *conflicts), evidence

    def score_agent_days(
        self,
        day: str,
        agent_days: pd.DataFrame,
        day_touched: Touched | None = None,
        *,
        events: int = 0,
        evidence: Callable[[set[str]], pd.DataFrame] | None = None,
    ) -> NightSummary:
        """Score a day already aggregated. ``day_touched`` (the day's touched sets) gives the
        first-time-seen counts; ``events`` is the number of events behind the agent-days;
        ``evidence`` returns the day's events of the given agents (the flagged ones)."""
        view = day_view(day, self.cfg)
        history, inputs, recent = self._window(view)
        earlier = [t for t in self._touched if view.novelty_first <= t.day < day]
        counts = novelty_counts(day_touched, earlier, self.team_of)
        # the counts joined on (a left join, added as new columns: the day's agent-days are not copied)
        agent_days = agent_days.drop(columns=[c for c in counts.columns[1:] if c in agent_days])
        at = pd.Index(counts[s.AGENT_ID]).get_indexer(agent_days[s.AGENT_ID])
        for c in counts.columns[1:]:
            agent_days[c] = np.where(at >= 0, counts[c].to_numpy("int64", na_value=0)[np.maximum(at, 0)], 0) if len(counts) else np.zeros(len(agent_days), np.int64)
        if agent_days.empty:
            log.warning(
                "%s: no events of this day in the inputs: nothing scored (the day is recorded as empty; if the day's logs were not there yet, rerun when they are: the run replaces it)",
                day,
            )
        history_days = int(history[DAY].nunique()) if len(history) else 0
        needed = self.cfg.features.window + self.cfg.features.lag
        # really short: the store's history begins inside the window (days without logs, a
        # weekend, inside a long history are not a short history)
        window_first = shift_day(day, -needed)
        short = history_days < needed and (not len(history) or str(history[DAY].min()) > shift_day(window_first, SHORT_SLACK_DAYS))
        if short and not self._told_short_history and not agent_days.empty:
            self._told_short_history = True
            log.info(
                "%s: the store holds %d day(s) of history in the %d days before this day that baselines and "
                "training draw on; until it does, agents with fewer than %d active days are compared with their peers only",
                day,
                history_days,
                needed,
                self.cfg.features.min_history,
            )
        result = score_day(day, agent_days, history, inputs, config=self.cfg, roster=self.roster, recent_scores=recent, suppressed=self.suppressed_on(day), open_cases=self.open_cases_on(day))
        if result.peer_mode and not agent_days.empty:
            log.info("%s: too little stored history to train on (%d rows): the model was fit on this day's agents (peer comparison)", day, len(inputs))
        evidence_rows = self._evidence(result, evidence)
        if self.timezones:  # the agents' local time, for whoever reads their accesses later
            result.scored[s.TIMEZONE] = result.scored[s.AGENT_ID].map(self.timezones)
        self.store.write_day(
            self.run_id,
            DayResults(
                day=day,
                agent_days=agent_days,
                inputs=result.inputs,
                scores=result.scored,
                alerts=result.alerts,
                evidence=evidence_rows,
                events=events,
                peer_mode=result.peer_mode,
                touched=day_touched,
            ),
        )
        self._remember(day, agent_days, result, day_touched)
        alerts = pd.DataFrame([a.as_record() for a in result.alerts], columns=list(ALERT_FIELDS))
        if len(alerts):
            alerts.insert(0, DAY, day)
        return NightSummary(day, len(agent_days), events, alerts, result.peer_mode, history_days, scored_agents=agent_days[s.AGENT_ID].tolist())

    def open_cases_on(self, day: str) -> set[str]:
        """The agents whose case is open on ``day`` (:func:`detector.cases.open_agents`), from
        the stored alerts of the days before it and the decisions made by the time of the run
        (``known_by``: a verify recomputing a run sees the decisions it could see)."""
        decisions = self._decisions
        if self.known_by is not None and len(decisions):
            decisions = decisions[decisions["decided_at"].astype(str) <= self.known_by]
        return open_agents(self.store.alerts(last=shift_day(day, -1)), decisions, day)

    def late_suppressions(self, day: str, agents: set[str]) -> dict[int, tuple[str, str]]:
        """id -> (agent, created_at) of the suppressions that would cover one of ``agents`` on
        ``day`` but were created after it, so the as-of rule did not apply them (none in
        "current" mode, nor for a verify, which applies what its run could)."""
        frame = self._suppressions
        if self.suppression_mode != "as-of" or self.known_by is not None or frame is None or frame.empty:
            return {}
        late = frame[(frame["until"] >= day) & (frame["created_at"].str[:10] > day) & frame[s.AGENT_ID].isin(agents)]
        return {int(r["id"]): (str(r[s.AGENT_ID]), str(r["created_at"])) for r in late.to_dict("records")}

    def suppressed_on(self, day: str) -> dict[str, list[tuple[int, str | None]]]:
        """The suppressions in force on ``day`` (:func:`detector.history.suppressions_in_force`)."""
        return suppressions_in_force(self._suppressions, day, mode=self.suppression_mode, known_by=self.known_by)

    def _evidence(self, result: ScoredDay, evidence: Callable[[set[str]], pd.DataFrame] | None) -> pd.DataFrame:
        """Each alert's evidence: its agents' accesses of the day, the first ``evidence_limit``."""
        wanted = {agent for alert in result.alerts for agent in alert.agents}
        events = evidence(wanted) if evidence is not None and wanted else s.empty_events()
        parts = []
        for alert in result.alerts:
            rows = events[events[s.AGENT_ID].isin(alert.agents)].sort_values(s.TIMESTAMP, kind="stable").head(self.cfg.evidence_limit)
            parts.append(rows.assign(alert_key=alert.alert_key))
        return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["alert_key", *s.EVENT_COLUMNS])

    def _remember(self, day: str, agent_days: pd.DataFrame, result: ScoredDay, day_touched: Touched | None) -> None:
        novelty_first = shift_day(day, 1 - self.cfg.features.novelty_window)
        self._touched = [t for t in self._touched if novelty_first <= t.day < day] + ([day_touched] if day_touched is not None else [])
        # kept as they are until the next day asks (:meth:`_fold`): a nightly run's only day
        # is never copied into the history at hand
        self._pending = (day, agent_days, result.inputs, result.scored)
        self._loaded_before = shift_day(day, 1)

    def _fold(self) -> None:
        """Add the last day scored to the agent-days, model inputs and scores at hand,
        dropping what has left the span the next days read."""
        if self._pending is None:
            return
        day, agent_days, inputs, scored = self._pending
        self._pending = None
        span_start = shift_day(day, -span_days(self.cfg))
        kept = self._history[self._history[DAY] >= span_start]
        self._history = pd.concat([kept, agent_days[[DAY, s.AGENT_ID, *HISTORY_COLUMNS]]], ignore_index=True)
        inputs = as_stored(inputs).assign(**{DAY: day})  # what a nightly run would read back
        keep = self._inputs[self._inputs[DAY] >= span_start] if len(self._inputs) else None
        self._inputs = pd.concat([keep, inputs], ignore_index=True) if keep is not None and len(keep) else inputs
        scores = scored[[s.AGENT_ID, "score", "flagged"]].assign(**{DAY: day})
        self._scores = pd.concat([self._scores[self._scores[DAY] >= span_start], scores], ignore_index=True)


def _lock(store: Store, run_id: int, day_list: list[str], cfg: Config, ingest: IngestSummary) -> None:
    """Take the days for this run; if another run is scoring one, record this run as
    refused (nothing else written) and raise."""
    try:
        store.lock_days(run_id, day_list)
    except StoreBusy as exc:
        store.finish_run(run_id, status="refused", manifest=_manifest(cfg, ingest, {}), message=str(exc))
        raise


#: a scored day whose set-aside events reach this share of the events it was scored with is
#: held again by the inputs (a file of several days), not a handful of late arrivals
AGAIN_SHARE = 0.9


_LATE = "%d late event(s) of %s, a day already scored, were set aside: to include them run `insiderwatch rescore --date %s --events ...` with all of that day's files"
_AGAIN = (
    "%d event(s) of %d day(s) already scored (%s) were set aside: the inputs hold those days again; "
    "if late events arrived for one of them, rescore it with all its files (`insiderwatch rescore --date D --events ...`)"
)
_LATER = "%d event(s) dated %s, after the night scored (%s), were set aside: future timestamps, a clock out of step, or files of later days (score those with their own nightly run, or a replay)"


def tell_set_aside(store: Store, ingest: IngestSummary, day: str) -> None:
    """Say what the night's files held for other days, in a few lines: late events of days
    already scored (to rescore), days already scored held again (a file of several days),
    events dated after the night (clock skew, future timestamps, or later days' files)."""
    aside = sorted(ingest.set_aside_days.items())
    if not aside:
        return
    scored = set(store.scored_days())
    totals = store.day_events([d for d, _ in aside if d in scored])
    late: list[tuple[str, int]] = []
    again: list[tuple[str, int]] = []
    later: list[tuple[str, int]] = []
    other: list[tuple[str, int]] = []
    for d, n in aside:
        if d in scored:
            (again if n >= AGAIN_SHARE * totals.get(d, 0) else late).append((d, n))
        elif d > day:
            later.append((d, n))
        else:
            other.append((d, n))

    def span(days):
        return days[0][0] if len(days) == 1 else f"{days[0][0]} to {days[-1][0]}"

    for d, n in late:
        log.warning(_LATE, n, d, d)
    if again:
        log.warning(_AGAIN, sum(n for _, n in again), len(again), span(again))
    if later:
        log.warning(_LATER, sum(n for _, n in later), span(later), day)
    if other:
        log.info("%d event(s) of %d earlier day(s) not scored (%s) were set aside", sum(n for _, n in other), len(other), span(other))


def _count_night(ingest: IngestSummary, night: NightSummary) -> None:
    ingest.duplicates += night.duplicates
    ingest.conflicting_ids += night.conflicting_ids
    ingest.conflicting_rows += night.conflicting_rows
    ingest.conflict_agents.update(night.conflict_agents)


#: agents named in the warning about conflicting event ids, and characters of each name
CONFLICT_AGENTS_NAMED = 5
_NAME_WIDTH = 40


def _short(name: str) -> str:
    return name if len(name) <= _NAME_WIDTH else name[: _NAME_WIDTH - 1] + "\u2026"


def tell_conflicts(ingest: IngestSummary) -> None:
    """One warning when rows shared an event id with different contents: kept as distinct
    events (an event id from the client must not hide rows), but a signal in itself."""
    if not ingest.conflicting_ids:
        return
    ranked = sorted(ingest.conflict_agents.items(), key=lambda kv: (-kv[1], kv[0]))
    named = ", ".join(f"{_short(a)} ({n:,} row(s))" for a, n in ranked[:CONFLICT_AGENTS_NAMED])
    more = f" and {len(ranked) - CONFLICT_AGENTS_NAMED:,} more agent(s)" if len(ranked) > CONFLICT_AGENTS_NAMED else ""
    log.warning(
        "%s event id(s) are carried by %s rows of different content (kept, each counted as an event; a reused or forged event id): rows of %s%s",
        f"{ingest.conflicting_ids:,}",
        f"{ingest.conflicting_rows:,}",
        named or "no agent named",
        more,
    )


class _DaysHeld:
    """Events per UTC day as a replay reads them, with each day's first and last timestamp:
    enough to name the days that stretch a replay."""

    def __init__(self) -> None:
        self.count: Counter[str] = Counter()
        self.first: dict[str, pd.Timestamp] = {}
        self.last: dict[str, pd.Timestamp] = {}

    def add(self, timestamps: pd.Series) -> None:
        if timestamps.empty:
            return
        ns = timestamps.to_numpy(dtype="datetime64[ns]")
        days, inverse, counts = np.unique(ns.astype("datetime64[D]"), return_inverse=True, return_counts=True)
        lo = np.full(len(days), np.iinfo(np.int64).max)
        hi = np.full(len(days), np.iinfo(np.int64).min)
        np.minimum.at(lo, inverse, ns.astype(np.int64))
        np.maximum.at(hi, inverse, ns.astype(np.int64))
        for day, n, a, b in zip(days, counts, lo, hi):
            d = str(day)
            self.count[d] += int(n)
            first, last = pd.Timestamp(int(a), tz="UTC"), pd.Timestamp(int(b), tz="UTC")
            self.first[d] = min(self.first.get(d, first), first)
            self.last[d] = max(self.last.get(d, last), last)

    def densest(self, width: int) -> tuple[str, str, int]:
        """The ``width`` consecutive days holding the most events: (first day, last day, events)."""
        days = sorted(self.count)
        ordinal = np.array([pd.Timestamp(d).toordinal() for d in days])
        counts = np.cumsum([0] + [self.count[d] for d in days])
        end = np.searchsorted(ordinal, ordinal + width, side="left")  # first day past each window
        totals = counts[end] - counts[np.arange(len(days))]
        i = int(np.argmax(totals))
        return days[i], days[end[i] - 1], int(totals[i])

    def _day(self, d: str) -> str:
        n = self.count[d]
        when = self.first[d].strftime("%Y-%m-%dT%H:%M:%SZ")
        if n > 1:
            when += " to " + self.last[d].strftime("%H:%M:%SZ")
        return f"{d} ({n:,} event{'s' if n > 1 else ''}, {when})"

    def too_wide(self, span: list[str], limit: int, days: DayRange) -> str:
        """Why a replay over ``span`` is refused, naming the days outside the densest window."""
        first, last, inside = self.densest(limit)
        before = [d for d in sorted(self.count) if d < first]
        after = [d for d in sorted(self.count) if d > last]
        shown = [*before[:OUTLYING_DAYS_NAMED], *after[-OUTLYING_DAYS_NAMED:]]
        left = len(before) + len(after) - len(shown)
        outside = sum(self.count[d] for d in before + after)
        ends = f"from --from {days.first}" if days.first else f"to --to {days.last}" if days.last else "from the first event to the last"
        text = f"a replay {ends} spans {len(span):,} days ({span[0]} to {span[-1]}), more than [sources] max_replay_days = {limit:,}"
        if shown:
            text += (
                f": {outside:,} event(s) on {len(before) + len(after):,} day(s) lie outside {first} to {last}, which holds {inside:,}: "
                + ", ".join(self._day(d) for d in shown)
                + (f" and {left:,} more day(s)" if left else "")
            )
        return text + f". Nothing was written. Replay a named range (e.g. --from {first} --to {last}), or raise max_replay_days"


#: outlying days named on each side when a replay is refused as too wide
OUTLYING_DAYS_NAMED = 3


def _read_files(events_spec: str | list[str], cfg: Config, lo: pd.Timestamp | None, hi: pd.Timestamp | None, named: bool, tmp: Path, show_progress: bool) -> tuple[IngestSummary, _DaysHeld, Spill]:
    """Read the input files in this process: the selected days' events spilled per day
    (:class:`~pipelines.spill.Spill`), the rest counted as set aside."""
    spill = Spill(tmp)
    held = _DaysHeld()

    def route(batch: pd.DataFrame) -> pd.DataFrame:
        inside = np.ones(len(batch), bool)
        if lo is not None:
            inside &= (batch[s.TIMESTAMP] >= lo).to_numpy()
        if hi is not None:
            inside &= (batch[s.TIMESTAMP] < hi).to_numpy()
        spill.write(batch[inside])
        if not named:
            held.add(batch.loc[inside, s.TIMESTAMP])
        return batch[~inside]

    return read_inputs(events_spec, cfg, route=route, show_progress=show_progress), held, spill


def _read_query(source, cfg: Config, lo: pd.Timestamp | None, hi: pd.Timestamp | None, named: bool, show_progress: bool) -> tuple[IngestSummary, _DaysHeld, Callable[[str], QueryDay]]:
    """Have a query engine read and check its source: the counts per reason, per file and
    per day, and a sample of the rejected rows, come back (the events stay there)."""
    with progress_bar(f"reading ({source.engine})", total=len(getattr(source, "paths", [])) or None, unit="files", disable=not show_progress) as bar:
        table = source.checked(cfg.sources.reader_mapping(), lo, hi, progress=lambda _: bar.update(1))
    if not source.local_files:
        # parsed and checked once, then held by the engine (Spark's cache, a warehouse's
        # temporary table): each count then reads the checked rows, and a warehouse plans
        # the checks once
        table = source.hold(table)
    with progress_bar(f"checking ({source.engine})", total=None, unit="rows", disable=not show_progress) as bar:
        # every rejected row of files is kept (up to what a run keeps); a table's are sampled
        acc = account(table, source=source.name, keep=MAX_REJECTS_KEPT if source.local_files else REJECTS_SAMPLE)
        bar.update(acc.rows_read)
    summary = IngestSummary(rows_read=acc.rows_read, rows_rejected=acc.rows_rejected)
    summary.rows_accepted = summary.rows_read - summary.rows_rejected
    summary.reasons.update({r: n for r, n in acc.reasons.items() if r is not None})
    summary.rejects = acc.rejects
    # files read by DuckDB are named with their digests, as this process's reading names
    # them (verify finds them by digest); a lake's paths or a table are named as given
    summary.source = None if source.local_files else source.spec
    known = {f.path: f for f in source.files}
    for path, counts in sorted(acc.files.items()):
        f = known.get(path, source.files[0])
        size, digest = (f.size_bytes, f.sha256) if path in known else (None, None)
        stats = FileStats(path=path, format=f.format, size_bytes=size, sha256=digest, rows_read=counts["read"], rows_accepted=counts["accepted"], rows_rejected=counts["rejected"])  # type: ignore[arg-type]
        read_here = getattr(source, "stats", {}).get(path)
        if read_here is not None:  # read by the reference reader: its own statistics (CSV lines)
            stats = read_here
        summary.files.append(stats)
    held = _DaysHeld()
    lo_day = lo.strftime("%Y-%m-%d") if lo is not None else None
    hi_day = hi.strftime("%Y-%m-%d") if hi is not None else None
    for day, (n_day, first, last) in sorted(acc.days.items()):
        if (lo_day is not None and day < lo_day) or (hi_day is not None and day >= hi_day):
            summary.rows_set_aside += n_day
            summary.set_aside_days[day] += n_day
        else:
            held.count[day] += n_day
            held.first[day] = pd.Timestamp(first * 1000, tz="UTC")
            held.last[day] = pd.Timestamp(last * 1000, tz="UTC")
    day_engine = source.day_engine()  # one for every day: its compiled statements are kept
    return summary, held, lambda day: QueryDay(day, table, day_engine)


class EngineError(InsiderwatchError):
    """The engine could not finish the run within its configured limits (exit 1)."""


#: run kinds that score exactly the one day they are given (a rescore is the nightly run of
#: a day already scored, with all of its files)
NAMED_DAY_KINDS = ("nightly", "rescore")


@contextlib.contextmanager
def _engine_limits(cfg: Config) -> Iterator[None]:
    """DuckDB running out of its memory limit said as what it is, and what to change (the
    run is recorded failed, its days as they were), not as an internal error."""
    try:
        yield
    except Exception as exc:
        if cfg.engine.name != "duckdb":
            raise
        import duckdb

        if isinstance(exc, duckdb.OutOfMemoryException):
            raise EngineError(
                f"DuckDB ran out of memory within [engine] memory_limit = {cfg.engine.memory_limit!r}: raise it in the config (or lower [engine] threads); no day was left half-written"
            ) from exc
        raise


def run_days(
    cfg: Config,
    store: Store,
    events_spec: str | list[str],
    days: DayRange,
    *,
    kind: str,
    roster: pd.DataFrame | None,
    show_progress: bool = True,
    suppressions: str = "as-of",
    known_by: str | None = None,
    first_night: bool = False,
    no_roster: bool = False,
) -> RunSummary:
    """The one run path: read the inputs, set aside the events of the selected days (the
    rest is counted per day), take those days, score each in turn against only what came
    before it, store it, and finish the run with its manifest.

    ``kind`` "nightly" or "rescore" scores exactly ``days`` (one day, refused when its files hold
    none of its events); any other kind (replay) scores every day from ``days.first`` to
    ``days.last`` when both are given (empty days too: a named range has no holes), else
    the days that hold events (with one end given: every day from it to the files' other
    end), and refuses inputs holding no event in them, or, without both ends, events spread
    over more than ``[sources] max_replay_days`` (naming the outlying days). Nothing is
    written when an input is unusable.

    A run that would look complete but did not do its work is refused (exit 2, nothing
    written; :func:`refuse_silent_failures`): a nightly run on a store with no earlier
    days in reach (unless ``first_night``), and a run without a roster on a store whose
    earlier nights had one (unless ``no_roster``).
    """
    started = time.monotonic()
    named = kind in NAMED_DAY_KINDS
    if named and (days.first is None or days.first != days.last):
        raise UsageError("a nightly run scores one named day")
    if days.first:
        refuse_silent_failures(store, cfg, days.first, kind=kind, roster=roster, first_night=first_night, no_roster=no_roster)
    lo = pd.Timestamp(days.first, tz="UTC") if days.first else None
    hi = pd.Timestamp(days.last, tz="UTC") + pd.Timedelta(days=1) if days.last else None
    with _engine_limits(cfg), tempfile.TemporaryDirectory(prefix=f"insiderwatch-{kind}-") as tmp, contextlib.ExitStack() as stack:
        day_source: Callable[[str], DayEvents | QueryDay]
        if cfg.engine.name in QUERY_ENGINES:
            source = open_source(cfg.engine, [events_spec] if isinstance(events_spec, str) else list(events_spec), mapping=cfg.sources.reader_mapping(), tmp=Path(tmp))
            stack.callback(source.close)
            ingest, held, day_source = _read_query(source, cfg, lo, hi, named, show_progress)
            found = sorted(held.count)
        else:
            ingest, held, spill = _read_files(events_spec, cfg, lo, hi, named, Path(tmp), show_progress)
            found, day_source = spill.days(), spill.day
        if not named and not found:
            raise UsageError("no events fall in the requested days" if not days.empty else "the inputs hold no events")
        if named and days.first not in found:
            aside = ingest.set_aside_days
            other = sorted(aside)
            raise UsageError(
                f"the inputs hold no events of {days.first}: {ingest.rows_read:,} rows read = {ingest.rows_accepted:,} accepted + {ingest.rows_rejected:,} rejected"
                + (f", {sum(aside.values()):,} of other days ({other[0]} to {other[-1]})" if other else "")
                + "; nothing scored or stored: check --events and --date"
            )
        if named or (days.first and days.last):
            day_list = days_between(days.first or found[0], days.last or found[-1])  # a named range: every day
        else:
            span = days_between(days.first or found[0], days.last or found[-1])
            if len(span) > cfg.sources.max_replay_days:
                raise UsageError(held.too_wide(span, cfg.sources.max_replay_days, days))
            # the days that hold events (with one end named, every day from it, as a range)
            day_list = found if days.empty else span
        run_id = store.start_run(kind, config=cfg.to_dict(), detector_version=cfg.detector_version, day_from=day_list[0], day_to=day_list[-1])
        summary = RunSummary(run_id, kind, ingest)
        _lock(store, run_id, day_list, cfg, ingest)
        try:
            store.add_rejects(run_id, ingest.rejects)
            night = NightScorer(store, cfg, roster, run_id, suppressions=suppressions, known_by=known_by)
            with progress_bar("scoring", total=len(day_list), unit="days", disable=not show_progress or len(day_list) == 1) as bar:
                for d in day_list:
                    summary.replaced += store.day_runs(d, shift_day(d, 1))
                    summary.nights.append(night.score(d, day_source(d)))
                    _count_night(ingest, summary.nights[-1])
                    for sid, told in night.late_suppressions(d, set(summary.nights[-1].scored_agents)).items():
                        summary.not_applied.setdefault(sid, (told[0], told[1], []))[2].append(d)
                    bar.update(1)
        except BaseException as exc:
            store.finish_run(run_id, status="failed", manifest=_manifest(cfg, ingest, {}), message=f"{type(exc).__name__}: {exc}")
            raise
    summary.seconds = time.monotonic() - started
    tell_conflicts(ingest)
    history_read = night.history_read
    del night  # the history it kept for the next day: not needed to read the run back
    # a digest of every row the run wrote, read back from the store: verify names any change
    extra = {"seconds": round(summary.seconds, 3), "days": day_list, "suppressions": suppressions, "digests": run_digests(store, run_id)}
    store.finish_run(run_id, status="complete", manifest=_manifest(cfg, ingest, extra, roster, history_read))
    return summary


def refuse_silent_failures(store: Store, cfg: Config, first: str, *, kind: str, roster: pd.DataFrame | None, first_night: bool, no_roster: bool) -> None:
    """Exit 2 (a :class:`UsageError`) before anything is read or written when a run starting
    on ``first`` would end as a complete run without having done its work:

    - a nightly run against a store that holds no scored day in the windows the night
      reads (a mistyped --db, a store that lost its history): it would score without a
      baseline, say "No alerts" and exit 0, unless ``first_night`` says this is intended;
    - no roster, when the last stored night before ``first`` had one (every team would be
      "(none)"), unless ``no_roster`` says so."""
    held = store.scored_days() if store.exists() else []  # a new store is not created by asking
    earlier = [d for d in held if d < first]
    if kind == "nightly" and not first_night:
        reach = day_view(first, cfg).first_read
        if not any(d >= reach for d in earlier):
            what = f"holds {held[0]} to {held[-1]}, none of it" if held else "is empty"
            raise UsageError(
                f"the store {what} in the {len(days_between(reach, first)) - 1} days before {first} that a night compares with: "
                "check --db; pass --first-night if this is the first night of a new store"
            )
    if roster is None and not no_roster and earlier:
        last = store.scores(earlier[-1], earlier[-1])
        if len(last) and (last[s.TEAM] != s.UNKNOWN).any():
            raise UsageError(f"no --roster, but the store's last night before {first} ({earlier[-1]}) had one: pass it, or --no-roster if the roster is gone on purpose")


def run_nightly(
    cfg: Config,
    store: Store,
    events_spec: str | list[str],
    day: str,
    *,
    roster: pd.DataFrame | None,
    show_progress: bool = True,
    known_by: str | None = None,
    kind: str = "nightly",
    first_night: bool = False,
    no_roster: bool = False,
) -> RunSummary:
    """Score ``day`` from the events in ``events_spec`` (:func:`run_days`); events of other
    days are counted and set aside."""
    return run_days(cfg, store, events_spec, DayRange(day, day), kind=kind, roster=roster, show_progress=show_progress, known_by=known_by, first_night=first_night, no_roster=no_roster)


def run_replay(
    cfg: Config,
    store: Store,
    events_spec: str | list[str],
    first: str | None,
    last: str | None,
    *,
    roster: pd.DataFrame | None,
    show_progress: bool = True,
    suppressions: str = "as-of",
    known_by: str | None = None,
    no_roster: bool = False,
) -> RunSummary:
    """The nightly logic for each day from ``first`` to ``last`` in turn (default: every day
    in the files), each day seeing only what came before it (:func:`run_days`)."""
    if first and last and first > last:
        raise UsageError(f"--from {first} is after --to {last}")
    return run_days(cfg, store, events_spec, DayRange(first, last), kind="replay", roster=roster, show_progress=show_progress, suppressions=suppressions, known_by=known_by, no_roster=no_roster)
