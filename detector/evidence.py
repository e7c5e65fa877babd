"""Evidence that accumulates over days: an agent's excess over their own normal, summed over
their last few working days and judged as one signal.

Why. A drip of 15 extra records a day stands out on no single day; over a week it is a
hundred records, over a month the scale of the 2025 case. And a harvest judged against the
agent's recent median becomes that median within weeks.

How. For each harvesting metric and each window of the last ``w`` calendar days (today
included; ``settings.windows``, 3, 7 and 14 by default), the agent's active days in the
window are compared with their own active days in the ``settings.reference_days`` (28) days
just before it, in records:

- the reference gives a rate: per day for a volume; for a composition measure (ids,
  addresses, views without a ticket...) per view of the day's own volume, so a busy but
  ordinary week moves nothing. Five days at the rate of the agent's role are added to it,
  so that six days without a rare record kind are not a rate of zero;
- the window's expected records are that rate over the window's active days (and volumes);
  each day's excess is divided by the spread a day of that size has: counting noise times
  how much more the agent's own days vary around their rate (at least 1). The window's z
  sums those over its days *less its largest day*, over the square root of their number:
  a steady excess grows with the days, while one loud day (the single-day features' to
  judge) adds nothing and does not linger in two weeks of windows;
- the window with the largest z is the metric's evidence, kept with its size in records:
  "over the last 12 days, 190 more identity document views than their own normal".

Besides the metrics, views without a ticket and views unrelated to the ticket used are also
accumulated together (:data:`DERIVED`): a drip that hides half of its views under the
agent's own tickets splits across the two.

The reference lies just before the window, so a harvest no longer than the window cannot
move it. Days that already carried a sustained excess (:func:`frozen_days`: a stored
``accum__max`` at or above ``settings.freeze_above``) are left out of every reference and of
the single-day baseline, so a harvest that goes on for weeks keeps being compared with the
quiet period before it (a frozen baseline), until fewer than ``min_history`` unfrozen days
remain in the reference (about four weeks): then a lasting change is the agent's new normal.

What the agent's team (or, in a small team, role) shows together over the window, a backlog
fortnight or a new queue, is taken out as for one day: the group's median window z, when
positive, is subtracted from each member's.

Pure: frames in, frames out. No I/O.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from detector import schema as s
from detector.days import shift_day

if TYPE_CHECKING:
    from detector.features import FeatureSettings

DAY = "day"
#: the summary columns :func:`accumulate` adds (besides one ``m__acc`` per metric)
SUMMARY = ("accum__max", "accum__metric", "accum__window", "accum__days", "accum__excess", "accum__expected", "accum__since")
PSEUDO_COUNT = 5.0
#: days at the role's rate added to every reference: an agent's own 0 in six days of a rare
#: record kind is not a rate of 0
PRIOR_DAYS = 5.0
#: the largest day-to-day spread (variance over what counting gives) a reference may claim
MAX_DISPERSION = 25.0
#: derived measures accumulated besides the metrics: name -> (volume, parts, phrase)
DERIVED = {"unexplained_views": ("views", ("ticketless_views", "off_primary_views"), "views without a ticket or unrelated to the ticket used")}


def span(settings: FeatureSettings) -> int:
    """Calendar days (today included) that the windows and their references cover."""
    return max(settings.windows, default=0) + settings.reference_days


def min_active(window: int) -> int:
    """Active days a window needs to count: 2 of 3, 3 of 7, 5 of 14."""
    return max(2, (window + 2) // 3)


def frozen_days(inputs: pd.DataFrame | None, settings: FeatureSettings) -> pd.DataFrame | None:
    """(day, agent_id) of the stored agent-days that carried a sustained excess
    (``accum__max`` >= ``settings.freeze_above``): kept out of baselines and references.
    None when the setting is off or nothing is frozen."""
    if settings.freeze_above <= 0 or inputs is None or not len(inputs) or "accum__max" not in inputs:
        return None
    hit = inputs["accum__max"].to_numpy(float) >= settings.freeze_above
    return inputs.loc[hit, [DAY, s.AGENT_ID]] if hit.any() else None


def listed(frame: pd.DataFrame, frozen: pd.DataFrame) -> np.ndarray:
    """Per row of ``frame``, whether its (day, agent_id) is one of ``frozen``'s."""
    return np.asarray(pd.MultiIndex.from_frame(frame[[DAY, s.AGENT_ID]]).isin(pd.MultiIndex.from_frame(frozen[[DAY, s.AGENT_ID]])), bool)


def without(history: pd.DataFrame, frozen: pd.DataFrame | None) -> pd.DataFrame:
    """``history`` less the agent-days in ``frozen``."""
    if frozen is None or not len(frozen) or not len(history):
        return history
    hit = listed(history, frozen)
    return history[~hit] if hit.any() else history


def with_derived(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with the :data:`DERIVED` measures added (the sums of their parts)."""
    if all(name in frame for name in DERIVED) or not all(p in frame for _, parts, _ in DERIVED.values() for p in parts):
        return frame
    out = frame.copy(deep=False)
    for name, (_, parts, _) in DERIVED.items():
        out[name] = sum((out[p].to_numpy(float) for p in parts), np.zeros(len(out)))
    return out


def accumulate(
    history: pd.DataFrame,
    today: pd.DataFrame,
    *,
    day: str,
    metrics: dict[str, str | None],
    groups: np.ndarray,
    settings: FeatureSettings,
    summarise: tuple[str, ...] = (),
    frozen: pd.DataFrame | None = None,
    roles: np.ndarray | None = None,
) -> pd.DataFrame:
    """The accumulated evidence of every agent of ``today``, in its row order.

    Parameters
    ----------
    history : agent-days before ``day`` (at least :func:`span` days of them)
    today : the day's agent-days, one row per agent, with every metric of ``metrics``
    metrics : metric -> the volume it is a share of (None: a volume itself)
    groups : the group each of today's agents shares a rise with (team, or role)
    summarise : the metrics whose largest evidence makes ``accum__max`` (the harvesting ones)
    frozen : (day, agent_id) of the days left out of every reference (:func:`frozen_days`);
        they still count in the windows they fall in
    roles : each of today's agents' role, whose pooled rate is the prior a short or sparse
        reference leans on (default: ``groups``)

    Returns
    -------
    DataFrame
        ``m__acc`` per metric (the team-adjusted z of the metric's strongest window; NaN
        without enough reference or window days) and the :data:`SUMMARY` columns for the
        strongest of ``summarise``: its z (>= 0), metric ("" when none), window (calendar
        days), active days in it, records over and expected in those days, and the
        window's first day.
    """
    n = len(today)
    windows = tuple(sorted(settings.windows))
    K = span(settings)
    out: dict[str, np.ndarray] = {}
    agents = today[s.AGENT_ID].to_numpy()
    first = shift_day(day, -(K - 1))
    hist = history[(history[DAY] >= first) & (history[DAY] < day)] if len(history) else history
    code = pd.Index(agents).get_indexer(hist[s.AGENT_ID].to_numpy()) if len(hist) else np.zeros(0, np.int64)
    keep = code >= 0
    # only agents with a past get a matrix row: a night of a million new ids costs nothing here
    rows_of, row_code = np.unique(code[keep], return_inverse=True)
    n_h = len(rows_of)
    if n_h and windows:
        day_off = {d: (pd.Timestamp(day) - pd.Timestamp(d)).days for d in pd.unique(hist[DAY])}
        offset = hist[DAY].map(day_off).to_numpy(np.int64)[keep]
        hist_rows = np.flatnonzero(keep)

        # the frozen days' cells: out of every reference, still in the windows
        cold = np.zeros((n_h, K), bool)
        if frozen is not None and len(frozen):
            hit = listed(hist, frozen)[keep]
            cold[row_code[hit], offset[hit]] = True

    def matrix(col: str) -> np.ndarray:
        m = np.full((n_h, K), np.nan)
        m[row_code, offset] = hist[col].to_numpy(float)[hist_rows]
        m[:, 0] = today[col].to_numpy(float)[rows_of]
        return m

    def reference(m: np.ndarray, w: int) -> np.ndarray:
        ref = m[:, w : w + settings.reference_days]
        return np.where(cold[:, w : w + settings.reference_days], np.nan, ref)

    best_z = {m: np.full(n, np.nan) for m in metrics}
    best = {key: {m: np.full(n, np.nan) for m in metrics} for key in ("window", "days", "excess", "expected")}
    volumes: dict[str, np.ndarray] = {}
    group_codes = pd.factorize(pd.Series(np.asarray(groups, dtype=object)))[0] if n else np.zeros(0, np.int64)
    role_rows = pd.factorize(pd.Series(np.asarray(roles if roles is not None else groups, dtype=object)))[0][rows_of] if n else np.zeros(0, np.int64)

    def on_day(values: np.ndarray) -> np.ndarray:
        """Per agent of the day (NaN for those without a past) from per matrix row."""
        full = np.full(n, np.nan)
        full[rows_of] = values
        return full

    for m, part_of in metrics.items():
        if not n_h or not windows:
            continue
        X = matrix(m)
        D = None
        if part_of is not None:
            D = volumes.get(part_of)
            if D is None:
                D = volumes[part_of] = matrix(part_of)
        # the role's pooled rate over the span: the prior an agent's own short or sparse
        # reference is shrunk towards (what people doing this job usually show)
        units = np.where(np.isnan(X), np.nan, 1.0) if D is None else np.where(np.isnan(X), np.nan, np.maximum(D, 1.0))
        role_num = pd.Series(np.nansum(X[:, 1:], axis=1)).groupby(role_rows).transform("sum").to_numpy(float)
        role_den = pd.Series(np.nansum(units[:, 1:], axis=1)).groupby(role_rows).transform("sum").to_numpy(float)
        prior = np.where(role_den > 0, role_num / np.maximum(role_den, 1e-9), 0.0)
        for w in windows:
            R, F = X[:, :w], reference(X, w)
            UF, UR = reference(units, w), units[:, :w]
            n_r = np.sum(~np.isnan(R), axis=1)
            n_f = np.sum(~np.isnan(F), axis=1)
            # the rate per unit of volume (a volume: per day), own reference plus PRIOR_DAYS
            # days at the role's rate
            unit_day = np.nansum(UF, axis=1) / np.maximum(n_f, 1)
            rate = (np.nansum(F, axis=1) + prior * PRIOR_DAYS * unit_day) / np.maximum(np.nansum(UF, axis=1) + PRIOR_DAYS * unit_day, 1e-9)
            # day-to-day spread of the reference around that rate, as a multiple of what
            # counting alone gives (at least 1)
            fitted = rate[:, None] * UF
            with np.errstate(invalid="ignore", divide="ignore"):
                resid = np.nansum((F - fitted) ** 2, axis=1) / np.maximum(n_f - 1, 1)
                phi = np.clip(np.nan_to_num(resid / np.maximum(np.nansum(fitted, axis=1) / np.maximum(n_f, 1), 1.0), nan=1.0), 1.0, MAX_DISPERSION)
            expected = np.nansum(rate[:, None] * UR, axis=1)
            observed = np.nansum(R, axis=1)
            valid = (n_f >= settings.min_history) & (n_r >= min_active(w)) & np.isfinite(expected)
            # what the agent's group (team, or role) shows together over the window is not
            # theirs: its median ratio of observed to expected (at least 1: a quiet group
            # makes nobody's excess larger) scales each member's expectation
            ratio = on_day(np.where(valid, (observed + PSEUDO_COUNT) / (expected + PSEUDO_COUNT), np.nan))
            shared = pd.Series(ratio).groupby(group_codes).transform("median").to_numpy(float)
            shared = np.clip(np.nan_to_num(shared, nan=1.0), 1.0, None)[rows_of]
            expected = expected * shared
            # each day's excess in units of its own spread; the window's z leaves out its
            # largest day, so that the evidence never rests on one day (a single loud day is
            # the single-day features' to judge, and stays out of two weeks of windows)
            day_expected = rate[:, None] * UR * shared[:, None]
            r = (R - day_expected) / np.sqrt(phi[:, None] * day_expected + 1.0)
            with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # rows without days: NaN
                z = (np.nansum(r, axis=1) - np.nanmax(r, axis=1)) / np.sqrt(np.maximum(n_r - 1, 1))
            z = on_day(np.where(valid, z, np.nan))
            better = np.isfinite(z) & ~(z <= best_z[m])  # larger, or the first valid one
            best_z[m] = np.where(better, z, best_z[m])
            for key, value in (("window", np.full(n, float(w))), ("days", on_day(n_r.astype(float))), ("excess", on_day(observed - expected)), ("expected", on_day(expected))):
                best[key][m] = np.where(better, value, best[key][m])
        out[f"{m}__acc"] = best_z[m]
    for m in metrics:
        out.setdefault(f"{m}__acc", best_z[m])

    names = [m for m in summarise if m in metrics]
    if names and n:
        stacked = np.column_stack([np.nan_to_num(out[f"{m}__acc"], nan=0.0).clip(min=0.0) for m in names])
        top = stacked.argmax(axis=1)
        value = stacked[np.arange(n), top]
        some = value > 0
        pick = {key: np.column_stack([best[key][m] for m in names])[np.arange(n), top] for key in best}
        window = np.where(some, pick["window"], 0).astype(np.int64)
        out["accum__max"] = value
        out["accum__metric"] = np.where(some, np.array(names, dtype=object)[top], "")
        out["accum__window"] = window
        out["accum__days"] = np.where(some, pick["days"], 0).astype(np.int64)
        out["accum__excess"] = np.where(some, pick["excess"], 0.0)
        out["accum__expected"] = np.where(some, pick["expected"], 0.0)
        since = {w: shift_day(day, -(w - 1)) for w in windows}
        out["accum__since"] = np.array([since.get(int(w), "") for w in window], dtype=object)
    else:
        out.update(
            accum__max=np.zeros(n),
            accum__metric=np.full(n, "", dtype=object),
            accum__window=np.zeros(n, np.int64),
            accum__days=np.zeros(n, np.int64),
            accum__excess=np.zeros(n),
            accum__expected=np.zeros(n),
            accum__since=np.full(n, "", dtype=object),
        )
    return pd.DataFrame(out, index=today.index)
