"""What scoring day D sees: the one rule, called by the nightly scorer, ``explain`` and the
report alike.

No look-ahead: everything here reads days before D only (peer comparisons use D itself,
elsewhere). Each window is ``[first, before)`` in ``YYYY-MM-DD`` days:

- personal baselines: ``[D - lag - window, D - lag)``, less the agent's days that carried a
  sustained excess (stored ``accum__max`` at least ``freeze_above``) and those that scored at
  least ``baseline_skip_above`` (when set), so weeks of harvest do not become the agent's
  normal;
- accumulated evidence: ``[D - max(windows) - reference_days + 1, D]``, less the same
  sustained-excess days (:mod:`detector.evidence`);
- training: the model inputs of ``[D - train_days, D)``, less the alerted agent-days when
  ``exclude_alerted`` is set;
- first-time-seen counts: the touched sets of ``[D - novelty_window, D)``;
- recent scores (accumulated risk, known cases, the baseline skip): ``[D - span, D)``;
- suppressions: those in force on D, as of D or as of now.

Pure: frames in, frames out; no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import pandas as pd

from detector import schema as s
from detector.days import shift_day
from detector.evidence import frozen_days, span, without

if TYPE_CHECKING:
    from detector.config import Config
    from detector.features import FeatureSettings
    from detector.model import ModelSettings

#: the column that holds the day in agent-day, score and model-input frames
DAY = "day"
#: how replays apply suppressions: those created by the end of each replayed day (what the
#: nightly run knew then), or every one not expired by then (today's decisions on the past)
SUPPRESSION_MODES = ("as-of", "current")


@dataclass(frozen=True)
class DayView:
    """The windows day ``day`` reads, each as ``[first, before)``."""

    day: str
    baseline_first: str
    baseline_before: str
    train_first: str
    novelty_first: str
    #: the first day of agent-days and scores that scoring ``day`` keeps at hand: the
    #: baseline, training, accumulated-risk and re-alert windows, whichever is longest
    span_first: str

    @property
    def first_read(self) -> str:
        """The earliest day any window reads (the stored days a run records as its history)."""
        return min(self.span_first, self.train_first, self.novelty_first)


def span_days(cfg: Config) -> int:
    """Days of history kept at hand for scoring one day."""
    f = cfg.features
    return max(f.window + f.lag, span(f) - 1, cfg.model.train_days, cfg.alerts.accumulate_days, cfg.alerts.realert_days) + 1


def day_view(day: str, cfg: Config) -> DayView:
    """The windows of ``day`` under ``cfg``."""
    first, before = baseline_window(day, cfg.features)
    return DayView(
        day=day,
        baseline_first=first,
        baseline_before=before,
        train_first=shift_day(day, -cfg.model.train_days),
        novelty_first=shift_day(day, -cfg.features.novelty_window),
        span_first=shift_day(day, -span_days(cfg)),
    )


def baseline_window(day: str, settings: FeatureSettings) -> tuple[str, str]:
    """``[first, before)`` of the personal baselines of ``day``: ``window`` days ending
    ``lag`` days before it, so a ramp of a few days cannot pull its own baseline up."""
    return shift_day(day, -(settings.lag + settings.window)), shift_day(day, -settings.lag)


def skip_high_days(history: pd.DataFrame, scores: pd.DataFrame | None, settings: FeatureSettings) -> pd.DataFrame:
    """``history`` less each agent's days whose stored score reached
    ``settings.baseline_skip_above`` (when set): those days may not form a baseline."""
    if settings.baseline_skip_above <= 0 or scores is None or not len(scores) or not len(history):
        return history
    high = scores.loc[scores["score"].to_numpy(float) >= settings.baseline_skip_above, [DAY, s.AGENT_ID]]
    if not len(high):
        return history
    hit = pd.MultiIndex.from_frame(history[[DAY, s.AGENT_ID]]).isin(pd.MultiIndex.from_frame(high))
    return history[~hit]


def personal_baseline(
    history: pd.DataFrame,
    scores: pd.DataFrame | None,
    day: str,
    settings: FeatureSettings,
    frozen: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """The agent-days that form the personal baselines of ``day``: those of ``history`` in
    the baseline window, less the high-scoring days skipped (:func:`skip_high_days`) and the
    days of a sustained excess (``frozen``: :func:`detector.evidence.frozen_days`).

    ``scores``: stored scores (``day``, ``agent_id``, ``score``) of at least the window."""
    if not len(history):
        return history
    first, before = baseline_window(day, settings)
    in_window = history[(history[DAY] >= first) & (history[DAY] < before)]
    return skip_high_days(without(in_window, frozen), scores, settings)


def has_baseline(active_days: int, settings: FeatureSettings) -> bool:
    """Whether an agent with ``active_days`` baseline days is compared with their own past
    (with fewer, only with peers: a new hire leans on peers)."""
    return active_days >= settings.min_history


def training_inputs(inputs: pd.DataFrame, scores: pd.DataFrame | None, day: str, settings: ModelSettings) -> pd.DataFrame:
    """The stored model inputs ``day`` trains on: ``[day - train_days, day)``, less the
    agent-days alerted on when ``settings.exclude_alerted`` (so an ongoing harvest does not
    become normal). ``scores``: stored scores with ``flagged``."""
    if not len(inputs):
        return inputs
    first = shift_day(day, -settings.train_days)
    out = inputs[(inputs[DAY] >= first) & (inputs[DAY] < day)]
    if settings.exclude_alerted and len(out) and scores is not None and len(scores):
        earlier = scores[scores[DAY] < day]
        alerted = earlier.loc[earlier["flagged"].astype(bool), [DAY, s.AGENT_ID]]
        if len(alerted):
            hit = pd.MultiIndex.from_frame(out[[DAY, s.AGENT_ID]]).isin(pd.MultiIndex.from_frame(alerted))
            out = out[~hit]
    return out


def frozen_for(inputs: pd.DataFrame | None, scores: pd.DataFrame | None, day: str, cfg: Config) -> pd.DataFrame | None:
    """The agent-days kept out of ``day``'s baselines and references for a sustained excess:
    those of the training window (:func:`training_inputs`) whose stored ``accum__max``
    reached ``features.freeze_above`` (:func:`detector.evidence.frozen_days`). ``inputs``:
    stored model inputs of at least that window."""
    if inputs is None or not len(inputs):
        return None
    return frozen_days(training_inputs(inputs, scores, day, cfg.model), cfg.features)


def suppressions_in_force(suppressions: pd.DataFrame, day: str, *, mode: str = "as-of", known_by: str | None = None) -> dict[str, list[tuple[int, str | None]]]:
    """agent_id -> [(suppression id, pattern or None)] of the suppressions covering ``day``.

    ``mode`` "as-of": those created by the end of ``day`` (what the nightly run knew then:
    an honest replay); "current": every one not expired by then, including later ones.
    ``known_by``: a timestamp (as stored in ``created_at``); suppressions created after it
    are ignored, so recomputing a run later applies what the run could apply.
    """
    if suppressions is None or suppressions.empty:
        return {}
    if mode not in SUPPRESSION_MODES:
        raise ValueError(f"unknown suppression mode {mode!r}")
    active = suppressions["until"] >= day
    if mode == "as-of":
        active &= suppressions["created_at"].str[:10] <= day
    if known_by is not None:
        active &= suppressions["created_at"] <= known_by
    out: dict[str, list[tuple[int, str | None]]] = {}
    for r in suppressions[active].sort_values("id").to_dict("records"):
        pattern = r.get("pattern")
        out.setdefault(r[s.AGENT_ID], []).append((int(r["id"]), pattern if isinstance(pattern, str) and pattern else None))
    return out
