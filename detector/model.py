"""Anomaly detectors with pyod's contract, a registry by name, score calibration and
faithful per-feature attribution.

Contract (pyod's): ``fit(X)`` returns self; ``decision_function(X)`` gives one score per row,
higher = more anomalous; seeded where the algorithm is random, so the same input gives the
same scores. Pure: arrays in, arrays out.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from detector.errors import UsageError
from detector.registry import Registry

#: name -> factory(seed, **params) building an unfitted pyod detector
DETECTORS: Registry[Callable] = Registry("model")
register = DETECTORS.register


@register("iforest")
def _iforest(seed: int, n_estimators: int = 200, max_samples=1024, max_features: float = 1.0):
    # Trees grown on 1,024 rows (not the usual 256) separate extreme agent-days from each
    # other as well as from the crowd: the nightly ranking is decided among the extremes.
    from pyod.models.iforest import IForest

    return IForest(n_estimators=n_estimators, max_samples=max_samples, max_features=max_features, random_state=seed, n_jobs=1)


@register("ecod")
def _ecod(seed: int):
    from pyod.models.ecod import ECOD

    return ECOD()


@register("copod")
def _copod(seed: int):
    from pyod.models.copod import COPOD

    return COPOD()


@register("hbos")
def _hbos(seed: int, n_bins: int = 20):
    from pyod.models.hbos import HBOS

    return HBOS(n_bins=n_bins)


@register("lof")
def _lof(seed: int, n_neighbors: int = 35):
    from pyod.models.lof import LOF

    return LOF(n_neighbors=n_neighbors, novelty=True) if _lof_takes_novelty() else LOF(n_neighbors=n_neighbors)


def _lof_takes_novelty() -> bool:
    import inspect

    from pyod.models.lof import LOF

    return "novelty" in inspect.signature(LOF.__init__).parameters


@dataclass(frozen=True)
class ModelSettings:
    """Which detector, its parameters and seed, and how much history it learns from.

    train_days : trailing days of agent-days the detector is fit on each night
    max_train_rows : cap on training rows (a seeded sample beyond it), for speed
    exclude_alerted : leave the agent-days alerted on out of the training window, so an
        ongoing harvest does not become what the model calls normal (and a desk where many
        harvest does not push everyone's calibrated score down)
    """

    name: str = "iforest"
    params: dict = field(default_factory=dict)
    seed: int = 0
    train_days: int = 28
    max_train_rows: int = 10_000
    exclude_alerted: bool = False


def make_detector(settings: ModelSettings):
    """An unfitted detector from the registry; a clear error for an unknown name or
    parameter."""
    factory = DETECTORS.lookup(settings.name)
    try:
        return factory(settings.seed, **settings.params)
    except TypeError as exc:
        raise UsageError(f"bad parameters for model {settings.name!r}: {exc}") from None


@dataclass
class FittedModel:
    """A fitted detector and the scores of its own training rows (for calibration)."""

    detector: Any  # a fitted pyod detector (fit / decision_function)
    train_scores: np.ndarray
    reference: np.ndarray  # per-feature median of the training rows: "nothing unusual"
    n_train: int

    def raw(self, X: np.ndarray) -> np.ndarray:
        return np.asarray(self.detector.decision_function(np.asarray(X, float)), float)

    def calibrated(self, raw: np.ndarray) -> np.ndarray:
        """-log10 of the share of training agent-days scoring at least as high: 2 means
        rarer than 1 in 100 of the days the model learned from, comparable across nights."""
        ordered = np.sort(self.train_scores)
        at_least = len(ordered) - np.searchsorted(ordered, raw, side="left")
        return -np.log10((at_least + 1.0) / (len(ordered) + 1.0))

    def attribute(self, X: np.ndarray) -> np.ndarray:
        """Per-feature contribution to each row's raw score: how much the score falls when
        that feature is set back to the reference (occlusion). Positive = made the row more
        anomalous. Faithful to the model whatever its internals (no sign guessing)."""
        X = np.asarray(X, float)
        n, k = X.shape
        if n == 0:
            return np.zeros((0, k))
        base = self.raw(X)
        probes = np.repeat(X, k, axis=0)
        cols = np.tile(np.arange(k), n)
        probes[np.arange(n * k), cols] = self.reference[cols]
        occluded = self.raw(probes).reshape(n, k)
        return base[:, None] - occluded


def fit(settings: ModelSettings, X_train: np.ndarray) -> FittedModel:
    """Fit the configured detector on ``X_train`` (rows = agent-days, seeded sampling
    beyond ``max_train_rows``)."""
    X_train = np.asarray(X_train, float)
    if len(X_train) > settings.max_train_rows:
        rng = np.random.default_rng(settings.seed)
        X_train = X_train[np.sort(rng.choice(len(X_train), settings.max_train_rows, replace=False))]
    detector = make_detector(settings)
    # fewer rows than a tree's sample size (a small desk's first nights): sample them all
    limit = getattr(detector, "max_samples", None)
    if isinstance(limit, int) and not isinstance(limit, bool) and limit > len(X_train):
        detector.max_samples = len(X_train)
    detector.fit(X_train)
    # pyod keeps the training rows' scores; score them ourselves only if a detector does not
    train_scores = getattr(detector, "decision_scores_", None)
    if train_scores is None or len(train_scores) != len(X_train):
        train_scores = detector.decision_function(X_train)
    train_scores = np.asarray(train_scores, float)
    return FittedModel(detector, train_scores, np.median(X_train, axis=0), len(X_train))
