"""Reading a run's inputs: every row accounted for, rejects kept, rows outside the run's
days routed aside by the caller.

rows read = rows accepted + rows rejected, per file and in total; of the accepted rows, those
outside the days being scored are counted as set aside (never scored into the wrong day).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from detector import schema as s
from detector.config import Config
from detector.sources import FileStats, IngestReport, read_events
from pipelines.progress import progress_bar

#: rejected rows kept per run (all are counted; an input full of garbage must not fill the store)
MAX_REJECTS_KEPT = 100_000


@dataclass
class IngestSummary:
    files: list[FileStats] = field(default_factory=list)
    rows_read: int = 0
    rows_accepted: int = 0
    rows_rejected: int = 0
    rows_set_aside: int = 0
    set_aside_days: Counter = field(default_factory=Counter)  # UTC day -> events set aside
    duplicates: int = 0
    conflicting_ids: int = 0  # event ids carried by rows of different content (all kept)
    conflicting_rows: int = 0  # the rows carrying them
    conflict_agents: Counter = field(default_factory=Counter)  # agent -> such rows
    reasons: Counter = field(default_factory=Counter)
    rejects: pd.DataFrame = field(default_factory=s.empty_rejects)
    #: what a query engine read (``--events`` as given; a table's URL without its password)
    source: list[str] | None = None

    def as_dict(self) -> dict:
        return {
            "read": self.rows_read,
            "accepted": self.rows_accepted,
            "rejected": self.rows_rejected,
            "set_aside": self.rows_set_aside,
            "set_aside_days": dict(sorted(self.set_aside_days.items())),
            "duplicates": self.duplicates,
            "conflicting_event_ids": self.conflicting_ids,
            "conflicting_event_rows": self.conflicting_rows,
            "reject_reasons": dict(self.reasons.most_common()),
        }


def file_dict(stats: FileStats) -> dict:
    return {
        "path": str(stats.path),
        "format": stats.format,
        "size_bytes": stats.size_bytes,
        "sha256": stats.sha256,
        "rows_read": stats.rows_read,
        "rows_accepted": stats.rows_accepted,
        "rows_rejected": stats.rows_rejected,
    }


def read_inputs(
    spec,
    cfg: Config,
    *,
    route: Callable[[pd.DataFrame], pd.DataFrame],
    show_progress: bool = True,
) -> IngestSummary:
    """Read every input; hand each batch's accepted rows to ``route``, which keeps what it
    needs and returns the rows it sets aside. Raises InputError (nothing to write) when an
    input is unusable."""
    report = IngestReport()
    summary = IngestSummary()
    kept_rejects: list[pd.DataFrame] = []
    kept = 0
    with progress_bar("reading", total=None, unit="rows", disable=not show_progress) as bar:
        for batch in read_events(spec, mapping=cfg.sources.reader_mapping(), report=report):
            summary.rows_read += batch.rows_read
            summary.rows_accepted += len(batch.accepted)
            summary.rows_rejected += len(batch.rejects)
            if len(batch.rejects):
                summary.reasons.update(batch.rejects["reason"].astype(str))
                if kept < MAX_REJECTS_KEPT:
                    kept_rejects.append(batch.rejects.head(MAX_REJECTS_KEPT - kept))
                    kept += len(kept_rejects[-1])
            if len(batch.accepted):
                aside = route(batch.accepted)
                summary.rows_set_aside += len(aside)
                if len(aside):
                    days, counts = np.unique(aside[s.TIMESTAMP].to_numpy(dtype="datetime64[ns]").astype("datetime64[D]"), return_counts=True)
                    summary.set_aside_days.update({str(d): int(n) for d, n in zip(days, counts)})
            bar.update(batch.rows_read)
    summary.files = list(report.files)
    if kept_rejects:
        summary.rejects = pd.concat(kept_rejects, ignore_index=True)
    return summary
